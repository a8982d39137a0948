"""The review page's box drawing, around the chart (AppTest cannot drag on a chart: a selection is put where the
chart leaves it, in the session state under the chart's key, as the browser would; the browser test drags)."""

import numpy as np
import pytest
from conftest import APP, build_error_dataset
from PIL import Image
from streamlit.testing.v1 import AppTest

from analysis.label_errors import fo_adapter
from analysis.review import store as review


@pytest.fixture
def low_iou(tmp_path):
    """A dataset whose review queue starts at image 1's low-IoU cat box (drawn at [8, 8, 20, 15] px; the truth
    is [2, 3, 20, 15], the prediction [3, 4, 21, 16]; images 64 x 48)."""
    ds = build_error_dataset(tmp_path, "review-draw-at")
    cands = fo_adapter.load_candidates(ds)
    target = cands[cands["error_type"] == "low_iou"].iloc[0]
    for c in cands.itertuples():
        if c.label_id == target.label_id:
            break
        review.decide(ds, c.label_field, c.sample_id, c.label_id, "dismissed", "setup")
    return ds, target


def _open(name):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["dataset"] = name
    at.query_params["reviewer"] = "alice"
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    return at


def _draw(at, label_id, xs, ys):
    """What the browser sends after a drag: the chart's selection, in image pixels."""
    version = at.session_state.get("rv_box_v", 0)
    at.session_state[f"rv_draw_{label_id}_{version}"] = {
        "selection": {"points": [], "point_indices": [], "box": [{"xref": "x", "yref": "y", "x": xs, "y": ys}],
                      "lasso": []}}
    at.run()
    assert not at.exception, at.exception
    return at


def _button(at, key):
    return next(b for b in at.button if b.key == key)


def _stored(ds, c):
    return next(d for d in ds[c.sample_id][c.label_field].detections if d.id == c.label_id)


def _texts(at):
    return [c.value for c in at.caption] + [m.value for m in (*at.info, *at.warning, *at.success)]


def test_drawn_box_bad_input_and_a_snap_that_finds_nothing(low_iou):
    ds, c = low_iou
    at = _open("review-draw-at")
    charts = len(at.get("plotly_chart"))  # the progress charts; drawing is off by default: the card as before
    at.toggle(key="rv_draw").set_value(True).run()
    assert len(at.get("plotly_chart")) == charts + 1
    assert any("Drag a rectangle around the object" in t for t in _texts(at))

    _draw(at, c.label_id, [30.0, 30.4], [5.0, 17.0])  # a click, not a drag
    assert any("too small to be a box" in t for t in _texts(at))
    _draw(at, c.label_id, [70.0, 90.0], [5.0, 17.0])
    assert any("lies outside the image" in t for t in _texts(at))
    assert "rv_box" not in at.session_state

    _draw(at, c.label_id, [22.0, 4.0], [17.0, 5.0])  # dragged from the bottom right: any corner order
    assert any("Your box (green): 18 x 12 px at (4, 5)" in t for t in _texts(at))
    _draw(at, c.label_id, [0.0, 0.1], [5.0, 17.0])
    assert any("too small to be a box" in t and "The box drawn before is kept" in t for t in _texts(at))
    _draw(at, c.label_id, [40.0, 80.0], [30.0, 60.0])  # past the right and bottom edges
    assert any("clipped to the image (40 x 30 px drawn, 24 x 18 px kept)" in t for t in _texts(at))
    _draw(at, c.label_id, [4.0, 22.0], [5.0, 17.0])

    # the fixture's images are one flat colour: snapping finds nothing and the box stays as drawn
    _button(at, "rv_snap").click().run()
    assert any("kept as drawn" in w.value for w in at.warning)
    assert not [r for r in at.radio if r.key == "rv_box_use"]
    _button(at, "rv_confirm").click().run()
    assert any("1 decision stored: confirmed, with your box" in s.value for s in at.success)
    assert _stored(ds, c).review_box == [4 / 64, 5 / 48, 18 / 64, 12 / 48]
    assert "rv_box" not in at.session_state  # decided: the next candidate starts without a box
    at.multiselect(key="rv_status").set_value(["confirmed"]).run()  # the decided card says what was drawn
    assert "Box drawn by the reviewer: 18 x 12 px at (4, 5)" in [t.value for t in at.text]


def test_snap_preview_then_confirm_stores_the_snapped_box(low_iou):
    ds, c = low_iou
    path = ds[c.sample_id].filepath
    rng = np.random.default_rng(0)
    pixels = rng.normal(110, 10, (48, 64, 3)).clip(0, 255).astype(np.uint8)
    pixels[3:18, 2:22] = (220, 40, 30)  # the cat where the truth has it: [2, 3, 20, 15]
    Image.fromarray(pixels).save(path)
    at = _open("review-draw-at")
    at.toggle(key="rv_draw").set_value(True).run()
    _draw(at, c.label_id, [4.0, 20.0], [5.0, 16.0])  # drawn a little tight
    _button(at, "rv_snap").click().run()
    assert not at.exception and not at.warning
    assert at.radio(key="rv_box_use").value == "Snapped"
    assert any("Snapped (pink, dotted): 20 x 15 px at (2, 3)" in t for t in _texts(at))

    _button(at, "rv_confirm").click().run()
    assert _stored(ds, c).review_box == pytest.approx([2 / 64, 3 / 48, 20 / 64, 15 / 48])
    assert _stored(ds, c).review_history[-1]["box"] == _stored(ds, c).review_box


def test_clear_the_box_confirms_with_the_detectors_box(low_iou):
    ds, c = low_iou
    at = _open("review-draw-at")
    at.toggle(key="rv_draw").set_value(True).run()
    _draw(at, c.label_id, [4.0, 22.0], [5.0, 17.0])
    _button(at, "rv_box_clear").click().run()
    assert any("Drag a rectangle around the object" in t for t in _texts(at))
    _button(at, "rv_confirm").click().run()
    assert any(s.value == "1 decision stored: confirmed." for s in at.success)
    assert _stored(ds, c).review_box is None


def test_a_box_drawn_one_by_one_is_not_stored_unseen_from_the_gallery(low_iou):
    ds, c = low_iou
    at = _open("review-draw-at")
    at.toggle(key="rv_draw").set_value(True).run()
    _draw(at, c.label_id, [4.0, 22.0], [5.0, 17.0])
    at.radio(key="rv_view").set_value("Gallery").run()
    _button(at, f"rv_c_{c.label_id}").click().run()
    assert any(s.value == "1 decision stored: confirmed." for s in at.success)
    assert _stored(ds, c).review_box is None
