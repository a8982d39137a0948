"""Benchmarks run against a private FiftyOne database and data folder, like the tests.

Import this module first (``import _isolated``): it sets the environment
before anything imports ``fiftyone``.
"""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
_TMP = tempfile.mkdtemp(prefix="labeldash-bench-")
os.environ.setdefault("FIFTYONE_DATABASE_DIR", os.path.join(_TMP, "db"))
os.environ.setdefault("LABELDASH_HOME", os.path.join(_TMP, "home"))
os.environ.pop("FIFTYONE_DATABASE_URI", None)
TMP = Path(_TMP)

import analysis  # noqa: E402,F401  (FiftyOne defaults, before anything imports fiftyone)
