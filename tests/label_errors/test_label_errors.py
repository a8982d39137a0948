"""Tests of the label-error engine (analysis.label_errors): IoU, pairing,
scoring on hand-built cases, invariants (hypothesis), input errors, the CLI and
the real COCO fixture."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.core.boxes import box_iou, to_xywh, to_xyxy
from analysis.core.errors import InputError
from analysis.label_errors import calibration, coco_files, evidence, pairs
from analysis.label_errors.engine import find_detection_errors
from analysis.label_errors.params import (
    ERROR_TYPES,
    GT_COLUMNS,
    PRED_COLUMNS,
    RESULT_COLUMNS,
    LabelErrorInputError,
    Params,
)

SHARED_COCO = Path(__file__).resolve().parents[3] / "shared/data/coco-val2014-100"
REPO = Path(__file__).resolve().parents[2]


def frames(gt_rows, pred_rows):
    """GT rows (image, ann, cat, x, y, w, h[, crowd]) and prediction rows (image, pred, cat, x, y, w, h, score)."""
    gt = pd.DataFrame([r if len(r) == 8 else (*r, 0) for r in gt_rows],
                      columns=["image_id", "ann_id", "category_id", "x", "y", "w", "h", "iscrowd"])
    pred = pd.DataFrame(pred_rows, columns=list(PRED_COLUMNS))
    return gt, pred


def unseen_box_spurious(unseen_share: float, n_real: int, prior: float = 0.05) -> float:
    """Hand formula of the spurious score of a box with no support at all (see the module docstring).

    ``unseen_share`` is the share of the real GT boxes shaped like it that
    have no support, ``n_real`` the number of real (non-crowd) GT boxes.
    """
    miss = (unseen_share - prior) / (1 - prior) * n_real / (n_real + 100)
    # posterior odds of a real object: prior odds x (recall x 0 + (1 - recall)), with 1 - recall = miss
    odds = (1 - prior) / prior * miss
    return 1 - odds / (1 + odds)


# --------------------------------------------------------------------------- IoU and pairs


def test_box_iou_hand_computed():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [2, 2, 4, 4]])
    b = np.array([[5, 0, 10, 10], [0, 0, 5, 5], [10, 0, 10, 10], [0, 0, 10, 10], [3, 3, 4, 4]])
    # 50/150; 25/100; touching edges; identical; 9 / (16 + 16 - 9)
    np.testing.assert_allclose(box_iou(a, b), [1 / 3, 0.25, 0.0, 1.0, 9 / 23])


def test_overlapping_pairs_equal_brute_force_across_chunks(monkeypatch):
    rng = np.random.default_rng(1)
    img_a, img_b = np.sort(rng.integers(0, 7, 60)), np.sort(rng.integers(0, 7, 50))
    xa = to_xyxy(np.c_[rng.uniform(0, 50, (60, 2)), rng.uniform(1, 30, (60, 2))])
    xb = to_xyxy(np.c_[rng.uniform(0, 50, (50, 2)), rng.uniform(1, 30, (50, 2))])
    monkeypatch.setattr(pairs, "PAIR_CHUNK", 17)  # forces many blocks, some of a single row
    for upper, (ib_img, xb_) in ((False, (img_b, xb)), (True, (img_a, xa))):
        ia, ib, iou, ioa_b = pairs.overlapping_pairs(img_a, xa, ib_img, xb_, upper_only=upper)
        want = {(i, j) for i in range(len(img_a)) for j in range(len(ib_img))
                if img_a[i] == ib_img[j] and (not upper or j > i)
                and box_iou(to_xywh(xa[i:i + 1]), to_xywh(xb_[j:j + 1]))[0] > 0}
        assert set(zip(ia.tolist(), ib.tolist())) == want
        assert np.all(np.diff(ia) >= 0)
        assert all(np.all(np.diff(ib[ia == i]) > 0) for i in set(ia.tolist()))
        np.testing.assert_allclose(iou, box_iou(to_xywh(xa[ia]), to_xywh(xb_[ib])))
        a, b = xa[ia], xb_[ib]
        inter = (np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])) * (
            np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]))
        np.testing.assert_allclose(ioa_b, inter / ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])))


def test_groups_argmax_first_maximum_and_empty_groups():
    keys = np.array([3, 0, 3, 0, 3])
    values = np.array([0.2, 0.0, 0.7, 0.0, 0.7])
    best, arg = pairs.Groups(keys, 5).argmax(values)
    np.testing.assert_allclose(best, [0, 0, 0, 0.7, 0])
    assert arg.tolist() == [-1, -1, -1, 2, -1]  # group 0 has only zeros: no evidence


# --------------------------------------------------------------------------- hand-built scenes


def hand_scene():
    gt, pred = frames(
        [
            (1, 10, 1, 0, 0, 40, 40),  # well drawn, confirmed
            (1, 11, 1, 100, 0, 40, 40),  # badly drawn: the object is 15 px right and 10 px down
            (1, 12, 2, 200, 0, 40, 40),  # labelled class 2, detector says 3
            (1, 13, 1, 300, 0, 40, 40),  # nothing there
            (1, 14, 1, 2, 1, 40, 40),  # second box on the object of 10
            (1, 15, 1, 400, 0, 80, 80, 1),  # crowd region
            (2, 20, 1, 0, 0, 50, 50),  # image 2: confirmed
        ],
        [
            (1, 0, 1, 1, 0, 40, 40, 0.95),
            (1, 1, 1, 115, 10, 40, 40, 0.9),
            (1, 2, 3, 200, 0, 40, 40, 0.9),
            (1, 3, 1, 500, 0, 40, 40, 0.9),  # unlabelled object
            (1, 4, 1, 410, 10, 20, 20, 0.9),  # inside the crowd region
            (2, 5, 1, 0, 0, 50, 50, 0.9),
        ],
    )
    return gt, pred


def test_hand_scene_finds_each_error_type_at_the_right_box():
    gt, pred = hand_scene()
    res = find_detection_errors(gt, pred)
    top = res.sort_values("score").groupby("error_type", observed=True).tail(1).set_index("error_type")
    assert top.loc["low_iou", "ann_id"] == 11 and top.loc["low_iou", "pred_id"] == 1
    np.testing.assert_allclose(top.loc["low_iou", "iou"], box_iou([[100, 0, 40, 40]], [[115, 10, 40, 40]])[0])
    assert top.loc["wrong_class", "ann_id"] == 12 and top.loc["wrong_class", "pred_category_id"] == 3
    # 13 has no support; 1 of the 5 real 40 x 40 boxes is unseen (the 50 x 50 one is seen)
    assert top.loc["spurious", "ann_id"] == 13
    np.testing.assert_allclose(top.loc["spurious", "score"], unseen_box_spurious(1 / 5, 6), rtol=1e-4)
    assert top.loc["duplicate", "ann_id"] == 14 and top.loc["duplicate", "other_ann_id"] == 10
    assert top.loc["missing", "pred_id"] == 3 and pd.isna(top.loc["missing", "ann_id"])
    assert list(top.loc["missing", ["x", "y", "w", "h"]]) == [500, 0, 40, 40]
    assert top.loc["low_iou", ["x", "y", "w", "h"]].tolist() == [100, 0, 40, 40]
    # each error's own type is its strongest candidate, above every other row about it
    strongest = res[res["score"] > 0.5].drop_duplicates(["ann_id"]).dropna(subset=["ann_id"])
    assert dict(zip(strongest["ann_id"], strongest["error_type"])) == {
        13: "spurious", 14: "duplicate", 11: "low_iou", 12: "wrong_class"}
    # crowd: never a candidate, and the prediction inside it is not a missing label
    assert 15 not in set(res["ann_id"].dropna()) and 4 not in set(res["pred_id"].dropna())
    # the confirmed boxes raise nothing of note
    assert not (res.loc[res["ann_id"].isin([10, 20]), "score"] >= 0.2).any()
    assert res["score"].is_monotonic_decreasing and res["score"].between(0, 1).all()
    assert list(res.columns) == list(RESULT_COLUMNS)


def hand_probs(pred, overrides=None):
    """Class probabilities for the hand scene: 0.97 on each prediction's own class, the rest spread."""
    probs = pd.DataFrame(0.01, index=pred.index, columns=[1, 2, 3, 4])
    for i, cat in enumerate(pred["category_id"]):
        probs.iloc[i, probs.columns.get_loc(cat)] = 0.97
    for pred_id, row in (overrides or {}).items():
        probs.loc[pred["pred_id"] == pred_id, list(row)] = list(row.values())
    return probs


