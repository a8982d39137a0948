"""The crop classifier: a second opinion on every box (class, object or not, where) from its image crop."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from analysis.core.boxes import box_iou
from analysis.core.errors import InputError
from analysis.data.crops import crop_pixels
from analysis.label_errors import evidence
from analysis.label_errors.crop_classifier import crop_opinion
from analysis.label_errors.engine import find_detection_errors
from analysis.label_errors.params import PRED_COLUMNS, BoxOpinion, LabelErrorInputError

ROOT = Path(__file__).resolve().parents[2]
SIDE, BOX = 200, 30


#: Where scenes(..., clutter=True) draws half a cross (one bar) that nobody labels, xywh.
CLUTTER = (55, 55, BOX, BOX)


def scenes(folder: Path, n_images=12, wrong=(3, 1), moved=(5, 2), spurious=(7, 3), clutter=False):
    """Images with 4 slots each, alternately a filled square ("square") and a cross ("cross"), on a noisy
    background. Label errors: at ``wrong`` = (image, slot) a square labelled "cross"; at ``moved`` the box is
    shifted by 40% of its side; at ``spurious`` nothing is drawn but the box is labelled. With ``clutter``,
    every image also shows an unlabelled bar at :data:`CLUTTER`. Returns gt (pixels, with columns ``error``
    and the true box ``tx, ty``) and the image paths."""
    rng = np.random.default_rng(0)
    rows, paths = [], {}
    for i in range(n_images):
        im = Image.fromarray(rng.integers(0, 60, (SIDE, SIDE), dtype=np.uint8))
        draw = ImageDraw.Draw(im)
        for slot in range(4):
            x, y = 10 + 90 * (slot % 2), 10 + 90 * (slot // 2)
            kind = "square" if (i + slot) % 2 == 0 else "cross"
            if (i, slot) == spurious:
                pass
            elif kind == "square":
                draw.rectangle([x + 4, y + 4, x + BOX - 4, y + BOX - 4], fill=255)
            else:
                draw.line([x, y + BOX // 2, x + BOX, y + BOX // 2], fill=255, width=4)
                draw.line([x + BOX // 2, y, x + BOX // 2, y + BOX], fill=255, width=4)
            error = {wrong: "wrong_class", moved: "low_iou", spurious: "spurious"}.get((i, slot))
            label = "cross" if error == "wrong_class" else kind
            assert error != "wrong_class" or kind == "square"
            shift = 0.4 * BOX if error == "low_iou" else 0
            rows.append((i, 100 * i + slot, label, x + shift, y + shift, BOX, BOX, error, x, y))
        if clutter:
            x, y = CLUTTER[:2]
            draw.line([x, y + BOX // 2, x + BOX, y + BOX // 2], fill=255, width=4)
        paths[i] = folder / f"{i}.png"
        im.save(paths[i])
    gt = pd.DataFrame(rows, columns=["image_id", "ann_id", "category_id", "x", "y", "w", "h", "error", "tx", "ty"])
    return gt, paths


def test_out_of_fold_opinion_doubts_the_errors(tmp_path):
    gt, paths = scenes(tmp_path)
    opinion = crop_opinion(gt, paths)
    probs = opinion.class_probs
    assert list(probs.columns) == ["cross", "square"] and probs.index.equals(gt.index)
    np.testing.assert_allclose(probs.sum(1), 1.0)
    own = probs.to_numpy()[np.arange(len(gt)), np.searchsorted(probs.columns, gt["category_id"])]
    error = gt["error"].to_numpy()
    # the model that never saw the wrong box calls it a square: its label gets the lowest probability
    assert own[error == "wrong_class"][0] < 0.5 and own[error == "wrong_class"][0] == own.min()
    # the box on nothing is the least likely object; objects are likely ones
    assert opinion.object_prob[error == "spurious"][0] == opinion.object_prob.min()
    assert np.median(opinion.object_prob) > 0.9 and 0 < opinion.object_prior < 1
    # the moved box: the model's box is much closer to the object than the drawn one
    true_box = gt[["tx", "ty", "w", "h"]].to_numpy(float)
    moved = error == "low_iou"
    drawn_iou = box_iou(gt[["x", "y", "w", "h"]].to_numpy(float)[moved], true_box[moved])[0]
    assert box_iou(opinion.box[moved], true_box[moved])[0] > drawn_iou + 0.2
    # ... and it sees that the drawn box fits badly (true IoU 0.22), while well drawn boxes fit
    real = (error != "spurious") & ~moved
    assert opinion.drawn_iou[moved][0] < 0.5 < np.median(opinion.drawn_iou[real]) - 0.2
    assert opinion.attrs["accuracy"] >= 0.9 and opinion.attrs["median_iou"] > 0.75


def test_the_detectors_false_alarms_on_clutter_teach_it_background(tmp_path):
    # every image has an unlabelled bar (half a cross) on which the detector fires: random background
    # windows rarely land on it, the detector's false alarms on the other images' bars always do
    gt, paths = scenes(tmp_path, clutter=True)
    real = gt[gt["error"] != "spurious"]
    on_objects = real.assign(x=real["tx"], y=real["ty"])[["image_id", "x", "y", "w", "h"]]
    on_clutter = pd.DataFrame([(i, *CLUTTER) for i in paths], columns=["image_id", "x", "y", "w", "h"])
    pred = pd.concat([on_objects, on_clutter], ignore_index=True)
    object_prob = crop_opinion(gt, paths, pred).pred_object_prob
    assert object_prob[len(on_objects):].max() < 0.5 < np.median(object_prob[:len(on_objects)])
    # inside a crowd region (IoU 0.18 with the bar's box) the false alarms may be real objects nobody
    # labelled: they teach nothing
    x, y, w, h = CLUTTER
    crowd = pd.DataFrame([(i, 1000 + i, "cross", x - 20, y - 20, w + 40, h + 40, True) for i in paths],
                         columns=["image_id", "ann_id", "category_id", "x", "y", "w", "h", "iscrowd"])
    object_prob = crop_opinion(pd.concat([gt.assign(iscrowd=False), crowd], ignore_index=True), paths,
                               pred).pred_object_prob
    assert np.median(object_prob[len(on_objects):]) > 0.5


def test_the_engine_combines_the_second_opinion(tmp_path):
    gt, paths = scenes(tmp_path)
    # a detector that finds every real object where it is, but cannot tell the classes apart (0.5 / 0.5);
    # with an extra, confident prediction on the empty slot (a detector's false alarm)
    real = gt[gt["error"] != "spurious"]
    pred = real.assign(x=real["tx"], y=real["ty"], pred_id=np.arange(len(real)), score=0.9)
    pred = pd.concat([pred, gt[gt["error"] == "spurious"].assign(pred_id=len(real), score=0.9)])
    pred = pred.drop(columns="ann_id")[list(PRED_COLUMNS)].reset_index(drop=True)
    pred_probs = pd.DataFrame(0.5, index=pred.index, columns=["cross", "square"])
    gt_only = gt[["image_id", "ann_id", "category_id", "x", "y", "w", "h"]]
    alone = find_detection_errors(gt_only, pred, pred_probs=pred_probs, min_score=0.0)
    both = find_detection_errors(gt_only, pred, pred_probs=pred_probs, min_score=0.0,
                                    opinion=crop_opinion(gt, paths, pred))

    def ranked(result, kind):
        return result[result["error_type"] == kind].set_index("ann_id")["score"].sort_values(ascending=False)

    wrong_id = int(gt.loc[gt["error"] == "wrong_class", "ann_id"].iloc[0])
    assert ranked(alone, "wrong_class").nunique() == 1  # no evidence: every box alike
    assert ranked(both, "wrong_class").index[0] == wrong_id and ranked(both, "wrong_class").iloc[0] > 0.5
    # the moved box: the second witness also sees the object elsewhere, so its score stays high
    moved_id = int(gt.loc[gt["error"] == "low_iou", "ann_id"].iloc[0])
    assert ranked(both, "low_iou").index[0] == moved_id == ranked(alone, "low_iou").index[0]
    assert ranked(both, "low_iou").iloc[0] > 0.8 * ranked(alone, "low_iou").iloc[0]
    # the prediction on nothing: the crop model sees no object there, so "missing" loses weight
    false_alarm = both[(both["error_type"] == "missing") & (both["pred_id"] == len(real))]["score"]
    assert false_alarm.empty or false_alarm.iloc[0] < alone[(alone["error_type"] == "missing")
                                                              & (alone["pred_id"] == len(real))]["score"].iloc[0]


def test_an_opinion_of_the_wrong_shape_is_refused(tmp_path):
    gt, paths = scenes(tmp_path, n_images=3)
    gt = gt[["image_id", "ann_id", "category_id", "x", "y", "w", "h"]]
    pred = gt.assign(pred_id=np.arange(len(gt)), score=0.9).drop(columns="ann_id")
    probs = pd.DataFrame(0.5, index=gt.index, columns=["cross", "square"])
    with pytest.raises(LabelErrorInputError, match="box must have shape"):
        find_detection_errors(gt, pred, opinion=BoxOpinion(probs, box=np.zeros((2, 4))))
    with pytest.raises(LabelErrorInputError, match="object_prob must be probabilities"):
        find_detection_errors(gt, pred, opinion=BoxOpinion(probs, object_prob=np.full(len(gt), 2.0)))
    with pytest.raises(LabelErrorInputError, match="drawn_iou must be IoUs"):
        find_detection_errors(gt, pred, opinion=BoxOpinion(probs, drawn_iou=np.full(len(gt), -0.5)))


def test_combining_posteriors_counts_the_prior_once():
    prior = 0.05
    # an uninformative second opinion (its posterior equals the prior) changes nothing
    np.testing.assert_allclose(evidence.combine_independent(np.array([0.3]), np.array([prior]), prior), [0.3])
    # two opinions at odds 1/3 each, prior odds 1/19: 1/3 * 1/3 * 19 = 19/9
    np.testing.assert_allclose(evidence.combine_independent(np.array([0.25]), np.array([0.25]), prior), [19 / 28])


def test_crowd_boxes_get_no_opinion(tmp_path):
    gt, paths = scenes(tmp_path)
    gt["iscrowd"] = False
    gt.loc[0, "iscrowd"] = True
    opinion = crop_opinion(gt, paths)
    np.testing.assert_allclose(opinion.class_probs.iloc[0].to_numpy(), 0.5)
    assert opinion.object_prob[0] == opinion.object_prior and np.isnan(opinion.box[0]).all()
    assert np.isfinite(opinion.box[1:]).all()


def test_unreadable_images_and_boxes_outside_the_image(tmp_path):
    gt, paths = scenes(tmp_path, n_images=2)
    with pytest.raises(InputError, match="no readable file"):
        crop_opinion(gt, {**paths, 1: tmp_path / "gone.png"})
    # a box half outside the image is cut with black padding, not refused
    outside = pd.DataFrame([(0, SIDE - 10, SIDE - 10, 20, 20)], columns=["image_id", "x", "y", "w", "h"])
    X, valid = crop_pixels(outside, paths)
    assert X.shape == (1, 256) and valid[0] and X.max() > 0


def test_cli_images_option(tmp_path):
    gt, paths = scenes(tmp_path)
    cats = {"cross": 1, "square": 2}
    instances = {"images": [{"id": i, "file_name": p.name, "width": SIDE, "height": SIDE} for i, p in paths.items()],
                 "categories": [{"id": v, "name": k} for k, v in cats.items()],
                 "annotations": [{"id": int(r.ann_id), "image_id": int(r.image_id), "category_id": cats[r.category_id],
                                  "bbox": [r.x, r.y, r.w, r.h], "area": r.w * r.h, "iscrowd": 0}
                                 for r in gt.itertuples()]}
    results = [{"image_id": int(r.image_id), "category_id": cats[r.category_id], "bbox": [r.x, r.y, r.w, r.h],
                "score": 0.9, "class_probs": [0.5, 0.5]} for r in gt.itertuples()]
    (tmp_path / "gt.json").write_text(json.dumps(instances))
    (tmp_path / "pred.json").write_text(json.dumps(results))
    out = tmp_path / "out.csv"
    cmd = [sys.executable, "-m", "analysis.label_errors", "--gt", str(tmp_path / "gt.json"),
           "--pred", str(tmp_path / "pred.json"), "--out", str(out), "--images", str(tmp_path)]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    top = pd.read_csv(out).query("error_type == 'wrong_class'").iloc[0]
    assert top["ann_id"] == int(gt.loc[gt["error"] == "wrong_class", "ann_id"].iloc[0])
    bad = subprocess.run(cmd[:-1] + [str(tmp_path / "nowhere")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "no readable file" in bad.stderr


def test_fiftyone_adapter_with_the_crop_classifier(tmp_path):
    import analysis  # noqa: F401  (FiftyOne environment defaults before importing fiftyone)
    from analysis.label_errors import fo_adapter as lefo

    fo = pytest.importorskip("fiftyone")
    gt, paths = scenes(tmp_path)
    ds = fo.Dataset()
    try:
        samples = []
        for i, path in paths.items():
            dets = [fo.Detection(label=r.category_id, bounding_box=[r.x / SIDE, r.y / SIDE, r.w / SIDE, r.h / SIDE],
                                 ann=int(r.ann_id)) for r in gt[gt.image_id == i].itertuples()]
            preds = [fo.Detection(label=d.label, bounding_box=d.bounding_box, confidence=0.9, logits=[0.0, 0.0])
                     for d in dets]
            samples.append(fo.Sample(filepath=str(path), ground_truth=fo.Detections(detections=dets),
                                     predictions=fo.Detections(detections=preds)))
        ds.add_samples(samples)
        ds.default_classes = ["cross", "square"]
        reports = []
        result = lefo.find_label_errors(ds, crop_classifier=True, min_score=0.0,
                                        progress=lambda f, m: reports.append((f, m)))
        # the long part reports as it goes: images read, each fold's model trained, then the boxes judged, in order
        fractions, messages = zip(*reports)
        assert list(fractions) == sorted(fractions) and 0 <= fractions[0] < 0.2 <= fractions[-1] < 1
        stage = [next(i for i, s in enumerate(("Reading images", "Training model", "Judging the boxes"))
                      if m.startswith(s)) for m in messages]
        assert stage == sorted(stage) and set(stage) == {0, 1, 2}
        assert any(m.startswith("Training model 3 of 3") for m in messages)
        top = result[result["error_type"] == "wrong_class"].iloc[0]
        anns, types = ds.values(["ground_truth.detections.ann", "ground_truth.detections.error_type"])
        flagged = {a: t for aa, tt in zip(anns, types) for a, t in zip(aa, tt or [None] * len(aa))}
        wrong_id = int(gt.loc[gt["error"] == "wrong_class", "ann_id"].iloc[0])
        assert flagged[wrong_id] == "wrong_class" and top["score"] > 0.5
        assert ds.get_run_info(lefo.RUN_KEY).config.params["crop_classifier"]["accuracy"] >= 0.9
    finally:
        ds.delete()
