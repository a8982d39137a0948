"""Faults through the real server: a killed app restarts usable with every acknowledged decision, and another
program's FiftyOne database is never used. The app here owns its database folder, as on a user's machine."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_error_fixture
from test_browser import CHROMIUM, browser, serve_app  # noqa: F401 (browser is a fixture)

from analysis.data import database

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


def _app_env(folder: Path, name: str) -> dict:
    """The environment of an app whose database is the folder ``folder`` (nothing started for it yet)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("FIFTYONE_DATABASE_URI", "LABELDASH_DATABASE_DIR", "LABELDASH_DATABASE_OWN_URI",
                         "FIFTYONE_PRIVATE_DATABASE_PORT")}
    return dict(env, FIFTYONE_DATABASE_DIR=str(folder), FIFTYONE_DATABASE_NAME=name)


def _cli(env: dict, *args) -> str:
    out = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_a_killed_app_restarts_usable_with_every_acknowledged_decision(browser, tmp_path):  # noqa: F811
    folder = (tmp_path / "db").resolve()
    env = _app_env(folder, "labeldash-crash")
    fx = write_error_fixture(tmp_path / "data")
    _cli(env, "analysis.datasets", "import-coco", "--name", "crash", "--images", str(fx["images_dir"]),
         "--annotations", str(fx["instances_json"]), "--predictions", str(fx["predictions_json"]))
    _cli(env, "analysis.label_errors_fo", "--dataset", "crash")
    proc, url = serve_app(env)
    try:
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(f"{url}/review?dataset=crash&reviewer=alice")
        page.locator(".st-key-rv_confirm button").first.wait_for(timeout=120_000)
        page.locator(".st-key-rv_confirm button").first.click()
        page.get_by_text("1 decision stored: confirmed").wait_for(timeout=30_000)
        os.kill(proc.pid, signal.SIGKILL)  # the moment the decision is acknowledged
        proc.wait(timeout=30)
        restarted = time.monotonic()
        proc, url = serve_app(env)  # restarted at once, same settings
        serving = time.monotonic()  # Streamlit's own start: seconds idle, more on a busy machine
        page.goto(f"{url}/review?dataset=crash&reviewer=alice")
        page.get_by_text("Review label errors: crash").wait_for(timeout=30_000)
        page.locator(".st-key-rv_confirm button").first.wait_for(timeout=30_000)
        ready = time.monotonic()
        print(f"restart: server answering after {serving - restarted:.1f} s, the page working {ready - serving:.1f} s "
              f"later (load average {os.getloadavg()[0]:.1f})")
        assert ready - serving <= 30, "the restarted app took more than 30 s to show the page"
        assert page.locator('[data-testid="stException"]').count() == 0
        page.close()
        _cli(env, "analysis.review", "export", "--dataset", "crash", "--decisions", str(tmp_path / "d.csv"))
        decisions = (tmp_path / "d.csv").read_text()
        assert decisions.count("confirmed") == 1 and "alice" in decisions
    finally:
        proc.kill()
        proc.wait(timeout=30)
        database.stop_local(folder)


def test_another_programs_fiftyone_database_is_not_used(browser, tmp_path):  # noqa: F811
    name = "fiftyone"  # the same database name in both: only the folder tells them apart
    other = _app_env((tmp_path / "other").resolve(), name)
    # another program on the machine, with FiftyOne's own database service and a dataset of its own
    script = ("import fiftyone as fo, sys\nfo.Dataset('other-team', persistent=True, overwrite=True)\n"
              "print('ready', flush=True)\nsys.stdin.read()\n")
    foreign = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=other, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    folder = (tmp_path / "app-db").resolve()
    env = _app_env(folder, name)
    proc = None
    try:
        assert foreign.stdout.readline().strip() == "ready"
        assert "other-team" not in _cli(env, "analysis.datasets", "list")
        proc, url = serve_app(env)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(f"{url}/load_data")
        page.get_by_text("Database", exact=True).first.click()  # the sidebar's Database section
        page.get_by_text(f"folder {folder}").first.wait_for(timeout=60_000)
        assert page.get_by_text("other-team").count() == 0
        page.close()
    finally:
        if proc:
            proc.kill()
            proc.wait(timeout=30)
        # its dataset lives in tmp_path and goes with it; a slow FiftyOne exit is not what this test checks
        foreign.stdin.close()
        try:
            foreign.wait(timeout=60)
        except subprocess.TimeoutExpired:
            foreign.kill()
            foreign.wait(timeout=30)
        database.stop_local(folder)