def test_class_probabilities_decide_wrong_class():
    gt, pred = hand_scene()

    def wrong_class_score(probs):
        res = find_detection_errors(gt, pred, pred_probs=probs)
        return res.query("error_type == 'wrong_class' and ann_id == 12")["score"].max()

    # box 12 is labelled 2; prediction 2 (class 3) covers it exactly
    sure = wrong_class_score(hand_probs(pred, {2: {2: 0.001, 3: 0.979}}))
    torn = wrong_class_score(hand_probs(pred, {2: {2: 0.45, 3: 0.53}}))
    assert sure > 0.9 and (np.isnan(torn) or torn < 0.2)
    # the same box, labelled 3 as the detector says: no wrong_class
    gt.loc[gt["ann_id"] == 12, "category_id"] = 3
    assert np.isnan(wrong_class_score(hand_probs(pred)))


def test_class_probabilities_of_another_class_weaken_low_iou():
    gt, pred = hand_scene()
    # box 11 (class 1) is badly drawn around the object of prediction 1 (class 1)
    agree = find_detection_errors(gt, pred, pred_probs=hand_probs(pred))
    other = find_detection_errors(gt, pred, pred_probs=hand_probs(pred, {1: {1: 0.0005, 4: 0.9795}}))

    def low_iou(res):
        return res.query("error_type == 'low_iou' and ann_id == 11")["score"].max()
    assert low_iou(agree) > 0.5 and (np.isnan(low_iou(other)) or low_iou(other) < 0.1)


