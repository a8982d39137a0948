"""Pre-labelling: actions per box by hand, the speed-up and planner values, a FiftyOne dataset and the CLI."""


import pandas as pd
import pytest
from conftest import cli_json

from analysis.lab import prelabelling as pl

GT = pd.DataFrame({"image_id": ["a", "a", "a", "b"], "category_id": ["cat", "dog", "cat", "dog"],
                   "x": [0, 50, 100, 0], "y": [0, 50, 100, 0], "w": [10] * 4, "h": [10] * 4})
PRED = pd.DataFrame({"image_id": ["a", "a", "a", "b", "b"], "category_id": ["cat", "cat", "cat", "dog", "dog"],
                     "x": [0, 50, 100, 3, 40], "y": [0, 50, 100, 0, 40], "w": [10, 10, 10, 10, 5],
                     "h": [10, 10, 10, 10, 5], "score": [0.9, 0.8, 0.3, 0.7, 0.9]})


def test_actions_by_hand():
    gt_action, outcome = pl.match(GT, PRED, min_confidence=0.5, accept_iou=0.7, fix_iou=0.3)
    # exact copy; wrong class; its only pre-label is below the confidence; IoU 70/130 = 0.54: loose
    assert gt_action.tolist() == ["accept", "fix", "draw", "fix"]
    assert outcome.tolist() == ["right", "wrong_class", None, "loose", "extra"]
    gt_action, outcome = pl.match(GT, PRED, min_confidence=0.2, accept_iou=0.5, fix_iou=0.3)
    assert gt_action.tolist() == ["accept", "fix", "accept", "accept"]


def test_speedup_and_planner_values_by_hand():
    gt_action, outcome = pl.match(GT, PRED)
    counts = pl.image_counts(GT, PRED, gt_action, outcome)
    assert counts.loc["a", ["accept", "fix", "draw", "delete"]].tolist() == [1, 1, 1, 0]
    secs = pl.seconds({"accept": 1, "fix": 2, "draw": 7, "delete": 1})
    s = pl.summarize(counts.sum(), secs)
    # with pre-labels 1 + 2 x 2 + 7 + 1 = 13 s for four boxes; from scratch 4 x 7 = 28 s
    assert s["speedup"] == pytest.approx(28 / 13) and s["seconds_prelabel"] == pytest.approx(13 / 4)
    assert (s["accept"], s["fix"], s["draw"], s["delete"]) == (0.25, 0.5, 0.25, 0.25)
    assert s["anchoring"] == 0.75 and (s["wrong_class"], s["loose"], s["extra"]) == (1, 1, 1)
    p = pl.planner_values(s)
    # three boxes with a usable pre-label: 3 x 7 s / (1 + 2 + 2 + 1 s of deleting) = 3.5x
    assert p["prelabel_acceptance"] == 0.75 and p["prelabel_speedup"] == pytest.approx(3.5) and not p["slower"]
    from analysis.planning import budget

    a = budget.Assumptions(prelabel_acceptance=p["prelabel_acceptance"], prelabel_speedup=p["prelabel_speedup"])
    assert budget.prelabel_speed_factor(a) == pytest.approx(s["speedup"])  # the planner reproduces it
    slow = pl.planner_values(pl.summarize({"accept": 1, "fix": 0, "draw": 0, "delete": 20, "right": 1,
                                           "wrong_class": 0, "loose": 0, "extra": 20}, secs))
    assert slow["prelabel_speedup"] == 1.0 and slow["slower"]


def test_measurement_sends_values_that_reproduce_the_speedup():
    summary = {"accept": 0.5, "fix": 0.25, "speedup": 2.0, "speedup_low": 1.8, "speedup_high": 2.2}
    values, note, detail = pl.measurement(summary, "demo", 0.5, "clean_ground_truth", {"draw": 7}, 0.7, 0.3)
    # acceptance 0.75; 1 / (0.75 / S + 0.25) = 2 gives S = 0.75 / 0.25 = 3
    assert values == {"prelabel_acceptance": 0.75, "prelabel_speedup": pytest.approx(3.0)}
    assert note == "pre-labelling on demo at confidence >= 0.5, vs clean_ground_truth"
    assert detail == {"speedup_overall": 2.0, "low": 1.8, "high": 2.2, "seconds": {"draw": 7}, "accept_iou": 0.7,
                      "fix_iou": 0.3}


def test_sweep_bands_and_bad_settings():
    sw = pl.sweep(GT, PRED, [0.2, 0.5, 0.95], pl.seconds(), runs=50)
    assert sw["prelabels"].tolist() == [5, 4, 0]
    assert (sw["speedup_low"] <= sw["speedup_high"]).all() and sw.loc[2, "speedup"] == pytest.approx(1.0)
    with pytest.raises(pl.PrelabelError, match="fix IoU <= accept IoU"):
        pl.match(GT, PRED, accept_iou=0.3, fix_iou=0.5)
    with pytest.raises(pl.PrelabelError, match="each a number > 0"):
        pl.seconds({"draw": 0})
    with pytest.raises(pl.InputError, match="lack the columns score"):
        pl.sweep(GT, PRED.drop(columns="score"), [0.5], pl.seconds())


def test_fiftyone_dataset_and_cli(tmp_path, capsys):
    from conftest import build_error_dataset

    ds = build_error_dataset(tmp_path, "prelabel-errors")
    gt, pred = pl.read_boxes(ds)  # no clean truth here: ground_truth
    counts = pl.image_counts(gt, pred, *pl.match(gt, pred)).sum()
    # 16 boxes: the 6-px-off cat and the relabelled cat need a fix, the spurious box a drawing; the deleted dog's
    # prediction is a pre-label to delete; the rest are predictions 1 px off (IoU 0.8): accept
    assert counts[["accept", "fix", "draw", "delete"]].tolist() == [13, 2, 1, 1]
    assert pl.main(["run", "--dataset", "prelabel-errors", "--seeds", "20", "--seconds", "fix=3"]) == 0
    out = cli_json(capsys.readouterr().out)
    assert out["truth"] == "ground_truth" and out["gt_boxes"] == 16 and out["seconds"]["fix"] == 3
    assert out["planner"]["prelabel_acceptance"] == pytest.approx(15 / 16) and out["speedup"] > 1
    assert pl.main(["run", "--dataset", "prelabel-errors", "--truth", "nope"]) == 2
    assert "no detections field 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        pl.main(["run", "--dataset", "x", "--seconds", "draw=fast"])
    assert e.value.code == 2 and "--seconds needs action=seconds" in capsys.readouterr().err
