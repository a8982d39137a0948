"""Human in the loop: the Clopper-Pearson bound, the threshold choice, detection matching, inputs and the CLI."""


import numpy as np
import pandas as pd
import pytest
from conftest import cli_json

from analysis.lab import human_in_the_loop as hitl


def test_bound_by_hand():
    # no errors: the bound solves (1 - p)^n = 1 - level
    assert hitl.error_upper_bound(0, 100, 0.95) == pytest.approx(1 - 0.05 ** (1 / 100))
    # 1 error in 10 at 95%: the tabulated one-sided Clopper-Pearson bound
    assert hitl.error_upper_bound(1, 10, 0.95) == pytest.approx(0.3942, abs=1e-4)
    assert hitl.error_upper_bound(5, 5, 0.95) == 1.0
    assert hitl.min_items(0.999, 0.95, steps=1) == 2995
    assert hitl.min_items(0.999, 0.95, steps=20) == 5989


def test_risk_coverage_by_hand_with_ties():
    rc = hitl.risk_coverage([0.5, 0.8, 0.9, 0.8], [1, 0, 1, 1])
    assert list(rc["threshold"]) == [0.9, 0.8, 0.5]
    assert list(rc["accepted"]) == [1, 3, 4] and list(rc["errors"]) == [0, 1, 1]
    assert list(rc["coverage"]) == [0.25, 0.75, 1.0]
    assert rc["accuracy"].tolist() == pytest.approx([1, 2 / 3, 0.75])
    assert (rc["accuracy_lower"] < rc["accuracy"]).all()


def test_threshold_accepts_the_clean_top_and_sends_the_rest_to_people():
    # 10,000 answers: the 7,000 most confident all right, the rest half wrong
    conf = np.linspace(1, 0, 10_000)
    correct = np.r_[np.ones(7000, bool), np.arange(3000) % 2 == 0]
    out = hitl.choose_threshold(conf, correct, target=0.999, level=0.95)
    assert out["auto_share"] == pytest.approx(0.7) and out["human_share"] == pytest.approx(0.3)
    assert out["errors"] == 0 and out["accepted"] == 7000 and out["threshold"] == pytest.approx(conf[6999])
    assert out["accuracy_lower"] >= 0.999 and out["reason"] == ""
    small = hitl.choose_threshold(conf[:3000], correct[:3000], target=0.999)
    assert small["threshold"] is None and small["human_share"] == 1.0 and "at least 5,989" in small["reason"]


def test_threshold_rarely_promises_what_the_model_does_not_deliver():
    # every answer is wrong with probability 1% exactly: a 99% target must not pass more than 5% of the time
    rng = np.random.default_rng(0)
    passed = [hitl.choose_threshold(rng.random(2000), rng.random(2000) > 0.01, 0.99, 0.95)["threshold"] is not None
              for _ in range(200)]
    assert np.mean(passed) <= 0.05


@pytest.mark.parametrize("conf,correct,target,message", [
    ([0.9, 0.8], [1], 0.99, "one confidence per answer"),
    ([0.9, 0.8], [1, 2], 0.99, "true/false or 1/0"),
    ([0.9, np.nan], [1, 0], 0.99, "finite"),
    ([0.9, 0.8], [1, 0], 1.0, "strictly between 0 and 1"),
])
def test_bad_scores_are_refused(conf, correct, target, message):
    with pytest.raises(hitl.HitlError, match=message):
        hitl.choose_threshold(conf, correct, target)