@pytest.mark.parametrize("change, message", [
    (lambda probs: probs.iloc[:-1], "one row per prediction"),
    (lambda probs: probs.drop(columns=3), "no column for categories 3"),
    (lambda probs: probs - 0.05, "non-negative"),
    (lambda probs: probs.to_numpy(), "must be a DataFrame"),
])
def test_bad_class_probabilities(change, message):
    gt, pred = hand_scene()
    probs = hand_probs(pred)
    with pytest.raises(LabelErrorInputError, match=message):
        find_detection_errors(gt, pred, pred_probs=change(probs))


def test_coco_class_probs_come_back_as_a_table(coco_fixture):
    instances = coco_fixture["instances"]
    cats = sorted(c["id"] for c in instances["categories"])
    results = [{**r, "class_probs": [0.9 if c == r["category_id"] else 0.1 / (len(cats) - 1) for c in cats]}
               for r in coco_fixture["predictions"]]
    _, pred, probs = coco_files.coco_to_frames(instances, results)
    assert list(probs.columns) == cats and len(probs) == len(pred)
    assert (probs.to_numpy().argmax(1) == [cats.index(c) for c in pred["category_id"]]).all()
    assert coco_files.coco_to_frames(instances, coco_fixture["predictions"])[2] is None  # none given
    results[0]["class_probs"] = [1.0]
    with pytest.raises(LabelErrorInputError, match=f"list of {len(cats)} numbers"):
        coco_files.coco_to_frames(instances, results)


def test_ignore_flag_acts_like_crowd():
    gt, pred = hand_scene()
    gt["ignore"] = gt["iscrowd"]
    gt["iscrowd"] = 0
    res = find_detection_errors(gt, pred)
    assert 15 not in set(res["ann_id"].dropna()) and 4 not in set(res["pred_id"].dropna())


def test_min_score_and_thresholds_are_parameters():
    gt, pred = hand_scene()
    assert (find_detection_errors(gt, pred, min_score=0.5)["score"] >= 0.5).all()
    # box 11 overlaps its object at IoU 0.31: acceptable under a loose notion of a well-drawn box
    loose = find_detection_errors(gt, pred, low_iou_iou=(0.2, 0.3))
    assert "low_iou" not in set(loose["error_type"])
    assert find_detection_errors(gt, pred, good_box_iou="auto").attrs["params"]["good_box_iou"] == (0.5, 0.7)


def test_two_detected_objects_are_not_duplicates():
    gt, pred = frames([(1, 1, 1, 0, 0, 40, 40), (1, 2, 1, 12, 0, 40, 40)],
                      [(1, 0, 1, 0, 0, 40, 40, 0.9), (1, 1, 1, 12, 0, 40, 40, 0.9)])
    assert box_iou([[0, 0, 40, 40]], [[12, 0, 40, 40]])[0] > 0.5
    res = find_detection_errors(gt, pred)
    assert "duplicate" not in set(res["error_type"])


def test_several_predictions_on_one_unlabelled_object_give_one_candidate():
    gt, pred = frames([(1, 1, 1, 0, 0, 10, 10)],
                      [(1, 0, 1, 0, 0, 10, 10, 0.9), (1, 1, 1, 50, 50, 30, 30, 0.9),
                       (1, 2, 2, 52, 50, 30, 30, 0.8), (1, 3, 1, 51, 51, 30, 30, 0.7)])
    missing = find_detection_errors(gt, pred).query("error_type == 'missing'")
    assert missing["pred_id"].tolist() == [1]


def test_empty_inputs():
    gt, pred = hand_scene()
    no_pred = find_detection_errors(gt, pred.iloc[:0])
    assert set(no_pred["error_type"]) == {"spurious", "duplicate"}
    # no box is seen: either all are spurious or the detector misses everything; the prior of
    # 100 boxes that a detector sees every object still makes each box likely spurious
    np.testing.assert_allclose(no_pred.query("error_type == 'spurious'")["score"], unseen_box_spurious(1.0, 6))
    no_gt = find_detection_errors(gt.iloc[:0], pred)
    assert set(no_gt["error_type"]) == {"missing"} and len(no_gt) == len(pred)
    assert len(find_detection_errors(gt.iloc[:0], pred.iloc[:0])) == 0


