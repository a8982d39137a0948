"""A private FiftyOne database and data folder for one test session or benchmark process.

Import and call :func:`isolate` before anything imports ``fiftyone`` (FiftyOne
reads the environment at import).

Why a database *name* of its own: FiftyOne attaches to any FiftyOne database
service (its MongoDB) already running on the machine, whatever its
``database_dir``, so a private folder alone does not isolate. A test run
started while the app, a benchmark or another test run is up would share
their MongoDB; with a name unique to this process it still never sees their
datasets, and they never see its. The database is dropped at exit.
"""

import atexit
import os
import sys
import tempfile
from pathlib import Path


def isolate(prefix: str, *, keep_set_folders: bool = False) -> Path:
    """Point FiftyOne and the app at a new temporary folder and a database of their own.

    Args:
        prefix: the temporary folder's name prefix.
        keep_set_folders: keep ``FIFTYONE_DATABASE_DIR`` / ``LABELDASH_HOME``
            when already set (benchmarks: reuse built cases between runs).

    Returns the temporary folder.
    """
    root = Path(tempfile.mkdtemp(prefix=prefix))
    set_folder = os.environ.setdefault if keep_set_folders else os.environ.__setitem__
    set_folder("FIFTYONE_DATABASE_DIR", str(root / "db"))
    set_folder("LABELDASH_HOME", str(root / "home"))
    name = f"labeldash-{root.name}"
    os.environ["FIFTYONE_DATABASE_NAME"] = name
    os.environ.pop("FIFTYONE_DATABASE_URI", None)
    for key in ("LABELDASH_DATABASE_DIR", "LABELDASH_DATABASE_OWN_URI"):  # the app's own mongod: a new one here
        os.environ.pop(key, None)
    os.environ["FIFTYONE_DATABASE_VALIDATION"] = "false"
    os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
    os.environ.setdefault("LABELDASH_DEMO_SIZE", "fast")  # what a page builds in the background: seconds, not minutes
    # at exit (last in, first out): drop the database, then stop the app's own mongod on the private folder
    atexit.register(_stop_database, Path(os.environ["FIFTYONE_DATABASE_DIR"]))
    atexit.register(_drop_database, name)
    # the app's own mongod on the private folder, started now: FiftyOne must never start (or attach to) its own
    # service in this process, which would be any FiftyOne service running on the machine
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from analysis.data import database

    database.prepare()
    return root


def _drop_database(name: str) -> None:
    if "fiftyone.core.odm.database" not in sys.modules:
        return  # never connected
    import fiftyone.core.odm.database as fod

    try:
        fod.get_db_client().drop_database(name)
    except Exception as e:  # at exit the service may already be gone; its folder is temporary anyway
        print(f"note: test database {name} not dropped ({type(e).__name__})", file=sys.stderr)


def _stop_database(folder: Path) -> None:
    if "analysis.core.jobs" in sys.modules:  # background jobs the run started must not outlive it
        jobs = sys.modules["analysis.core.jobs"]
        for key in jobs.keys():
            jobs.cancel(key)
    if "analysis.data.database" in sys.modules and not os.environ.get("LABELDASH_KEEP_DATABASE"):
        sys.modules["analysis.data.database"].stop_local(folder)