def test_runs_summary_and_measurement():
    conf = np.linspace(1, 0, 8000)
    scores = pd.concat([pd.DataFrame({"run": r, "confidence": conf, "correct": np.arange(8000) < 6000 + 400 * r})
                        for r in range(2)])
    by_run = hitl.thresholds_by_run(scores, [0.99, 0.999])
    s = hitl.summarize(by_run).set_index("target")
    assert s.loc[0.999, "human_share"] == pytest.approx(np.mean([0.25, 0.20]))
    assert s.loc[0.999, "human_low"] < s.loc[0.999, "human_high"] and s.loc[0.999, "runs"] == 2
    band = hitl.curve_band(scores)
    assert band["mean"].iloc[0] == 1 and (band["low"] <= band["high"]).all()
    value, note, detail = hitl.measurement(s.reset_index(), 0.999, "test data")
    assert value == s.loc[0.999, "human_share"] and "99.90%" in note and detail["runs"] == 2
    boot = hitl.bootstrap_runs(scores[scores["run"] == 0].assign(image_id=np.arange(8000) // 4).drop(columns="run"), 3)
    assert sorted(boot["run"].unique()) == [0, 1, 2] and (boot.groupby("run").size() == 8000).all()


def test_detection_matching_by_hand():
    gt = pd.DataFrame({"image_id": ["a", "a", "b"], "category_id": ["cat", "dog", "cat"],
                       "x": [0, 50, 0], "y": [0, 50, 0], "w": [10, 10, 10], "h": [10, 10, 10]})
    pred = pd.DataFrame({"image_id": ["a", "a", "a", "b", "b"], "category_id": ["cat", "cat", "cat", "dog", "cat"],
                         "x": [0, 1, 50, 0, 30], "y": [0, 0, 50, 0, 30], "w": [10, 10, 10, 10, 5],
                         "h": [10, 10, 10, 10, 5], "score": [0.9, 0.95, 0.8, 0.7, 0.6]})
    # the more confident near-copy takes the cat; the exact copy is then a duplicate; wrong class; nothing there
    assert hitl.match_predictions(gt, pred).tolist() == [False, True, False, False, False]


def test_detection_scores_from_a_fiftyone_dataset(tmp_path):
    from conftest import build_error_dataset

    ds = build_error_dataset(tmp_path, "hitl-errors")
    scores = hitl.detection_scores(ds, truth="ground_truth")
    assert len(scores) == 16 and set(scores.columns) == {"image_id", "label", "confidence", "correct"}
    # against the noisy labels: the off box (image 1), the deleted dog (2) and the relabelled cat (3) do not match
    assert int((~scores["correct"]).sum()) == 3
    with pytest.raises(hitl.InputError, match="no detections field 'nothing'"):
        hitl.detection_scores(ds, truth="nothing")


def test_read_scores_csv(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("confidence,correct\n0.9,true\n0.4,0\n0.7,FALSE\n")
    df = hitl.read_scores(good)
    assert df["correct"].tolist() == [True, False, False] and df["confidence"].tolist() == [0.9, 0.4, 0.7]
    for text, message in [("conf,correct\n0.9,1\n", "missing: confidence"),
                          ("confidence,correct\n0.9,maybe\n", "row 2 holds 'maybe'"),
                          ("confidence,correct\nhigh,1\n", "row 2 is not")]:
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(hitl.HitlError, match=message):
            hitl.read_scores(bad)


def test_cli_json_and_bad_input(tmp_path, capsys):
    path = tmp_path / "scores.csv"
    pd.DataFrame({"confidence": np.linspace(1, 0, 1000), "correct": np.arange(1000) < 800}).to_csv(path, index=False)
    assert hitl.main(["run", "--csv", str(path), "--target", "0.99"]) == 0
    out = cli_json(capsys.readouterr().out)
    assert out["source"] == f"CSV {path}" and out["human_share"] == pytest.approx(0.2)
    assert out["first_run"]["errors"] == 0 and out["first_run"]["accepted"] == 800
    assert hitl.main(["run", "--dataset", "no-such-dataset"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: There is no FiftyOne dataset named 'no-such-dataset'."
    assert hitl.main(["run", "--csv", str(path), "--target", "2"]) == 2
    assert "strictly between 0 and 1" in capsys.readouterr().err
