"""The FiftyOne App launcher and the database-down path, with the real server and MongoDB."""

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from analysis.core.errors import InputError
from analysis.data import datasets, fiftyone_app, importers

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_launch_twice_reuses_the_server_and_shows_views(coco_fixture):
    importers.import_coco("app-ds", coco_fixture["images_dir"], coco_fixture["instances_json"])
    ds = datasets.load("app-ds")
    port = _free_port()
    session = fiftyone_app.launch("127.0.0.1", port)
    url = fiftyone_app.show(session, ds)
    assert url == f"http://127.0.0.1:{port}/"
    with urllib.request.urlopen(url + "fiftyone", timeout=10) as r:
        assert b"version" in r.read()
    # A second launch on the same port joins the running server instead of failing on "port in use".
    again = fiftyone_app.launch("127.0.0.1", port)
    view = ds.limit(2)
    assert fiftyone_app.show(again, view) == url
    assert again.view is not None and len(again.view) == 2
    assert again.dataset.name == "app-ds"
    ds.delete()


def test_port_held_by_another_program_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(InputError, match="used by another program"):
            fiftyone_app.launch("127.0.0.1", port)


def _env_with_unreachable_database():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env["FIFTYONE_DATABASE_URI"] = f"mongodb://127.0.0.1:{_free_port()}/?serverSelectionTimeoutMS=1000"
    return env


def test_cli_reports_a_database_that_is_down():
    proc = subprocess.run([sys.executable, "-m", "analysis.datasets", "list"], cwd=ROOT,
                          env=_env_with_unreachable_database(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "database is not available" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_app_reports_a_database_that_is_down():
    script = (
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file('dashboard/app.py', default_timeout=60).run()\n"
        "assert not at.exception, at.exception\n"
        "print('ERRORS:', ' | '.join(e.value for e in at.error))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=_env_with_unreachable_database(),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "database is not available" in proc.stdout