def test_string_image_and_annotation_ids():
    gt, pred = hand_scene()
    gt["image_id"] = "img" + gt["image_id"].astype(str)
    pred["image_id"] = "img" + pred["image_id"].astype(str)
    gt["ann_id"] = "a" + gt["ann_id"].astype(str)
    res = find_detection_errors(gt, pred)
    assert res.query("error_type == 'spurious'").iloc[0][["image_id", "ann_id"]].tolist() == ["img1", "a13"]


# --------------------------------------------------------------------------- calibration


def test_calibration_adapts_to_an_under_confident_detector():
    rng = np.random.default_rng(0)
    match = rng.random(2000) < 0.5
    # correct boxes score about 0.3, wrong ones about 0.05: raw scores are far from probabilities
    scores = np.where(match, rng.uniform(0.25, 0.35, 2000), rng.uniform(0.01, 0.1, 2000))
    conf = calibration.calibrate_confidence(scores, match)
    assert conf[match].mean() > 0.9 and conf[~match].mean() < 0.1
    order = np.argsort(scores)
    assert np.all(np.diff(conf[order]) >= -1e-12)  # monotone in the score


def test_calibration_with_uninformative_scores_is_flat():
    rng = np.random.default_rng(0)
    match = rng.random(5000) < 0.7
    conf = calibration.calibrate_confidence(rng.random(5000), match)
    # mostly the base rate, shrunk a little toward the raw score
    assert abs(np.median(conf) - 0.7) < 0.05


def test_miss_rate_hand_computed_for_boxes_of_one_shape():
    # one shape: the fit is the plain share unseen (0.3); minus the spurious share, shrunk by n / (n + 100)
    unseen = np.arange(50) < 15
    rate = calibration.detector_miss_rate(unseen, np.zeros((50, 2)), spurious_prior=0.05)
    np.testing.assert_allclose(rate, (0.3 - 0.05) / 0.95 * 50 / 150)
    # no more unseen boxes than spurious ones expected: the detector misses nothing
    assert (calibration.detector_miss_rate(np.arange(100) < 3, np.zeros(100), spurious_prior=0.05) == 0).all()
    assert calibration.detector_miss_rate(np.zeros(0, bool), np.zeros((0, 2)), spurious_prior=0.05).shape == (0,)


def test_miss_rate_follows_the_shape_the_detector_misses():
    rng = np.random.default_rng(0)
    log_area = rng.uniform(2, 8, 3000)
    unseen = rng.random(3000) < np.where(log_area < 4, 0.5, 0.02)  # small objects: missed half the time
    rate = calibration.detector_miss_rate(unseen, log_area, spurious_prior=0.05)
    assert rate[log_area < 3].mean() > 0.3 and rate[log_area > 6].mean() < 0.01
    assert np.all(np.diff(rate[np.argsort(log_area)]) <= 1e-12)  # one covariate: monotone


@given(st.floats(0, 1), st.floats(0.01, 0.99), st.floats(0, 1))
def test_recall_weighs_the_evidence_between_none_and_full(prob, prior, recall):
    full, none = evidence.with_prior(np.array([prob]), prior), evidence.with_prior(np.array([prob]), prior, recall=0.0)
    np.testing.assert_allclose(none, prior)  # evidence never gathered: the prior stands
    partial = evidence.with_prior(np.array([prob]), prior, recall=recall)
    assert min(full, none) - 1e-12 <= partial <= max(full, none) + 1e-12


def test_unseen_small_boxes_are_weaker_spurious_evidence_when_the_detector_misses_small_objects():
    # 40 images, each with a large box the detector finds and a small one it finds in 1 image of 4
    gt_rows, pred_rows = [], []
    for i in range(40):
        gt_rows += [(i, 2 * i, 1, 0, 0, 40, 40), (i, 2 * i + 1, 1, 100, 100, 8, 8)]
        pred_rows.append((i, 2 * i, 1, 0, 0, 40, 40, 0.9))
        if i % 4 == 0:
            pred_rows.append((i, 2 * i + 1, 1, 100, 100, 8, 8, 0.9))
    gt_rows += [(99, 1000, 1, 0, 0, 40, 40), (99, 1001, 1, 100, 100, 8, 8)]  # both unsupported
    gt, pred = frames(gt_rows, pred_rows)
    res = find_detection_errors(gt, pred).query("error_type == 'spurious'").set_index("ann_id")["score"]
    assert res[1000] > 0.5 > res[1001]
    assert res.idxmax() == 1000


