"""A box drawn by the reviewer: pixel/relative conversion, clipping, GrabCut snapping (on synthetic images with a
known rectangle), stored with the decision and preferred by the corrected COCO export."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import build_error_dataset

from analysis.label_errors import fo_adapter as label_errors_fo
from analysis.review import box_fix
from analysis.review import exports as review_exports
from analysis.review import store as review


def test_pixel_and_relative_boxes_hand_computed():
    # 200 x 100 image; corners (20, 10)-(70, 60) are x 0.1, y 0.1, w 0.25, h 0.5
    assert box_fix.to_relative((20, 10, 70, 60), 200, 100) == [0.1, 0.1, 0.25, 0.5]
    assert box_fix.to_pixels([0.1, 0.1, 0.25, 0.5], 200, 100) == (20.0, 10.0, 70.0, 60.0)


def test_clip_and_drawn_box_hand_computed():
    assert box_fix.clip_box((70, 60, 20, 10), 200, 100) == ((20.0, 10.0, 70.0, 60.0), None)  # any corner order
    box, note = box_fix.clip_box((-10, 50, 30, 130), 200, 100)
    assert box == (0.0, 50.0, 30.0, 100.0)
    assert "clipped to the image" in note and "40 x 80 px drawn, 30 x 50 px kept" in note
    # a plotly selection: two x values and two y values, in image pixels
    rel, note = box_fix.drawn_box([150.0, 250.0], [0.0, 50.0], 200, 100)
    assert rel == [0.75, 0.0, 0.25, 0.5] and "clipped" in note
    with pytest.raises(box_fix.BoxFixError, match="too small to be a box"):
        box_fix.drawn_box([40.0, 40.2], [10.0, 60.0], 200, 100)
    with pytest.raises(box_fix.BoxFixError, match="outside the image"):
        box_fix.drawn_box([210.0, 260.0], [10.0, 60.0], 200, 100)
    with pytest.raises(box_fix.BoxFixError, match="No box was drawn"):
        box_fix.drawn_box([], [], 200, 100)


def test_check_box():
    assert box_fix.check_box((0.5, 0.5, 0.5, 0.5)) == [0.5, 0.5, 0.5, 0.5]
    for bad in ([0.1, 0.1, 0, 0.2], [0.9, 0.1, 0.2, 0.2], [0.1, 0.2, 0.3], "box", None):
        with pytest.raises(box_fix.BoxFixError):
            box_fix.check_box(bad)


def _scene(seed=0, size=(120, 160), rect=(50, 30, 110, 80)):
    """A noisy grey background with one saturated rectangle (x0, y0, x1, y1) on it."""
    rng = np.random.default_rng(seed)
    img = rng.normal(110, 12, (*size, 3)).clip(0, 255).astype(np.uint8)
    x0, y0, x1, y1 = rect
    img[y0:y1, x0:x1] = (220, 40, 30)
    return img


@pytest.mark.parametrize("rough", [(40, 20, 120, 90), (55, 35, 105, 75), (46, 34, 106, 84)],
                         ids=["drawn loose", "drawn tight", "drawn shifted"])
def test_snap_finds_a_known_rectangle(rough):
    truth = (50, 30, 110, 80)
    snapped, note = box_fix.snap(_scene(), rough)
    assert note is None
    assert snapped == pytest.approx(truth, abs=1)


def test_snap_of_a_large_object_works_on_a_reduced_copy_to_a_few_pixels():
    truth = (400, 300, 1100, 900)
    image = _scene(size=(1200, 1600), rect=truth)
    snapped, note = box_fix.snap(image, (380, 280, 1120, 920))
    assert note is None
    assert snapped == pytest.approx(truth, abs=1600 / box_fix.SNAP_SIDE_PX)  # a pixel of the reduced copy


def test_snap_that_finds_nothing_keeps_the_box_and_says_so():
    flat = np.full((60, 80, 3), 128, np.uint8)
    snapped, note = box_fix.snap(flat, (10, 10, 40, 40))
    assert snapped is None and "kept as drawn" in note
    snapped, note = box_fix.snap(_scene(), (10, 10, 11, 40))
    assert snapped is None and "too small to snap" in note


def test_apply_fixes_prefers_the_drawn_box_hand_computed():
    gt = pd.DataFrame({"label_id": ["g1", "g2"], "sample_id": "s", "label": "a",
                       "x": [0.0, 10], "y": 0.0, "w": 5.0, "h": 5.0})
    preds = pd.DataFrame({"label_id": ["p1", "p2"], "sample_id": "s", "label": ["a", "c"],
                          "x": [1.0, 50], "y": [1.0, 50], "w": [6.0, 4], "h": [6.0, 4]})
    confirmed = pd.DataFrame({"label_field": ["gt", "pred", "gt"], "label_id": ["g1", "p2", "g2"],
                              "error_type": ["low_iou", "missing", "low_iou"],
                              "error_match_id": ["p1", None, "gone"],
                              "review_box": [[2.0, 3.0, 4.0, 5.0], [40.0, 41.0, 9.0, 8.0], [11.0, 1.0, 6.0, 7.0]]})
    fixed, log = review_exports.apply_fixes(gt, preds, confirmed)
    fixed = fixed.set_index("label_id")
    assert fixed.loc["g1", ["x", "y", "w", "h"]].tolist() == [2.0, 3.0, 4.0, 5.0]
    assert fixed.loc["p2", ["label", "x", "y", "w", "h", "added"]].tolist() == ["c", 40.0, 41.0, 9.0, 8.0, True]
    # the drawn box needs no supporting prediction
    assert fixed.loc["g2", ["x", "y", "w", "h"]].tolist() == [11.0, 1.0, 6.0, 7.0]
    assert log["applied"].all() and set(log["note"]) == {"the reviewer's box"}


@pytest.fixture
def ds(tmp_path):
    dataset = build_error_dataset(tmp_path, "review-box")
    review.prepare(dataset)
    return dataset


def _label(ds, c):
    return next(d for d in ds[c.sample_id][c.label_field].detections if d.id == c.label_id)


def test_drawn_box_is_stored_with_the_decision_and_exported(ds, tmp_path):
    cands = label_errors_fo.load_candidates(ds)
    low = cands[cands["error_type"] == "low_iou"].iloc[0]
    missing = cands[cands["error_type"] == "missing"].iloc[0]
    # 64 x 48 images: [0.0625, 0.125, 0.25, 0.5] is 4, 6, 16, 24 px
    review.decide(ds, low.label_field, low.sample_id, low.label_id, "confirmed", "alice", box=[0.0625, 0.125, 0.25, 0.5])
    review.decide(ds, missing.label_field, missing.sample_id, missing.label_id, "confirmed", "bob",
                  box=[0.5, 0.25, 0.375, 0.5])
    label = _label(ds, low)
    assert label.review_box == [0.0625, 0.125, 0.25, 0.5] and label.review_status == "confirmed"
    assert label.bounding_box != label.review_box  # the label itself is left as it was: the export applies it
    assert label.review_history[-1]["box"] == [0.0625, 0.125, 0.25, 0.5]
    assert review.decisions(ds).set_index("label_id").loc[missing.label_id, "review_box"] == [0.5, 0.25, 0.375, 0.5]
    assert review.history(ds).set_index("label_id").loc[low.label_id, "box"] == [0.0625, 0.125, 0.25, 0.5]

    path, log = review_exports.write_corrected_coco(ds, tmp_path / "fixed.json")
    coco = json.loads(path.read_text())
    anns = {a["id"]: a for a in coco["annotations"]}
    assert anns[10]["bbox"] == [4.0, 6.0, 16.0, 24.0]  # not the prediction's [3, 4, 21, 16]
    added = [a for a in coco["annotations"] if a["id"] > 99]
    assert [a["bbox"] for a in added] == [[32.0, 12.0, 24.0, 24.0]]
    assert log["applied"].all() and set(log["note"]) == {"the reviewer's box"}

    # Undo clears the box (the history keeps it); a confirmation without a box exports the prediction's again.
    review.decide(ds, low.label_field, low.sample_id, low.label_id, "pending", "alice")
    assert _label(ds, low).review_box is None
    review.decide(ds, low.label_field, low.sample_id, low.label_id, "confirmed", "alice")
    coco, _ = review_exports.corrected_coco(ds)
    assert {a["id"]: a for a in coco["annotations"]}[10]["bbox"] == [3.0, 4.0, 21.0, 16.0]
    assert [h["box"] for h in _label(ds, low).review_history] == [[0.0625, 0.125, 0.25, 0.5], None, None]


def test_a_box_goes_only_with_a_confirmation_and_must_fit(ds):
    low = label_errors_fo.load_candidates(ds).query("error_type == 'low_iou'").iloc[0]
    with pytest.raises(review.ReviewError, match="goes with a confirmation"):
        review.decide(ds, low.label_field, low.sample_id, low.label_id, "dismissed", "alice", box=[0.1, 0.1, 0.2, 0.2])
    with pytest.raises(review.ReviewError, match="inside the image"):
        review.decide(ds, low.label_field, low.sample_id, low.label_id, "confirmed", "alice", box=[0.9, 0.1, 0.2, 0.2])
    assert review.decisions(ds).empty
