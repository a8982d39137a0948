"""First start (issue 21 goal: every page that does not need the demo works within 15 s of ``streamlit run``).

Usage::

    python tests/benchmarks/bench_first_start.py [--pages N]

A fresh install as a new user has it: an empty data folder and an empty database folder (the app starts its
own ``mongod`` there), no demo. ``streamlit run dashboard/app.py`` is started and a headless Chromium opens,
each page that needs no demo as the first page a new user opens (a fresh install and server per page), timed
from the launch until its title is on screen and the page has finished running, without an exception; then
the default page, which starts the demo's background build and says so (the build is stopped before the
next launch). Anchor in the same run: ``python -c "import streamlit"``, the bare start-up cost of any
Streamlit app on this machine. Prints the machine's load.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import _isolated

sys.path.insert(0, str(_isolated.ROOT / "tests" / "dashboard"))
from test_browser import CHROMIUM, CHROMIUM_ARGS, serve_app  # noqa: E402

#: Pages that need no demo, by URL path, with the title they show.
PAGES = [("load_data", "Load data"), ("learning_curves", "Learning curves"), ("budget", "Budget planner"),
         ("active_learning", "Active learning"), ("synthetic_data", "Synthetic data")]
IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


def fresh_env(folder) -> dict:
    """A new user's environment: nothing in the data folder, an empty database folder, no database running."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("FIFTYONE_DATABASE_URI", "LABELDASH_DATABASE_DIR", "LABELDASH_DATABASE_OWN_URI",
                        "FIFTYONE_PRIVATE_DATABASE_PORT")}
    return dict(env, LABELDASH_HOME=str(folder / "home"), FIFTYONE_DATABASE_DIR=str(folder / "db"),
                FIFTYONE_DATABASE_NAME="first-start")


def stop_jobs(env: dict) -> None:
    """Stop the demo build the default page started: it outlives the app by design, and would load the machine."""
    subprocess.run([sys.executable, "-c", "from analysis.core import jobs\nfor key in jobs.keys(): jobs.cancel(key)"],
                   cwd=_isolated.ROOT, env=env, check=True)


def main(argv=None) -> int:
    from playwright.sync_api import sync_playwright

    from analysis.data import database

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=len(PAGES))
    args = parser.parse_args(argv)
    print(f"load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import streamlit"], check=True)
    anchor = time.perf_counter() - t
    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # each page as the first a new user opens: a fresh install and a fresh server per page
        for k, (path, title) in enumerate(PAGES[:args.pages]):
            folder = _isolated.TMP / f"first-start-{k}"
            launched = time.perf_counter()
            env = fresh_env(folder)
            proc, url = serve_app(env)
            answering = time.perf_counter() - launched
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{url}/{path}")
                page.get_by_role("heading", name=title).first.wait_for(timeout=120_000)
                page.wait_for_function(IDLE, timeout=120_000)
                assert page.locator('[data-testid="stException"]').count() == 0, f"{path} shows an exception"
                working = time.perf_counter() - launched
                page.goto(url)  # then the default page: it needs the demo and says how far its build is
                page.get_by_text("Building the demo dataset").first.wait_for(timeout=120_000)
                building = time.perf_counter() - launched
                page.close()
            finally:
                proc.terminate()
                proc.wait(timeout=30)
                stop_jobs(env)
                database.stop_local(folder / "db")
            results.append((title, answering, working, building))
            print(f"{title} opened first: server answering {answering:.1f} s after launch, the page working "
                  f"{working:.1f} s, then the default page says the demo is building at {building:.1f} s "
                  f"(load average {os.getloadavg()[0]:.2f})", flush=True)
        browser.close()
    print(f"anchor: python -c 'import streamlit' {anchor:.1f} s")
    worst = max(r[2] for r in results)
    print(f"slowest first page working {worst:.1f} s after launch, median "
          f"{sorted(r[2] for r in results)[len(results) // 2]:.1f} s; goal <= 15 s: "
          f"{'PASS' if worst <= 15 else 'FAIL'} (at the load printed); load average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