def duplicate_pair_scene(later_x: float):
    """30 images of one detected box (localisation noise: 3 px sd on 40 px) and image 99 with a duplicate pair.

    In image 99 the prediction is at x = 110 and the original box 990 at x = 100 (IoU 30 / 50 = 0.6);
    the later box 991, at ``later_x``, is the duplicate.
    """
    rng = np.random.default_rng(0)
    gt_rows, pred_rows = [], []
    for i in range(30):
        dx, dw = rng.normal(0, 3.0), rng.normal(0, 3.0)
        gt_rows.append((i, i, 1, 0, 0, 40, 40))
        pred_rows.append((i, i, 1, dx, 0, 40 + dw, 40, 0.9))
    gt_rows += [(99, 990, 1, 100, 100, 40, 40), (99, 991, 1, later_x, 100, 40, 40)]
    pred_rows.append((99, 99, 1, 110, 100, 40, 40, 0.9))
    return frames(gt_rows, pred_rows)


def test_duplicate_pair_flags_the_later_box_when_the_fits_differ_by_noise_only():
    # the later box fits a little better (IoU 31.5 / 48.5 = 0.65 vs 0.6), well within 2 sd of the
    # detector's noise (sd about 0.08 here): the difference is no evidence, the later box is flagged
    gt, pred = duplicate_pair_scene(later_x=101.5)
    dup = find_detection_errors(gt, pred).query("error_type == 'duplicate'")
    assert dup["ann_id"].tolist() == [991] and dup["other_ann_id"].tolist() == [990]
    # trusting any difference (0 deviations) flags the box that fits worse: the original
    dup0 = find_detection_errors(gt, pred, duplicate_fit_sd=0).query("error_type == 'duplicate'")
    assert dup0["ann_id"].tolist() == [990]
    # a clearly worse box (IoU 20 / 60 = 0.33 against 0.6) is flagged either way, even the earlier one
    gt, pred = duplicate_pair_scene(later_x=90)
    gt["ann_id"] = gt["ann_id"].replace({990: 991, 991: 990})
    for sd in (0, 2):
        assert find_detection_errors(gt, pred, duplicate_fit_sd=sd).query(
            "error_type == 'duplicate'")["ann_id"].tolist() == [990]


def test_localisation_noise_hand_computed():
    iou = np.r_[np.full(10, 0.8), np.full(10, 0.9), 0.85, 0.3]  # the 0.3 pair is not a clear match
    m, s = calibration.localisation_noise(iou, np.full(len(iou), 0.9))
    # e = 1 - IoU: ten 0.2, ten 0.1 and one 0.15: median 0.15, absolute deviations 0.05 (x20) and 0
    np.testing.assert_allclose([m, s], [0.15, 0.05 * 1.4826])
    assert calibration.localisation_noise(iou[:19], np.full(19, 0.9)) is None  # too few pairs
    assert calibration.localisation_noise(iou, np.full(len(iou), 0.4)) is None  # none confident


# --------------------------------------------------------------------------- invariants


@st.composite
def grid_scene(draw):
    """Non-overlapping boxes (one per 100 px grid cell) on 1-3 images; predictions equal the GT."""
    rows = []
    for image in range(draw(st.integers(1, 3))):
        cells = draw(st.lists(st.integers(0, 15), min_size=1, max_size=10, unique=True))
        for cell in cells:
            x0, y0 = 100 * (cell % 4), 100 * (cell // 4)
            x, y = draw(st.integers(0, 40)), draw(st.integers(0, 40))
            w, h = draw(st.integers(5, 55)), draw(st.integers(5, 55))
            rows.append((image, len(rows), draw(st.integers(1, 3)), x0 + x, y0 + y, w, h,
                         draw(st.floats(0.96, 1.0))))  # confident: 1 - c < min_score
    table = pd.DataFrame(rows, columns=["image_id", "id", "category_id", "x", "y", "w", "h", "score"])
    gt = table.drop(columns="score").rename(columns={"id": "ann_id"})
    pred = table.rename(columns={"id": "pred_id"})
    return gt, pred


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grid_scene())
def test_gt_equal_to_confident_predictions_yields_no_candidates(scene):
    gt, pred = scene
    assert len(find_detection_errors(gt, pred)) == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grid_scene(), st.lists(st.tuples(st.integers(0, 2), st.integers(0, 15)), min_size=1, max_size=6))
