"""Benchmarks run against a private FiftyOne database and data folder, like the tests.

Import this module first (``import _isolated``): it sets the environment
before anything imports ``fiftyone``.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _isolation import isolate  # noqa: E402

TMP = isolate("labeldash-bench-", keep_set_folders=True)

import analysis  # noqa: E402,F401  (FiftyOne defaults, before anything imports fiftyone)
