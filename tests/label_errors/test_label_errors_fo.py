"""Tests of the FiftyOne adapter of the label-error engine, on a real (isolated) FiftyOne database."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis  # noqa: F401  (FiftyOne environment defaults before importing fiftyone)
from analysis.data import datasets
from analysis.data import detections as datasets_detections
from analysis.label_errors import fo_adapter as lefo
from analysis.label_errors.engine import find_detection_errors
from analysis.label_errors.params import ERROR_TYPES, PRED_COLUMNS, LabelErrorInputError

fo = pytest.importorskip("fiftyone")
from fiftyone import ViewField as F  # noqa: E402

W, H = 640, 480


def scene():
    """Two images in pixels: the hand-built scene of test_label_errors plus a confirmed image."""
    gt = pd.DataFrame([
        (0, 10, "one", 0, 0, 40, 40, 0), (0, 11, "one", 100, 0, 40, 40, 0), (0, 12, "two", 200, 0, 40, 40, 0),
        (0, 13, "one", 300, 0, 40, 40, 0), (0, 14, "one", 2, 1, 40, 40, 0), (0, 15, "one", 400, 0, 80, 80, 1),
        (1, 20, "one", 0, 0, 50, 50, 0),
    ], columns=["image_id", "ann_id", "category_id", "x", "y", "w", "h", "iscrowd"])
    pred = pd.DataFrame([
        (0, 0, "one", 1, 0, 40, 40, 0.95), (0, 1, "one", 115, 10, 40, 40, 0.9), (0, 2, "three", 200, 0, 40, 40, 0.9),
        (0, 3, "one", 500, 0, 40, 40, 0.9), (0, 4, "one", 410, 10, 20, 20, 0.9), (1, 5, "one", 0, 0, 50, 50, 0.9),
    ], columns=list(PRED_COLUMNS))
    return gt, pred


def rel(row):
    return [row.x / W, row.y / H, row.w / W, row.h / H]


@pytest.fixture
def dataset(tmp_path):
    gt, pred = scene()
    ds = fo.Dataset()
    samples = []
    for image in (0, 1):
        gts = [fo.Detection(label=r.category_id, bounding_box=rel(r), iscrowd=int(r.iscrowd), ann=int(r.ann_id))
               for r in gt[gt.image_id == image].itertuples()]
        preds = [fo.Detection(label=r.category_id, bounding_box=rel(r), confidence=r.score, pid=int(r.pred_id))
                 for r in pred[pred.image_id == image].itertuples()]
        samples.append(fo.Sample(filepath=str(tmp_path / f"{image}.png"),
                                 metadata=fo.ImageMetadata(width=W, height=H),
                                 ground_truth=fo.Detections(detections=gts),
                                 predictions=fo.Detections(detections=preds)))
    ds.add_samples(samples)
    yield ds
    ds.delete()


def label_values(ds, field, name):
    """{our id attribute: value} for one written per-label field."""
    key = "pid" if field == "predictions" else "ann"
    ids, values = ds.values([f"{field}.detections.{key}", f"{field}.detections.{name}"])
    return {i: v for a, b in zip(ids, values) for i, v in zip(a, b or [None] * len(a))}


def test_writes_results_onto_the_labels_and_matches_the_engine(dataset):
    result = lefo.find_label_errors(dataset, min_score=0.2)
    types = label_values(dataset, "ground_truth", "error_type")
    assert types == {10: None, 11: "low_iou", 12: "wrong_class", 13: "spurious", 14: "duplicate", 15: None,
                     20: None}
    assert label_values(dataset, "predictions", "error_type") == {0: None, 1: None, 2: None, 3: "missing",
                                                                  4: None, 5: None}
    scores = label_values(dataset, "ground_truth", "error_score")
    # the unsupported box: likely spurious, not certain (its hand-computed score: test_label_errors)
    assert 0.5 < scores[13] < 1 and 0.5 < scores[11] <= 1
    # the evidence ids point at the real labels
    pred_ids = dict(zip(*(sum(v, []) for v in dataset.values(["predictions.detections.pid",
                                                               "predictions.detections.id"]))))
    gt_ids = dict(zip(*(sum(v, []) for v in dataset.values(["ground_truth.detections.ann",
                                                             "ground_truth.detections.id"]))))
    match = label_values(dataset, "ground_truth", "error_match_id")
    assert match[11] == pred_ids[1] and match[12] == pred_ids[2] and match[14] == gt_ids[10]

    # same candidates, scores and pixel boxes as the pure engine on pixel coordinates
    gt, pred = scene()
    engine = find_detection_errors(gt, pred, min_score=0.2)
    back_gt = {v: k for k, v in gt_ids.items()}
    back_pred = {v: k for k, v in pred_ids.items()}
    mine = result.assign(ann_id=result["ann_id"].map(back_gt).astype("Int64"),
                         pred_id=result["pred_id"].map(back_pred).astype("Int64"))
    cols = ["error_type", "ann_id", "pred_id"]
    a = mine.sort_values(cols).reset_index(drop=True)
    b = engine.sort_values(cols).reset_index(drop=True)
    assert a[cols].equals(b[cols])
    np.testing.assert_allclose(a[["score", "iou"]], b[["score", "iou"]], atol=1e-9)
    np.testing.assert_allclose(a[["x", "y", "w", "h"]], b[["x", "y", "w", "h"]], atol=1e-6)
    assert (result["filepath"].str.endswith(".png")).all()


def test_fields_are_filterable_and_run_is_recorded(dataset):
    lefo.find_label_errors(dataset, min_score=0.2)
    spurious = dataset.filter_labels("ground_truth", F("error_type") == "spurious")
    assert spurious.count("ground_truth.detections") == 1
    assert dataset.filter_labels("predictions", F("error_score") > 0.5).count("predictions.detections") == 1
    assert "ground_truth.detections.error_type" in dataset.get_field_schema(flat=True)
    assert dataset.list_runs() == [lefo.RUN_KEY]
    info = dataset.get_run_info(lefo.RUN_KEY)
    assert info.config.gt_field == "ground_truth" and info.config.params["min_score"] == 0.2
    counts = dataset.load_run_results(lefo.RUN_KEY).counts
    assert counts["spurious"] >= 1 and counts["missing"] == 1 and set(counts) == set(ERROR_TYPES)


def test_rerun_replaces_previous_results_including_outside_a_view(dataset):
    lefo.find_label_errors(dataset, min_score=0.2)
    assert label_values(dataset, "ground_truth", "error_type")[11] == "low_iou"
    # a stricter re-run on the first image only: earlier values vanish everywhere
    view = dataset.limit(1)
    result = lefo.find_label_errors(view, min_score=0.99)
    types = label_values(dataset, "ground_truth", "error_type")
    # only the near-certain candidates of the first image are left (the unsupported 13 scores
    # 0.875: one of the image's five boxes unseen hints at a detector that misses some; see test_label_errors)
    assert {k for k, v in types.items() if v} == {12, 14}
    assert (result["score"] >= 0.99).all()
    assert not any(label_values(dataset, "predictions", "error_type").values())
    assert dataset.get_run_info(lefo.RUN_KEY).config.params["min_score"] == 0.99
    assert len(dataset.list_runs()) == 1


def test_a_run_on_other_fields_clears_the_last_runs_flags(dataset):
    # the App filters on error_type: flags of the previous run's ground truth must not outlive it
    dataset.clone_sample_field("ground_truth", "reviewed_truth")
    lefo.find_label_errors(dataset, min_score=0.2)
    assert any(label_values(dataset, "ground_truth", "error_type").values())
    lefo.find_label_errors(dataset, gt_field="reviewed_truth", min_score=0.2)
    assert not any(label_values(dataset, "ground_truth", "error_type").values())
    assert any(label_values(dataset, "reviewed_truth", "error_type").values())


def test_a_loaded_dataset_shows_a_run_made_by_another_process(dataset):
    # FiftyOne hands back its in-memory copy of a dataset: without a reload the app kept showing (and let
    # reviewers decide on) the candidates of a run that the CLI or another reviewer's app had replaced
    dataset.persistent = True
    lefo.find_label_errors(dataset, min_score=0.2)
    assert datasets.load(dataset.name).get_run_info(lefo.RUN_KEY).config.params["min_score"] == 0.2
    subprocess.run([sys.executable, "-m", "analysis.label_errors_fo", "--dataset", dataset.name, "--min-score",
                    "0.99"], check=True, capture_output=True, env=os.environ,
                   cwd=Path(__file__).resolve().parents[2])
    again = datasets.load(dataset.name)
    assert again.get_run_info(lefo.RUN_KEY).config.params["min_score"] == 0.99
    assert len(lefo.load_candidates(again)) == 2  # labels 12 and 14 (see the re-run test above)


def test_load_candidates_reads_back_one_row_per_flagged_label(dataset):
    assert list(lefo.load_candidates(dataset).columns)[:6] == ["sample_id", "filepath", "label_field", "label_id",
                                                                "label", "error_type"]
    assert len(lefo.load_candidates(dataset)) == 0  # no run yet
    result = lefo.find_label_errors(dataset, min_score=0.2)
    table = lefo.load_candidates(dataset)
    expected = pd.concat([result.dropna(subset=["ann_id"]).drop_duplicates("ann_id"),
                          result[result["error_type"] == "missing"]])
    assert len(table) == len(expected) == 5
    assert table["error_score"].is_monotonic_decreasing
    got = table.set_index("label_id")
    for row in expected.itertuples():
        label = row.ann_id if pd.notna(row.ann_id) else row.pred_id
        assert got.loc[label, "error_type"] == row.error_type
        assert got.loc[label, "error_score"] == pytest.approx(row.score)
        assert got.loc[label, "sample_id"] == row.image_id
        np.testing.assert_allclose(got.loc[label, ["x", "y", "w", "h"]].to_numpy(float) * [W, H, W, H],
                                   [row.x, row.y, row.w, row.h])
    assert set(table["label_field"]) == {"ground_truth", "predictions"}


def test_metadata_is_computed_when_missing(coco_fixture):
    inst = coco_fixture["instances"]
    ds = fo.Dataset()
    samples = []
    for im in inst["images"]:
        anns = [a for a in inst["annotations"] if a["image_id"] == im["id"]]
        to_rel = lambda b: [b[0] / im["width"], b[1] / im["height"], b[2] / im["width"], b[3] / im["height"]]  # noqa: E731
        samples.append(fo.Sample(
            filepath=str(coco_fixture["images_dir"] / im["file_name"]),
            ground_truth=fo.Detections(detections=[fo.Detection(label=str(a["category_id"]), bounding_box=to_rel(a["bbox"]))
                                                   for a in anns]),
            # the first box of each image is predicted; the second is left unsupported
            predictions=fo.Detections(detections=[fo.Detection(label=str(anns[0]["category_id"]),
                                                               bounding_box=to_rel(anns[0]["bbox"]), confidence=0.9)])))
    ds.add_samples(samples)
    try:
        result = lefo.find_label_errors(ds)
        # each image's top spurious candidate is its unsupported box
        spurious = result[result["error_type"] == "spurious"].sort_values("score").groupby("image_id").tail(1)
        assert len(spurious) == len(inst["images"])
        np.testing.assert_allclose(spurious[["x", "y", "w", "h"]].to_numpy(float),
                                   np.tile([30, 10, 25, 30], (len(spurious), 1)), atol=1e-6)
        assert ds.count("metadata.width") == len(ds)
    finally:
        ds.delete()


def test_bad_fields_give_clear_errors(dataset):
    with pytest.raises(LabelErrorInputError, match="no ground-truth field 'gt'"):
        lefo.find_label_errors(dataset, gt_field="gt")
    dataset.set_values("cls", [fo.Classification(label="a")] * len(dataset))
    with pytest.raises(LabelErrorInputError, match="not Detections"):
        lefo.find_label_errors(dataset, pred_field="cls")
    dataset.set_values("predictions.detections.confidence", [[None] * 5 + [0.3], [0.5]])
    with pytest.raises(LabelErrorInputError, match="have no confidence"):
        lefo.find_label_errors(dataset)
    with pytest.raises(LabelErrorInputError, match="has no samples"):
        lefo.find_label_errors(dataset.limit(0))
    dataset.clone_sample_field("ground_truth", "no_boxes")
    dataset.set_values("no_boxes", [fo.Detections()] * len(dataset))
    with pytest.raises(LabelErrorInputError, match="'no_boxes' holds no predictions on these 2 samples"):
        lefo.find_label_errors(dataset, pred_field="no_boxes")


def test_prediction_logits_are_the_engines_class_probabilities(dataset):
    classes = ["one", "two", "three"]
    probs = {0: [0.97, 0.02, 0.01], 1: [0.97, 0.02, 0.01], 2: [0.001, 0.019, 0.98], 3: [0.9, 0.05, 0.05],
             4: [0.9, 0.05, 0.05], 5: [0.97, 0.02, 0.01]}
    pids, = [dataset.values("predictions.detections.pid")]
    dataset.set_values("predictions.detections.logits", [[np.log(probs[p]).tolist() for p in ids] for ids in pids])
    dataset.classes = {"predictions": classes}
    dataset.save()
    result = lefo.find_label_errors(dataset, min_score=0.2)
    gt, pred = scene()
    table = pd.DataFrame([probs[p] for p in pred["pred_id"]], columns=classes)
    engine = find_detection_errors(gt, pred, pred_probs=table, min_score=0.2)
    assert engine["score"].tolist() != find_detection_errors(gt, pred, min_score=0.2)["score"].tolist()
    np.testing.assert_allclose(np.sort(result["score"]), np.sort(engine["score"]), atol=1e-9)
    # logits without a class list to read them by: a one-line error
    dataset.classes = {}
    dataset.save()
    with pytest.raises(LabelErrorInputError, match="one value per class"):
        lefo.find_label_errors(dataset)


def test_cli_finds_and_writes_label_errors(dataset):
    import json
    import subprocess
    import sys
    from pathlib import Path

    dataset.persistent = True  # another process loads it by name
    run = [sys.executable, "-m", "analysis.label_errors_fo", "--dataset", dataset.name]
    root = Path(__file__).resolve().parents[2]
    ok = subprocess.run(run + ["--min-score", "0.2"], cwd=root, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    dataset.reload()  # written by the other process
    written = lefo.load_candidates(dataset)
    # by_type: what the labels carry; candidates: the full table, where a label may have several types
    assert out["by_type"] == written["error_type"].value_counts().to_dict()
    assert out["labels_flagged"] == len(written) > 0 and sum(out["candidates_by_type"].values()) == out["candidates"]
    assert dataset.load_run_results(lefo.RUN_KEY).flagged == out["by_type"]
    assert dataset.get_run_info(lefo.RUN_KEY).config.params["min_score"] == 0.2
    # the trust figure: each type's top candidates' mean score, at k = 10, 50, ... and all of a short list
    assert set(out["expected_precision_top_k"]) == set(out["candidates_by_type"])
    for kind, by_k in out["expected_precision_top_k"].items():
        assert str(min(out["candidates_by_type"][kind], 10)) in by_k
        assert all(0.2 <= v <= 1 for v in by_k.values())  # every candidate scored at least --min-score
    for extra, message in ((["--gt-field", "nope"], "nope"), (["--dataset", "no-such-dataset"], "no-such-dataset")):
        bad = subprocess.run(run + extra, cwd=root, capture_output=True, text=True)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and message in bad.stderr


def test_boxes_without_area_are_left_out_counted_and_shown(dataset):
    before = lefo.find_label_errors(dataset, min_score=0.2)
    first, second = dataset.first(), dataset.last()
    first.ground_truth.detections.append(fo.Detection(label="one", bounding_box=[0.5, 0.5, 0.0, 0.1], ann=99))
    second.predictions.detections.append(fo.Detection(label="one", bounding_box=[0.2, 0.2, 0.1, -0.05],
                                                      confidence=0.9, pid=99))
    first.save()
    second.save()
    after = lefo.find_label_errors(dataset, min_score=0.2)
    # the same ranking as without them, and the run says what it left out
    cols = ["error_type", "score"]
    pd.testing.assert_frame_equal(after[cols].reset_index(drop=True), before[cols].reset_index(drop=True))
    counts = {"ground truth": 1, "predictions": 1}
    assert after.attrs["skipped_without_area"] == counts == lefo.last_run(dataset)["skipped_without_area"]
    # the view to open in the App holds exactly those boxes
    view = datasets_detections.without_area_view(dataset, "ground_truth")
    assert view.values("ground_truth.detections.ann", unwind=True) == [99]
    view = datasets_detections.without_area_view(dataset, "predictions")
    assert view.values("predictions.detections.pid", unwind=True) == [99]