def test_real_boxes_inside_crowd_regions_are_supported_by_their_predictions(scene, regions):
    """A crowd region silences the predictions inside it as missing labels only: the real boxes labelled
    there (COCO's people in a crowd) keep the support of their own predictions."""
    gt, pred = scene
    crowd = pd.DataFrame([(image, 1000 + i, 1, 100 * (cell % 4), 100 * (cell // 4), 100, 100, True)
                          for i, (image, cell) in enumerate(regions)], columns=[*GT_COLUMNS, "iscrowd"])
    res = find_detection_errors(pd.concat([gt.assign(iscrowd=False), crowd], ignore_index=True), pred)
    assert len(res) == 0, res[["error_type", "ann_id", "pred_id", "score"]]


@settings(max_examples=40, deadline=None)
@given(grid_scene(), st.integers(0, 10_000))
def test_deleted_box_with_confident_prediction_is_found(scene, pick):
    gt, pred = scene
    k = pick % len(gt)
    res = find_detection_errors(gt.drop(index=k), pred)
    missing = res.query("error_type == 'missing'")
    assert missing["pred_id"].tolist() == [pred.loc[k, "pred_id"]]
    assert missing["score"].iloc[0] > 0.5
    assert res["score"].iloc[0] == missing["score"].iloc[0]  # it leads the ranking


@st.composite
def random_scene(draw):
    """Overlapping random boxes with random classes and scores, GT and predictions independent."""
    def boxes(n):
        return [(draw(st.integers(0, 2)), i, draw(st.integers(1, 3)),
                 *(draw(st.integers(0, 60)) for _ in range(2)), *(draw(st.integers(1, 40)) for _ in range(2)))
                for i in range(n)]
    gt = pd.DataFrame(boxes(draw(st.integers(0, 25))), columns=list(GT_COLUMNS))
    gt["iscrowd"] = [draw(st.booleans()) and draw(st.booleans()) for _ in range(len(gt))]
    pred = pd.DataFrame(boxes(draw(st.integers(0, 25))), columns=list(PRED_COLUMNS[:-1]))
    pred["score"] = [draw(st.floats(0, 1)) for _ in range(len(pred))]
    return gt, pred


def key(res):
    return res.sort_values(["error_type", "ann_id", "pred_id", "score"]).reset_index(drop=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_scene(), st.sampled_from([2.0 ** -6, 0.5, 8.0, 1024.0]))
def test_scaling_all_coordinates_changes_nothing(scene, factor):
    gt, pred = scene
    base = find_detection_errors(gt, pred)
    for df in (gt, pred):
        df[["x", "y", "w", "h"]] = df[["x", "y", "w", "h"]] * factor
    scaled = find_detection_errors(gt, pred)
    a, b = key(base), key(scaled)
    assert a[["error_type", "ann_id", "pred_id", "other_ann_id"]].equals(b[["error_type", "ann_id", "pred_id", "other_ann_id"]])
    np.testing.assert_allclose(a[["score", "iou", "pred_conf"]], b[["score", "iou", "pred_conf"]], atol=1e-12)
    np.testing.assert_allclose(a[["x", "y", "w", "h"]] * factor, b[["x", "y", "w", "h"]])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_scene(), st.randoms(use_true_random=False))
def test_row_order_changes_nothing_and_outputs_are_valid(scene, rnd):
    gt, pred = scene
    base = find_detection_errors(gt, pred)
    assert base["score"].between(0, 1).all() and base["score"].is_monotonic_decreasing
    assert (base["score"] >= Params.min_score).all()
    crowd = set(gt.loc[gt["iscrowd"], "ann_id"])
    assert not crowd & set(base["ann_id"].dropna())
    assert set(base.loc[base["error_type"] == "missing", "ann_id"].isna()) <= {True}
    shuffled = find_detection_errors(gt.sample(frac=1, random_state=rnd.randint(0, 99)),
                                         pred.sample(frac=1, random_state=rnd.randint(0, 99)))
    a, b = key(base), key(shuffled)
    # ties between equal-scoring predictions may be broken differently; the GT-side rows must agree
    on_gt = a["ann_id"].notna()
    assert a[on_gt][["error_type", "ann_id"]].equals(b[b["ann_id"].notna()][["error_type", "ann_id"]])
    np.testing.assert_allclose(a.loc[on_gt, "score"], b.loc[b["ann_id"].notna(), "score"], atol=1e-9)


def detector_like_tables(n_images: int, seed: int = 0):
    """Images with 0-40 GT boxes of 4 classes; predictions: most GT boxes found with jitter, plus clutter."""
    rng = np.random.default_rng(seed)
    n_gt = rng.poisson(rng.choice([1, 6, 20], n_images))
    img = np.repeat(np.arange(n_images), n_gt)
    xy, wh = rng.uniform(0, 400, (len(img), 2)), rng.uniform(5, 120, (len(img), 2))
    gt = pd.DataFrame({"image_id": img, "ann_id": np.arange(len(img)), "category_id": rng.integers(1, 5, len(img)),
                       "x": xy[:, 0], "y": xy[:, 1], "w": wh[:, 0], "h": wh[:, 1],
                       "iscrowd": rng.random(len(img)) < 0.03})
    found = gt.sample(frac=0.8, random_state=seed)
    clutter = gt.sample(frac=0.4, random_state=seed + 1).assign(x=lambda d: rng.uniform(0, 400, len(d)))
    pred = pd.concat([found, clutter], ignore_index=True).drop(columns=["ann_id", "iscrowd"])
    pred[["x", "y", "w", "h"]] += rng.normal(0, 0.05, (len(pred), 4)) * pred[["w", "h", "w", "h"]].to_numpy()
    pred["category_id"] = np.where(rng.random(len(pred)) < 0.1, rng.integers(1, 5, len(pred)), pred["category_id"])
    score = np.r_[rng.beta(5, 2, len(found)), rng.beta(2, 5, len(clutter))]
    return gt, pred.assign(pred_id=np.arange(len(pred)), score=score)


def test_boxes_are_reported_exactly_as_given():
    gt, pred = detector_like_tables(60)
    res = find_detection_errors(gt, pred)
    boxes = ["x", "y", "w", "h"]
    on_gt = res[res["ann_id"].notna()].merge(gt, on="ann_id", suffixes=("", "_given"))
    assert len(on_gt) == res["ann_id"].notna().sum() > 0
    assert (on_gt[boxes].to_numpy() == on_gt[[f"{c}_given" for c in boxes]].to_numpy()).all()
    missing = res[res["error_type"] == "missing"].merge(pred, on="pred_id", suffixes=("", "_given"))
    assert len(missing) > 0
    assert (missing[boxes].to_numpy() == missing[[f"{c}_given" for c in boxes]].to_numpy()).all()
    assert (missing[[f"pred_{c}" for c in boxes]].to_numpy() == missing[[f"{c}_given" for c in boxes]].to_numpy()).all()


@pytest.mark.parametrize("block_cells", [1, 50, 5_000])
def test_blocks_of_images_change_nothing(monkeypatch, block_cells):
    gt, pred = detector_like_tables(300)
    probs = pd.DataFrame(np.random.default_rng(1).dirichlet(np.ones(4), len(pred)), columns=[1, 2, 3, 4])
    for args, params in (((gt, pred), {}), ((gt, pred, probs), {}), ((gt, pred), {"good_box_iou": "auto"})):
        whole = find_detection_errors(*args, **params)
        assert set(whole["error_type"]) == set(ERROR_TYPES)  # every type is exercised
        monkeypatch.setattr(pairs, "BLOCK_CELLS", block_cells)  # one image per block, a few, many
        pd.testing.assert_frame_equal(find_detection_errors(*args, **params), whole)
        monkeypatch.undo()


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("change, message", [
    (lambda gt, pred: (gt.drop(columns="w"), pred), "lacks columns w"),
    (lambda gt, pred: (gt.assign(w=gt["w"].where(gt.index != 2, 0)), pred), "non-positive"),
    (lambda gt, pred: (gt, pred.assign(score=np.nan)), "missing, infinite"),
    (lambda gt, pred: (gt, pred.assign(x="left")), "must be numeric"),
    (lambda gt, pred: (gt.to_dict(), pred), "must be a pandas DataFrame"),
])
def test_bad_tables_raise_one_line_input_errors(change, message):
    gt, pred = change(*hand_scene())
    with pytest.raises(LabelErrorInputError, match=message) as info:
        find_detection_errors(gt, pred)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


@pytest.mark.parametrize("params, message", [
    ({"min_scor": 0.1}, "Unknown parameter"),
    ({"good_box_iou": (0.7, 0.5)}, "good_box_iou must be a pair"),
    ({"nms_iou": 2}, "nms_iou must be a number"),
    ({"duplicate_fit_sd": -1}, "duplicate_fit_sd must be a finite number"),
])
def test_bad_parameters(params, message):
    with pytest.raises(LabelErrorInputError, match=message):
        find_detection_errors(*hand_scene(), **params)


# --------------------------------------------------------------------------- CLI


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "analysis.label_errors", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)


