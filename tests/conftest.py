"""Test isolation: a private FiftyOne database and data folder per test session.

The environment is set before anything imports ``fiftyone`` (FiftyOne reads it
at import), so the tests start their own MongoDB in a temporary folder and never
see the user's datasets.
"""

import os
import tempfile

_ROOT = tempfile.mkdtemp(prefix="labeldash-tests-")
os.environ["FIFTYONE_DATABASE_DIR"] = os.path.join(_ROOT, "db")
os.environ["FIFTYONE_DATABASE_NAME"] = "labeldash-tests"
os.environ.pop("FIFTYONE_DATABASE_URI", None)
os.environ["LABELDASH_HOME"] = os.path.join(_ROOT, "home")
os.environ["FIFTYONE_DATABASE_VALIDATION"] = "false"
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
