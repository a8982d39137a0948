"""Synthetic digit scenes: tight boxes inside the images, and injected errors that match their records."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis.core.boxes import iou_xywh
from analysis.core.errors import InputError
from analysis.demo import scenes as synthetic
from analysis.demo.inject import ERROR_TYPES, ErrorRates, inject_errors
from analysis.demo.scenes import make_scenes, render_scenes


@pytest.mark.parametrize("source", ["mnist", "sklearn"])
def test_load_digits_gives_real_digits_in_unit_range(source):
    images, labels = synthetic.load_digits(source)
    assert images.shape == ((5000, 28, 28) if source == "mnist" else (1797, 10, 10))
    assert images.min() == 0.0 and images.max() == pytest.approx(1.0)
    assert set(labels.tolist()) == set(range(10))


@pytest.mark.parametrize("source", ["mnist", "sklearn"])
def test_boxes_are_the_tight_boxes_of_each_digits_ink(source):
    # With one seed per image, the background and distractors are drawn before the digits, so
    # rendering the same seed without digits isolates exactly the pixels the digits changed.
    for seed in range(12):
        kw = dict(source=source, seed=seed, image_size=96, cluttered=False, scale_px=(14, 48))
        with_digit, coco = render_scenes(1, objects_per_image=(1, 1), **kw)
        without, _ = render_scenes(1, objects_per_image=(0, 0), **kw)
        diff = np.abs(with_digit[0].astype(int) - without[0].astype(int)).max(-1)
        (ann,) = coco["annotations"]
        x, y, w, h = map(int, ann["bbox"])
        assert ann["bbox"] == [x, y, w, h] and ann["area"] == w * h and ann["iscrowd"] == 0
        inside = diff[y:y + h, x:x + w]
        peak = inside.max()
        assert peak > 40
        # Ink reaches every edge of the box (ink = alpha above 0.25; the colour contrast is
        # smooth on a plain gradient, so 0.15 of the peak difference is a safe floor) ...
        for edge in (inside[0], inside[-1], inside[:, 0], inside[:, -1]):
            assert edge.max() >= 0.15 * peak
        # ... and no pixel outside the box is as inky as that (only faint anti-aliasing).
        outside = diff.copy()
        outside[y:y + h, x:x + w] = 0
        assert outside.max() <= 0.3 * peak + 2


def test_scenes_are_reproducible_and_boxes_lie_inside_the_images():
    a, coco_a = render_scenes(30, seed=5, image_size=112, objects_per_image=(3, 8), scale_px=(12, 40))
    b, coco_b = render_scenes(30, seed=5, image_size=112, objects_per_image=(3, 8), scale_px=(12, 40))
    assert np.array_equal(a, b) and coco_a == coco_b
    assert a.shape == (30, 112, 112, 3) and a.dtype == np.uint8
    boxes = np.array([x["bbox"] for x in coco_a["annotations"]])
    assert len(boxes) >= 30 * 3 * 0.8
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= 112).all()
    assert (boxes[:, 1] + boxes[:, 3] <= 112).all() and (boxes[:, 2:] >= 1).all()
    # Digits may touch but never hide each other.
    image_ids = np.array([x["image_id"] for x in coco_a["annotations"]])
    for image_id in np.unique(image_ids):
        iou = iou_xywh(boxes[image_ids == image_id], boxes[image_ids == image_id])
        np.fill_diagonal(iou, 0)
        assert iou.max() < 0.05
    assert [c["name"] for c in coco_a["categories"]] == [str(d) for d in range(10)]
    assert {x["category_id"] for x in coco_a["annotations"]} <= set(range(10))


def test_make_scenes_writes_the_pngs_its_coco_names(tmp_path):
    coco = make_scenes(4, tmp_path / "imgs", source="sklearn", image_size=80, scale_px=(12, 30), seed=1)
    for im in coco["images"]:
        with Image.open(tmp_path / "imgs" / im["file_name"]) as png:
            assert png.size == (im["width"], im["height"]) == (80, 80) and png.mode == "RGB"
    assert len({im["id"] for im in coco["images"]}) == 4


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(InputError, match="digit source"):
        synthetic.load_digits("cifar")
    with pytest.raises(InputError, match="scale_px"):
        render_scenes(1, image_size=32, scale_px=(12, 48))
    with pytest.raises(InputError, match="objects_per_image"):
        render_scenes(1, objects_per_image=(5, 2))
    with pytest.raises(InputError, match="sum to <= 1"):
        ErrorRates(missing=0.5, low_iou=0.4, wrong_class=0.2)


@pytest.fixture(scope="module")
def damaged():
    _, clean = render_scenes(80, seed=3, image_size=112, objects_per_image=(3, 7), scale_px=(12, 40))
    rates = ErrorRates(missing=0.1, low_iou=0.1, wrong_class=0.1, spurious=0.08, duplicate=0.08)
    noisy, errors = inject_errors(clean, rates=rates, seed=4)
    return clean, noisy, errors, rates


def test_injected_error_counts_follow_the_rates(damaged):
    clean, noisy, errors, rates = damaged
    n = len(clean["annotations"])
    counts = errors["error_type"].value_counts()
    for kind in ERROR_TYPES:
        # Each type is round(rate * n); a few jittered boxes or invented ones can fail to fit.
        assert 0.9 * round(getattr(rates, kind) * n) <= counts[kind] <= round(getattr(rates, kind) * n)
    added = counts["spurious"] + counts["duplicate"]
    assert len(noisy["annotations"]) == n - counts["missing"] + added
    ids = [a["id"] for a in noisy["annotations"]]
    assert len(set(ids)) == len(ids)
    # One error per true object at most (a duplicate's object is the clean box it copies).
    clean_id = {(a["image_id"], tuple(a["bbox"])): a["id"] for a in clean["annotations"]}
    dups = errors[errors["error_type"] == "duplicate"]
    objects = errors["true_ann_id"].dropna().tolist() + [clean_id[i, tuple(b)] for i, b in zip(dups["image_id"], dups["true_bbox"])]
    assert len(set(objects)) == len(objects)


def test_error_records_match_the_clean_and_noisy_labels(damaged):
    clean, noisy, errors, _ = damaged
    clean_by = {a["id"]: a for a in clean["annotations"]}
    noisy_by = {a["id"]: a for a in noisy["annotations"]}
    sizes = {im["id"]: (im["width"], im["height"]) for im in clean["images"]}
    for e in errors.itertuples():
        if e.error_type == "missing":
            assert pd.isna(e.ann_id) and e.true_ann_id not in noisy_by
            assert clean_by[e.true_ann_id]["bbox"] == e.true_bbox and e.true_category_id == clean_by[e.true_ann_id]["category_id"]
            continue
        ann = noisy_by[e.ann_id]
        assert ann["image_id"] == e.image_id and ann["bbox"] == e.bbox and ann["category_id"] == e.category_id
        W, H = sizes[e.image_id]
        x, y, w, h = e.bbox
        assert x >= 0 and y >= 0 and x + w <= W + 1e-6 and y + h <= H + 1e-6 and w > 0 and h > 0
        if e.error_type in ("low_iou", "wrong_class"):
            true = clean_by[e.true_ann_id]
            assert e.ann_id == e.true_ann_id and true["bbox"] == e.true_bbox
            assert true["category_id"] == e.true_category_id
        if e.error_type == "low_iou":
            assert 0.33 <= iou_xywh(e.bbox, e.true_bbox)[0, 0] <= 0.77 and e.category_id == e.true_category_id
        elif e.error_type == "wrong_class":
            assert e.category_id != e.true_category_id and e.bbox == e.true_bbox
        elif e.error_type == "duplicate":
            assert e.ann_id not in clean_by and pd.isna(e.true_ann_id)
            original = [a for a in clean["annotations"] if a["image_id"] == e.image_id and a["bbox"] == e.true_bbox]
            assert len(original) == 1 and original[0]["category_id"] == e.category_id
            assert 0.68 <= iou_xywh(e.bbox, e.true_bbox)[0, 0] <= 0.97
        elif e.error_type == "spurious":
            assert e.ann_id not in clean_by and pd.isna(e.true_ann_id) and e.true_bbox is None
            others = [a["bbox"] for a in clean["annotations"] if a["image_id"] == e.image_id]
            assert iou_xywh(e.bbox, others).max(initial=0.0) < 0.05
    # Every annotation not named in the records is unchanged, with the same id.
    named = set(errors["ann_id"].dropna()) | set(errors["true_ann_id"].dropna())
    untouched = [i for i in clean_by if i not in named]
    assert untouched and all(noisy_by[i] == clean_by[i] for i in untouched)


def test_low_iou_boxes_spread_over_the_whole_range(damaged):
    _, _, errors, _ = damaged
    low = errors[errors["error_type"] == "low_iou"]
    ious = np.array([iou_xywh(b, t)[0, 0] for b, t in zip(low["bbox"], low["true_bbox"])])
    assert ious.min() < 0.45 and ious.max() > 0.65 and 0.45 < np.median(ious) < 0.65


def test_glyph_source_renders_ten_letters_reproducibly():
    images, labels = synthetic.load_digits("glyphs")
    assert images.shape == (3000, 28, 28) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    assert set(labels.tolist()) == set(range(len(synthetic.GLYPHS)))
    # every glyph has ink, and it is no blank cell
    assert (images > synthetic.INK_THRESHOLD).any(axis=(1, 2)).all()
    # rendered from the seed alone
    first, again = synthetic.render_glyphs(20, seed=5), synthetic.render_glyphs(20, seed=5)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], synthetic.render_glyphs(20, seed=6)[0])


def test_scenes_of_glyphs_have_tight_boxes():
    _, coco = render_scenes(4, source="glyphs", image_size=96, objects_per_image=(3, 5), scale_px=(14, 30),
                                   seed=2)
    assert len(coco["annotations"]) >= 4
    assert all(2 <= a["bbox"][2] <= 30 and 2 <= a["bbox"][3] <= 30 for a in coco["annotations"])