def test_cli_contract_on_the_coco_fixture(coco_fixture, tmp_path):
    instances = coco_fixture["instances"]
    # delete one labelled box and shift another: both must come out on top
    instances["annotations"] = [a for a in instances["annotations"] if a["id"] != 20]
    next(a for a in instances["annotations"] if a["id"] == 31)["bbox"] = [38, 16, 17, 22]
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(instances))
    out = tmp_path / "out.csv"
    proc = run_cli("--gt", gt_path, "--pred", coco_fixture["predictions_json"], "--out", out)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out)
    # the contract's columns first and in its order: automation may read them by position
    assert list(table.columns[:8]) == ["error_type", "score", "image_id", "ann_id", "x", "y", "w", "h"]
    assert table["score"].is_monotonic_decreasing
    top = table.iloc[:2].set_index("error_type")
    assert top.loc["missing", "image_id"] == 2 and pd.isna(top.loc["missing", "ann_id"])
    assert top.loc["missing", ["x", "y", "w", "h"]].tolist() == [3, 4, 21, 16]  # the predicted box (fixture: GT + 1)
    assert top.loc["low_iou", "ann_id"] == 31 and top.loc["low_iou", ["x", "y", "w", "h"]].tolist() == [38, 16, 17, 22]


@pytest.mark.parametrize("case, reason", [
    ("absent", "not found"),
    ("swapped", "looks like a COCO results"),
    ("broken", "not valid JSON"),
    ("unknown_category", "category ids"),
    ("no_predictions", "holds no predictions"),
    ("folder", "is a folder"),
    ("good_box_iou", "--good-box-iou takes 'auto' or two IoUs like 0.5,0.9, got 'foo'"),
])
def test_cli_bad_input_exits_non_zero_with_one_line(coco_fixture, tmp_path, case, reason):
    gt, pred = coco_fixture["instances_json"], coco_fixture["predictions_json"]
    if case == "absent":
        gt = tmp_path / "nope.json"
    elif case == "folder":
        gt = tmp_path
    elif case == "no_predictions":
        pred = tmp_path / "empty.json"
        pred.write_text("[]")
    elif case == "swapped":
        gt, pred = pred, gt
    elif case == "good_box_iou":
        pass
    elif case == "broken":
        pred = tmp_path / "broken.json"
        pred.write_text("[{")
    else:
        pred = tmp_path / "p.json"
        pred.write_text(json.dumps([{**coco_fixture["predictions"][0], "category_id": 99}]))
    extra = ["--good-box-iou", "foo"] if case == "good_box_iou" else []
    proc = run_cli("--gt", gt, "--pred", pred, "--out", tmp_path / "out.csv", *extra)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.csv").exists()


