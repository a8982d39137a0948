"""Real-browser smoke test: headless Debian Chromium drives the running app.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (``.ci/run``
installs them); Playwright is pointed at that binary because its own browser
download does not work offline.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from analysis.demo import dataset as demo

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (apt-get install chromium chromium-driver)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_app(env: dict | None = None):
    """Start ``streamlit run dashboard/app.py`` on a free port (with ``env``, default this process's environment);
    returns ``(process, url)`` once healthy."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
         "--server.headless", "true"],
        cwd=ROOT, env=env or dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail("streamlit did not start: " + proc.stdout.read().decode()[-2000:])


@pytest.fixture(scope="module")
def app_url():
    """The app served by a real ``streamlit run`` on a free port, with the fast demo built."""
    demo.ensure_demo(size="fast")
    proc, url = serve_app()
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_demo_overview_renders_images(app_url, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    page.get_by_text(f"Dataset overview: {demo.DEMO_NAME}").wait_for(timeout=90_000)
    page.get_by_text("Synthetic data: scenes composed from real handwritten MNIST digits").first.wait_for()
    images = page.locator('[data-testid="stImage"] img')
    images.first.wait_for(timeout=60_000)
    page.wait_for_function(
        """() => { const imgs = [...document.querySelectorAll('[data-testid="stImage"] img')];
                   return imgs.length >= 4 && imgs.every(i => i.complete && i.naturalWidth > 0); }""",
        timeout=60_000,
    )
    assert images.count() >= 4
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

    # The sidebar navigation reaches the import page.
    page.get_by_role("link", name="Load data").click()
    page.get_by_text("Imports are all-or-nothing").wait_for(timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_learning_curves_target_follows_new_points_in_the_browser(app_url, browser, tmp_path):
    """The target box shows the default of the points on screen: a browser keeps a widget's last value per key,
    which AppTest does not reproduce, and the stale target used to be sent to the planner."""
    rows = [(n, 0.95 - 2 * n ** -0.5) for n in (100, 200, 400, 800, 1600, 3200)]
    accuracy = tmp_path / "accuracy.csv"
    accuracy.write_text("model,n_labels,metric\n" + "".join(f"cnn,{n},{v:.4f}\n" for n, v in rows))
    error = tmp_path / "error.csv"
    error.write_text("model,n_labels,metric\n" + "".join(f"cnn,{n},{1 - v:.4f}\n" for n, v in rows))
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    page.get_by_role("link", name="Learning curves").click()
    page.get_by_text("Import a CSV").click()
    target = page.get_by_label("Target metric")

    def shows(expected):
        # until the rerun ends the replaced input stays on the page beside the new one
        page.wait_for_function(
            """expected => { const boxes = document.querySelectorAll('input[aria-label="Target metric"]');
                             return boxes.length === 1 && boxes[0].value === expected; }""",
            arg=expected, timeout=60_000)

    def upload(path, expected):
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path))
        shows(expected)

    upload(accuracy, f"{min(rows[-1][1] + 0.02, 0.99):.3f}")
    target.fill("0.950")
    target.press("Enter")
    page.get_by_text("target 0.95").first.wait_for(timeout=30_000)
    # the other direction: a new default (the lowest point less 0.02), and the name "error", not the typed 0.950
    page.get_by_text("Lower is better").click()
    lowest = round(rows[0][1], 4)
    shows(f"{max(lowest - 0.02, lowest / 2):.3f}")
    expect(page.get_by_label("Metric name")).to_have_value("error")
    best_error = round(1 - rows[-1][1], 4)
    upload(error, f"{max(best_error - 0.02, best_error / 2):.3f}")
    page.screenshot(path=str(tmp_path / "curves.png"), full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0
