"""Real browser: a reviewer confirms with the mouse, dismisses and undoes with the keyboard; reloads and a
killed server lose nothing."""

from pathlib import Path

import pytest
from conftest import build_error_dataset
from test_browser import CHROMIUM, browser, serve_app  # noqa: F401 (browser is a fixture)

from analysis.label_errors import fo_adapter
from analysis.review import store as review

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


def _open_review(browser, url):  # noqa: F811
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(f"{url}/review?dataset=review-browser&reviewer=alice")
    page.get_by_text("Review label errors: review-browser").wait_for(timeout=90_000)
    page.locator(".st-key-rv_confirm button").first.wait_for(timeout=60_000)
    return page


def _reviewed_metric(page):
    label = page.locator('[data-testid="stMetricLabel"]').get_by_text("Reviewed", exact=True)
    metric = page.locator('[data-testid="stMetric"]').filter(has=label)
    return metric.locator('[data-testid="stMetricValue"]').inner_text()


def test_mouse_and_keyboard_decisions_survive_reload_and_restart(browser, tmp_path):  # noqa: F811
    ds = build_error_dataset(tmp_path, "review-browser")
    proc, url = serve_app()
    try:
        page = _open_review(browser, url)
        first = fo_adapter.load_candidates(ds).iloc[0]

        # Mouse: the current card's Confirm button.
        page.locator(".st-key-rv_confirm button").first.click()
        page.get_by_text("1 decision stored: confirmed").wait_for(timeout=30_000)
        # Keyboard: N dismisses the next pending card (focus on the page, not in a text box).
        page.get_by_text("Review label errors: review-browser").click()
        page.keyboard.press("n")
        page.get_by_text("1 decision stored: dismissed").wait_for(timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        dismissed = review.decisions(ds).query("review_status == 'dismissed'")["label_id"].tolist()

        # U undoes that last decision (the card shown is already the next one) and brings it back on screen.
        page.get_by_text("Review label errors: review-browser").click()
        page.keyboard.press("u")
        page.get_by_text("Candidate brought back by Undo").wait_for(timeout=30_000)
        page.get_by_text("Status: pending").wait_for(timeout=30_000)
        assert set(review.decisions(ds)["review_status"]) == {"confirmed"}
        page.get_by_text("Review label errors: review-browser").click()
        page.keyboard.press("n")  # decided again, on the card that came back
        page.get_by_text("1 decision stored: dismissed").wait_for(timeout=30_000)
        assert review.decisions(ds).query("review_status == 'dismissed'")["label_id"].tolist() == dismissed

        stored = review.decisions(ds)
        assert sorted(stored["review_status"]) == ["confirmed", "dismissed"]
        assert set(stored["review_by"]) == {"alice"}
        assert stored.set_index("label_id").loc[first.label_id, "review_status"] == "confirmed"

        page.reload()
        page.get_by_text("Review label errors: review-browser").wait_for(timeout=90_000)
        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="stMetric"]')]
                     .some(m => m.innerText.startsWith('Reviewed') && m.innerText.includes('2'))""", timeout=30_000)
        assert _reviewed_metric(page) == "2"
        page.close()
    finally:
        proc.kill()  # a crash, not a clean shutdown
        proc.wait(timeout=30)

    proc, url = serve_app()
    try:
        page = _open_review(browser, url)
        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="stMetric"]')]
                     .some(m => m.innerText.startsWith('Reviewed') && m.innerText.includes('2'))""", timeout=30_000)
        assert _reviewed_metric(page) == "2"
        assert sorted(review.decisions(ds)["review_status"]) == ["confirmed", "dismissed"]
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