def test_cli_writes_integer_image_ids_when_nothing_is_labelled(coco_fixture, tmp_path):
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps({**coco_fixture["instances"], "annotations": []}))
    out = tmp_path / "out.csv"
    proc = run_cli("--gt", gt_path, "--pred", coco_fixture["predictions_json"], "--out", out)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out, dtype=str)
    assert (table["error_type"] == "missing").all() and table["image_id"].str.fullmatch(r"\d+").all()


def test_predictions_past_the_image_edge_are_clipped(coco_fixture):
    preds = [{**coco_fixture["predictions"][0], "bbox": [50, 30, 40, 40]},  # image is 64 x 48
             {**coco_fixture["predictions"][0], "bbox": [70, 10, 5, 5]}]  # entirely outside
    with pytest.raises(InputError, match="outside the image"):
        coco_files.coco_to_frames(coco_fixture["instances"], preds)
    _, pred, _ = coco_files.coco_to_frames(coco_fixture["instances"], preds, skip_invalid=True)
    assert pred[["x", "y", "w", "h"]].values.tolist() == [[50, 30, 14, 18]]


def test_cli_unwritable_output(coco_fixture, tmp_path):
    proc = run_cli("--gt", coco_fixture["instances_json"], "--pred", coco_fixture["predictions_json"],
                   "--out", tmp_path / "no_dir" / "out.csv")
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- real COCO annotations


@pytest.fixture
def coco100():
    if not (SHARED_COCO / "instances_val2014_100.json").is_file():
        pytest.skip(f"shared COCO fixture not found at {SHARED_COCO} (the ../shared checkout is optional)")
    return SHARED_COCO


def test_real_coco_annotations_no_alarms_on_crowd_boxes(coco100, tmp_path):
    instances = json.loads((coco100 / "instances_val2014_100.json").read_text())
    results = json.loads((coco100 / "detections_jittered_gt_random_scores.json").read_text())
    gt, pred, _ = coco_files.coco_to_frames(instances, results)
    crowd = gt[gt["iscrowd"]]
    assert len(crowd) == 9
    # the fixture's detections are jittered copies of GT boxes; add confident ones on every crowd region
    on_crowd = crowd.assign(pred_id=np.arange(len(crowd)) + len(pred), score=0.99)[list(PRED_COLUMNS)]
    res = find_detection_errors(gt, pd.concat([pred, on_crowd], ignore_index=True))
    assert res["error_type"].nunique() >= 3
    assert not set(crowd["ann_id"]) & set(res["ann_id"].dropna())
    # a prediction on a crowd region is no missing label, and no evidence that a box in it was moved
    assert not set(on_crowd["pred_id"]) & set(res.query("error_type in ['missing', 'low_iou']")["pred_id"].dropna())
    # the real boxes of the crowd images, predicted exactly, raise nothing (they used to be "spurious")
    exact = gt[~gt["iscrowd"]].assign(pred_id=lambda d: np.arange(len(d)) + 10_000, score=0.99)[list(PRED_COLUMNS)]
    assert len(find_detection_errors(gt, pd.concat([exact, on_crowd], ignore_index=True))) == 0
    # the CLI reads the files as they are
    out = tmp_path / "out.csv"
    proc = run_cli("--gt", coco100 / "instances_val2014_100.json",
                   "--pred", coco100 / "detections_jittered_gt_random_scores.json", "--out", out)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out)
    assert not set(crowd["ann_id"]) & set(table["ann_id"].dropna().astype(int))
    assert table["image_id"].isin(gt["image_id"]).all()
