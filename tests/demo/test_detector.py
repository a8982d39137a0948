"""The CPU detector: target encoding, AP@0.5 (by hand and against FiftyOne), and a fast demo build that learns."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.core.errors import InputError
from analysis.demo import detector
from analysis.demo.detector import average_precision_50, make_targets, predict


def _gt(boxes, image_size=100):
    """COCO instances from ``(image_id, category_id, bbox[, iscrowd])`` tuples."""
    images = sorted({b[0] for b in boxes})
    return {"images": [{"id": i, "file_name": f"{i}.png", "width": image_size, "height": image_size} for i in images],
            "annotations": [{"id": k + 1, "image_id": b[0], "category_id": b[1], "bbox": list(b[2]),
                             "area": b[2][2] * b[2][3], "iscrowd": int(len(b) > 3 and b[3])} for k, b in enumerate(boxes)],
            "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]}


def _det(image_id, cat, box, score):
    return {"image_id": image_id, "category_id": cat, "bbox": list(box), "score": score}


def test_ap50_by_hand():
    gt = _gt([(1, 1, (0, 0, 10, 10)), (1, 1, (20, 20, 10, 10)), (1, 1, (60, 0, 30, 30), True), (2, 2, (5, 5, 20, 20))])
    results = [
        _det(1, 1, (0, 0, 10, 10), 0.9),    # TP: first box
        _det(1, 1, (1, 1, 10, 10), 0.85),   # FP: first box already taken (IoU 0.68)
        _det(1, 1, (65, 5, 10, 10), 0.8),   # inside the crowd region: ignored
        _det(1, 1, (20, 20, 10, 10), 0.7),  # TP: second box
        _det(2, 1, (5, 5, 20, 20), 0.95),   # FP: right place, wrong class
    ]
    # Class 1, by score: FP, TP, FP, (ignored), TP -> precision 0, .5, .33, .5 at recall 0, .5, .5, 1;
    # made monotone: .5 everywhere, so AP = .5. Class 2 has no detection: AP 0.
    mean, per_class = average_precision_50(gt, results)
    assert per_class == {1: pytest.approx(0.5), 2: 0.0}
    assert mean == pytest.approx(0.25)
    # Without the wrong-class FP, class 1 reads TP, FP, TP: precision 1, .5, .67 at recall .5, .5, 1:
    # 51 recall points (0 .. 0.50) at 1 and 50 points (0.51 .. 1) at 2/3.
    mean, per_class = average_precision_50(gt, results[:4])
    assert per_class[1] == pytest.approx((51 + 50 * 2 / 3) / 101)
    # A perfect detector scores 1; an IoU of 0.49 is a miss at 0.5 but a hit at 0.4.
    perfect = [_det(a["image_id"], a["category_id"], a["bbox"], 0.5) for a in gt["annotations"] if not a["iscrowd"]]
    assert average_precision_50(gt, perfect)[0] == 1.0
    shifted = [_det(1, 1, (0, 0, 10, 4.9), 0.9)]
    assert average_precision_50(_gt([(1, 1, (0, 0, 10, 10))]), shifted)[0] == 0.0
    assert average_precision_50(_gt([(1, 1, (0, 0, 10, 10))]), shifted, iou_threshold=0.4)[0] == 1.0


def _random_case(seed, n_images=8):
    """GT boxes (some crowd) and noisy detections with distinct scores: hits, near misses, wrong classes, clutter."""
    rng = np.random.default_rng(seed)
    gt, results = [], []
    for image_id in range(1, n_images + 1):
        for _ in range(rng.integers(1, 6)):
            box = (*rng.uniform(0, 70, 2).round(1), *rng.uniform(8, 30, 2).round(1))
            cat = int(rng.integers(1, 4))
            gt.append((image_id, cat, box, rng.random() < 0.08))
            for _ in range(rng.integers(0, 3)):
                jitter = rng.normal(0, rng.choice([1.0, 4.0]), 4)
                pred_cat = cat if rng.random() < 0.8 else int(rng.integers(1, 4))
                results.append(_det(image_id, pred_cat, tuple(np.round(np.abs(np.array(box) + jitter), 1)), 0))
        for _ in range(rng.integers(0, 3)):
            results.append(_det(image_id, int(rng.integers(1, 4)), (*rng.uniform(0, 80, 2), *rng.uniform(5, 20, 2)), 0))
    for r, s in zip(results, rng.permutation(len(results))):
        r["score"] = float(0.01 + 0.98 * s / len(results))  # distinct: tie order differs between tools
    return _gt(gt), results


def _fiftyone_map(gt, results):
    import fiftyone as fo

    names = {c["id"]: c["name"] for c in gt["categories"]}

    def detections(items, score=False):
        return fo.Detections(detections=[
            fo.Detection(label=names[x["category_id"]], bounding_box=[v / 100 for v in x["bbox"]],
                         confidence=x["score"] if score else None, iscrowd=bool(x.get("iscrowd", 0)))
            for x in items])

    ds = fo.Dataset()
    ds.add_samples([
        fo.Sample(filepath=f"/nonexistent/{im['id']}.png",
                  gt=detections([a for a in gt["annotations"] if a["image_id"] == im["id"]]),
                  pred=detections([r for r in results if r["image_id"] == im["id"]], score=True))
        for im in gt["images"]])
    res = ds.evaluate_detections("pred", gt_field="gt", method="coco", compute_mAP=True, iou_threshs=[0.5])
    per_class = {c: res._classwise_AP[res._get_class_index(n)] for c, n in names.items() if n in res.classes}
    ds.delete()
    return res.mAP(), per_class


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ap50_equals_fiftyones_coco_map(seed):
    gt, results = _random_case(seed)
    mean, per_class = average_precision_50(gt, results)
    fo_mean, fo_per_class = _fiftyone_map(gt, results)
    assert 0.05 < mean < 0.95  # a case with both hits and misses, so the comparison means something
    assert mean == pytest.approx(fo_mean, abs=1e-9)
    for cat, ap in per_class.items():
        assert ap == pytest.approx(fo_per_class[cat], abs=1e-9)


class _Oracle(torch.nn.Module):
    """A 'network' whose outputs are given training targets, to check that decoding inverts encoding."""

    def __init__(self, centre, classes, reg, num_classes, category_ids):
        super().__init__()
        self.centre, self.reg, self.category_ids = centre, reg, category_ids
        # Certain of the target class where there is one, undecided elsewhere.
        self.logits = 20.0 * torch.nn.functional.one_hot(classes.clamp(min=0), num_classes).permute(0, 3, 1, 2).float()
        self.logits *= (classes >= 0).unsqueeze(1)

    def forward(self, x):
        return torch.logit(self.centre.clamp(1e-6, 1 - 1e-6)), self.logits, self.reg


def test_decoding_inverts_the_training_targets():
    boxes = [np.array([[10.0, 12.0, 20.0, 30.0], [60.5, 40.25, 13.0, 9.0]]), np.array([[0.0, 0.0, 64.0, 50.0]])]
    labels = [np.array([0, 2]), np.array([1])]
    centre, classes, reg, mask = make_targets(boxes, labels, (24, 24))
    assert centre.shape == (2, 1, 24, 24) and reg.shape == (2, 4, 24, 24) and mask.sum() == 3
    assert centre.amax((1, 2, 3)).tolist() == [1.0, 1.0]
    # Each object's class covers its centre cell (and neighbours near it), nothing far away.
    assert classes[mask.bool()].tolist() == [0, 2, 1] and (classes >= 0).sum() > 3
    assert (classes[0, 20:, :2] == -1).all()
    results = predict(_Oracle(centre, classes, reg, 3, [7, 8, 9]), np.zeros((2, 96, 96, 3), np.uint8), [5, 6],
                      score_threshold=0.99)
    got = sorted((r["image_id"], r["category_id"], *np.round(r["bbox"], 3)) for r in results)
    assert got == [(5, 7, 10.0, 12.0, 20.0, 30.0), (5, 9, 60.5, 40.25, 13.0, 9.0), (6, 8, 0.0, 0.0, 64.0, 50.0)]
    assert all(r["score"] > 0.999 for r in results)
    # each box carries the class head's distribution over the categories (ascending id)
    for r in results:
        assert len(r["class_probs"]) == 3 and sum(r["class_probs"]) == pytest.approx(1, abs=1e-3)
        assert np.argmax(r["class_probs"]) == [7, 8, 9].index(r["category_id"])


def test_augmented_boxes_follow_the_pixels_they_cover():
    # one bright rectangle per image on grey
    images = np.full((6, 96, 96, 3), 128, np.uint8)
    rect = [30, 20, 30, 20]
    images[:, 20:40, 30:60] = 255
    boxes = [np.array([[*rect, 1]], np.float32)] * 6
    x, moved = detector.augment_batch(detector._to_tensor(images), boxes, np.random.default_rng(3))
    assert x.shape == (6, 3, 96, 96)
    for k in range(6):
        lit = x[k, 0] > 0.5
        ys, xs = np.nonzero(lit.numpy())
        if not len(moved[k]):  # shifted mostly out of view: the box goes with it
            assert lit.sum() < 600 * 1.34 ** 2 / 2
            continue
        bx, by, bw, bh, cls = moved[k][0]
        assert cls == 1
        # the box and the bright pixels agree to a pixel (bilinear edges)
        assert abs(xs.min() - bx) <= 1 and abs(ys.min() - by) <= 1
        assert abs(xs.max() + 1 - (bx + bw)) <= 1 and abs(ys.max() + 1 - (by + bh)) <= 1
    # zoom changes sizes within the range asked
    sizes = [m[0, 2] / rect[2] for m in moved if len(m)]
    assert min(sizes) >= 0.74 and max(sizes) <= 1.34 and np.ptp(sizes) > 0.05


def test_detector_inputs_are_checked():
    coco = {"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 8}], "annotations": [], "categories": []}
    with pytest.raises(InputError, match="uint8"):
        detector.train_detector(np.zeros((1, 8, 8, 3), np.float32), coco)
    with pytest.raises(InputError, match="images for"):
        detector.train_detector(np.zeros((2, 8, 8, 3), np.uint8), coco)


def test_fast_demo_case_builds_and_its_detector_learns(tmp_path):
    from analysis.demo.case import FAST_CASE, build_case

    seen = []
    case = build_case(tmp_path / "case", **FAST_CASE, progress=lambda f, m: seen.append(f))
    assert seen == sorted(seen) and seen[-1] == 1.0
    info = json.loads(case.case_json.read_text())
    gt_clean = json.loads(case.gt_clean.read_text())
    gt_noisy = json.loads(case.gt_noisy.read_text())
    preds = json.loads(case.predictions.read_text())
    errors = pd.read_csv(case.injected_errors)
    assert info["n_val"] == len(gt_clean["images"]) == len(list(case.images_dir.glob("*.png")))
    assert gt_noisy["images"] == gt_clean["images"]
    assert {r["image_id"] for r in preds} <= {im["id"] for im in gt_clean["images"]}
    size = {im["id"]: (im["width"], im["height"]) for im in gt_clean["images"]}
    for r in preds:
        (x, y, w, h), (W, H) = r["bbox"], size[r["image_id"]]
        assert 0 <= r["score"] <= 1 and x >= 0 and y >= 0 and w >= 1 and h >= 1 and x + w <= W + 1e-6 and y + h <= H + 1e-6  # rounded to 0.01 px
    assert set(errors["error_type"]) == {"missing", "low_iou", "wrong_class", "spurious", "duplicate"}
    # The JSON-encoded boxes in the CSV are the noisy labels' boxes.
    noisy_by = {a["id"]: a["bbox"] for a in gt_noisy["annotations"]}
    for ann_id, bbox in errors.dropna(subset=["ann_id"])[["ann_id", "bbox"]].itertuples(index=False):
        assert json.loads(bbox) == noisy_by[int(ann_id)]
    # The detector learned from 150 noisy images in seconds; the mAP recorded is the one recomputed here.
    assert case.map50 > 0.3
    assert info["map50"] == pytest.approx(average_precision_50(gt_clean, preds)[0])
    assert set(info["timings_s"]) >= {"generate", "train", "predict", "total"}


def test_mosaic_tiles_keep_their_boxes_on_their_pixels():
    rng = np.random.default_rng(0)
    images = np.full((8, 96, 96, 3), 128, np.uint8)
    boxes = []
    for k in range(8):  # one bright rectangle per image, somewhere else each time
        x, y = rng.integers(0, 70, 2)
        images[k, y:y + 16, x:x + 20] = 255
        boxes.append(np.array([[x, y, 20, 16, k]], np.float32))
    x, moved = detector.mosaic_batch(detector._to_tensor(images), boxes, np.random.default_rng(1), p=1.0)
    assert x.shape == (8, 3, 96, 96)
    lit_total = 0
    for k in range(8):
        lit = (x[k, 0] > 0.5).numpy()
        covered = np.zeros_like(lit)
        for bx, by, bw, bh, cls in moved[k]:
            assert cls in range(8) and bw > 0 and bh > 0
            region = lit[int(round(by)):int(round(by + bh)), int(round(bx)):int(round(bx + bw))]
            assert region.mean() > 0.99  # a kept box covers its object's pixels only
            covered[int(round(by)):int(round(by + bh)), int(round(bx)):int(round(bx + bw))] = True
        # lit pixels outside every kept box: only the parts of objects cut by a tile edge and dropped
        assert (lit & ~covered).sum() < 0.5 * 20 * 16 * 4
        lit_total += len(moved[k])
    assert lit_total > 0
    # p = 0: the batch is returned as it was
    same, kept = detector.mosaic_batch(detector._to_tensor(images), boxes, np.random.default_rng(1), p=0.0)
    assert torch.equal(same, detector._to_tensor(images)) and all(a is b for a, b in zip(kept, boxes))
