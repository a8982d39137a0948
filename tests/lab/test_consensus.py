"""Consensus with and without the model: input checks, methods by hand, simulated annotators, overlaps, CLI."""


import numpy as np
import pandas as pd
import pytest
from conftest import cli_json

from analysis.lab import consensus as cs


def _table(rows, gold=None):
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    if gold:
        df["gold"] = df["task"].map(gold)
    return df


@pytest.mark.parametrize("df,message", [
    (pd.DataFrame({"task": [1], "label": ["a"]}), "missing: worker"),
    (_table([(1, "ann", "a"), (2, "ann", "b")]), "only one annotator"),
    (_table([(1, "ann", "a"), (1, "bob", None)]), "row 3 has an empty"),
    (_table([(1, "ann", "a"), (1, "ann", "b"), (1, "bob", "a")]), "ann labels task 1 more than once"),
    (_table([(1, "ann", "a"), (1, "bob", "a")], gold={1: "zebra"}), "unknown labels in gold: zebra"),
])
def test_bad_annotations_are_refused(df, message):
    with pytest.raises(cs.ConsensusError, match=message):
        cs.check_annotations(df)


def test_methods_by_hand_and_the_models_vote():
    ann = cs.check_annotations(_table([(1, "a", "cat"), (1, "b", "cat"), (1, "c", "dog"),
                                       (2, "a", "dog"), (2, "b", "dog"), (2, "c", "dog"),
                                       (3, "a", "cat"), (3, "b", "dog")]))
    mv = cs.aggregate(ann, "majority")
    assert mv["1"] == "cat" and mv["2"] == "dog"
    # the model's vote breaks task 3's tie
    proba = pd.DataFrame({"cat": [0.9, 0.2, 0.1], "dog": [0.1, 0.8, 0.9]}, index=["1", "2", "3"])
    assert cs.aggregate(ann, "majority", proba)["3"] == "dog"
    ds = cs.aggregate(ann, "dawid_skene", proba)
    assert ds["1"] == "cat" and ds["2"] == "dog"
    cl = cs.aggregate(ann, "crowdlab", proba)
    assert cl["2"] == "dog" and set(cl.index) == {"1", "2", "3"}
    with pytest.raises(cs.ConsensusError, match="needs the model's probabilities"):
        cs.aggregate(ann, "crowdlab")
    with pytest.raises(cs.ConsensusError, match="two or more annotators"):
        cs.aggregate(ann.drop_duplicates("task"), "crowdlab", proba)


def test_simulated_annotators_follow_skill_and_confusion():
    y = np.repeat(np.arange(3), 1000)
    confusion = np.array([[0, 1, 0], [0.5, 0, 0.5], [0, 1, 0]], float)  # 0 and 2 are only ever mistaken for 1
    ann = cs.simulate_annotators(y, confusion, workers=6, annotators=4, skill_low=0.5, skill_high=0.9)
    assert len(ann) == 3000 * 4 and (ann.groupby("task")["worker"].nunique() == 4).all()
    truth = y[ann["task"].astype(int)].astype(str)
    right = (ann["label"] == truth).groupby(ann["worker"]).mean()
    assert right["w0"] < right["w5"] and right["w0"] == pytest.approx(0.5, abs=0.1)
    wrong = ann[(ann["label"] != truth) & (truth != "1")]
    assert (wrong["label"] == "1").all()
    with pytest.raises(cs.ConsensusError, match="annotators per item"):
        cs.simulate_annotators(y, confusion, workers=3, annotators=4)


def test_simulation_model_helps_and_overlaps_replaced():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c * 4, 1, (100, 2)) for c in range(3)])  # three easy blobs
    y = np.repeat(["a", "b", "c"], 100)
    # Dawid-Skene is left to the other tests: crowd-kit's EM takes seconds per fit even on 300 items
    df = cs.simulate(X, y, seeds=2, methods=("majority", "crowdlab"), n_jobs=1, workers=6, annotators=3,
                     skill_low=0.5, skill_high=0.7)
    s = cs.summarize(df)
    assert set(s["method"]) == {"majority", "crowdlab"} and s["overlap"].max() == 3
    assert not ((s["method"] == "crowdlab") & (s["overlap"] == 1)).any()  # not defined with one annotator
    best = s.groupby("with_model")["mean"].max()
    assert best[True] > best[False]  # an accurate model in the vote beats weak annotators
    out = cs.overlaps_replaced(s)
    assert out["without"] == 3 and out["with"] < 3 and out["replaced"] == 3 - out["with"]
    value, note, detail = cs.measurement(out, "blobs")
    assert value == out["with"] and detail["without"] == 3 and "blobs" in note


def test_overlaps_replaced_by_hand():
    s = pd.DataFrame({"method": "majority", "with_model": [False] * 3 + [True] * 3, "overlap": [1, 2, 3] * 2,
                      "mean": [0.7, 0.8, 0.9, 0.85, 0.92, 0.95]})
    assert cs.overlaps_replaced(s) == {"target": 0.9, "without": 3, "with": 2, "replaced": 1,
                                       "method_without": "majority", "method_with": "majority"}
    assert cs.overlaps_replaced(s, 0.99)["replaced"] is None


def test_default_target_is_the_best_people_only_accuracy_at_the_largest_overlap():
    s = pd.DataFrame({"method": ["majority", "dawid_skene"] * 4, "with_model": [False] * 4 + [True] * 4,
                      "overlap": [1, 1, 3, 3] * 2, "mean": [0.7, 0.72, 0.88, 0.91, 0.8, 0.82, 0.95, 0.97]})
    assert cs.default_target(s) == pytest.approx(0.91)  # Dawid-Skene, 3 annotators, people only
    with pytest.raises(cs.ConsensusError, match="no humans-only"):
        cs.default_target(s[s["with_model"]])


def test_csv_with_a_model_worker_and_cli(tmp_path, capsys):
    rng = np.random.default_rng(1)
    rows = []
    for t in range(30):
        truth = "cat" if t % 2 else "dog"
        for w in ("ann", "bob", "cy"):
            rows.append((t, w, truth if rng.random() < 0.7 else ("dog" if truth == "cat" else "cat"), truth, ""))
        rows.append((t, "net", truth if t % 10 else ("dog" if truth == "cat" else "cat"), truth, 0.9))
    path = tmp_path / "ann.csv"
    pd.DataFrame(rows, columns=["task", "worker", "label", "gold", "confidence"]).to_csv(path, index=False)
    df = cs.on_annotations(cs.read_annotations(path), "net", seeds=2, methods=("majority",))
    assert set(df["overlap"]) == {1, 2, 3} and df["with_model"].any() and (~df["with_model"]).any()
    assert cs.main(["run", "--csv", str(path), "--model-worker", "net", "--seeds", "1"]) == 0
    out = cli_json(capsys.readouterr().out)
    assert out["source"] == f"CSV {path}" and "majority + model" in out["accuracy"] and out["without"] is not None
    assert cs.main(["run", "--csv", str(path), "--model-worker", "nobody"]) == 2
    assert capsys.readouterr().err.strip() == "error: no annotator named 'nobody' to use as the model"
    (tmp_path / "one.csv").write_text("task,worker,label\n1,ann,cat\n2,ann,dog\n")
    assert cs.main(["run", "--csv", str(tmp_path / "one.csv")]) == 2
    assert "only one annotator" in capsys.readouterr().err
