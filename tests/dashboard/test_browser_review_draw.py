"""Real browser: a reviewer drags a box on the image of a low-IoU candidate, snaps it to the object, confirms with
Y, and the box is in FiftyOne."""

from pathlib import Path

import numpy as np
import pytest
from conftest import build_error_dataset
from PIL import Image
from test_browser import CHROMIUM, browser, serve_app  # noqa: F401 (browser is a fixture)

from analysis.label_errors import fo_adapter
from analysis.review import store as review

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


def test_draw_a_box_confirm_and_read_it_back(browser, tmp_path):  # noqa: F811
    ds = build_error_dataset(tmp_path, "review-draw")
    cands = fo_adapter.load_candidates(ds)
    target = cands[cands["error_type"] == "low_iou"].iloc[0]
    for c in cands.itertuples():  # the queue starts at the low-IoU candidate: those ranked above are decided
        if c.label_id == target.label_id:
            break
        review.decide(ds, c.label_field, c.sample_id, c.label_id, "dismissed", "setup")
    # image 1 (64 x 48): its cat drawn where the truth has it, [2, 3, 20, 15] px; its GT box is off ([8, 8, ...])
    pixels = np.random.default_rng(0).normal(110, 10, (48, 64, 3)).clip(0, 255).astype(np.uint8)
    pixels[3:18, 2:22] = (220, 40, 30)
    Image.fromarray(pixels).save(ds[target.sample_id].filepath)
    proc, url = serve_app()
    try:
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(f"{url}/review?dataset=review-draw&reviewer=alice")
        page.get_by_text("Low IoU · IoU").first.wait_for(timeout=90_000)
        page.get_by_text("Draw the corrected box").click()
        drag = page.locator(".st-key-rv_card .js-plotly-plot .nsewdrag").first
        drag.wait_for(timeout=60_000)
        page.get_by_text("Drag a rectangle around the object").wait_for(timeout=30_000)
        # the axes are image pixels: read their ranges to place the mouse (64 x 48 images)
        (x_lo, x_hi), (y_lo, y_hi) = page.locator(".st-key-rv_card .js-plotly-plot").first.evaluate(
            "el => [el._fullLayout.xaxis.range, el._fullLayout.yaxis.range]")
        page.locator(".st-key-rv_card").scroll_into_view_if_needed()  # the mouse works on what is on screen
        bb = drag.bounding_box()

        def screen(px, py):
            return (bb["x"] + (px - x_lo) / (x_hi - x_lo) * bb["width"],
                    bb["y"] + (py - y_hi) / (y_lo - y_hi) * bb["height"])

        want = (4.0, 5.0, 22.0, 17.0)  # pixel corners, inside the crop shown
        assert x_lo <= want[0] and want[2] <= x_hi and min(y_lo, y_hi) <= want[1] and want[3] <= max(y_lo, y_hi)
        page.mouse.move(*screen(want[0], want[1]))
        page.mouse.down()
        page.mouse.move(*screen((want[0] + want[2]) / 2, (want[1] + want[3]) / 2), steps=5)
        page.mouse.move(*screen(want[2], want[3]), steps=5)
        page.mouse.up()
        # where the mouse went, in image pixels (within one: the mouse lands on whole screen pixels)
        page.get_by_text("Your box (green): 18 x 12 px at (4, 5)").wait_for(timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.get_by_role("button", name="Snap to the object").click()
        page.get_by_text("Snapped (pink, dotted): 20 x 15 px at (2, 3)").wait_for(timeout=30_000)
        page.get_by_role("radiogroup").filter(has_text="Snapped").wait_for()
        page.screenshot(path=str(tmp_path / "snapped.png"))

        # the keyboard flow is as before: Y confirms, now with the box (the chart was drawn anew: the shortcut holds)
        page.get_by_text("Review label errors: review-draw").click()
        page.keyboard.press("y")
        page.get_by_text("1 decision stored: confirmed, with your box").wait_for(timeout=30_000)
        label = next(d for d in ds[target.sample_id].ground_truth.detections if d.id == target.label_id)
        assert label.review_status == "confirmed" and label.review_by == "alice"
        assert label.review_box == pytest.approx([2 / 64, 3 / 48, 20 / 64, 15 / 48])  # the snapped box
        assert label.review_history[-1]["box"] == label.review_box
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
