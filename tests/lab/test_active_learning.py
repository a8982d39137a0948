"""Active-learning strategies against hand-computed cases, the savings maths, the simulation and the CLI."""


import numpy as np
import pandas as pd
import pytest
from conftest import cli_json
from skactiveml.classifier import SklearnClassifier
from sklearn.base import BaseEstimator, ClassifierMixin

from analysis.lab import active_learning as al
from analysis.lab import shared


class ColumnsAreProbabilities(ClassifierMixin, BaseEstimator):
    """A real (if trivial) classifier whose class probabilities are columns ``start:start + k`` of X.

    It lets a test write each item's predicted probabilities by hand.
    """

    def __init__(self, start=0, k=4):
        self.start, self.k = start, k

    def fit(self, X, y):
        self.classes_ = np.arange(self.k, dtype=float)
        return self

    def predict_proba(self, X):
        return np.asarray(X, dtype=float)[:, self.start:self.start + self.k]

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def _fitted(X, y, start=0, k=4):
    return SklearnClassifier(ColumnsAreProbabilities(start, k), classes=np.arange(k, dtype=float)).fit(X, y)


# item:         margin  top prob  entropy (nats)
# 0 labelled      -        -        -
# 1 .5 .5 0 0     0.00     0.50     0.693
# 2 .4 .2 .2 .2   0.20     0.40     1.332
# 3 .9 .1 0 0     0.80     0.90     0.325
# 4 .36 .34 .3 0  0.02     0.36     1.096
P = np.array([[1, 0, 0, 0], [.5, .5, 0, 0], [.4, .2, .2, .2], [.9, .1, 0, 0], [.36, .34, .3, 0]])
Y = np.array([0.0, np.nan, np.nan, np.nan, np.nan])


@pytest.mark.parametrize("strategy, first_two", [
    ("margin", [1, 4]),           # smallest top-2 gaps: 0.00, then 0.02
    ("least_confident", [4, 2]),  # smallest top probabilities: 0.36, then 0.40
    ("entropy", [2, 4]),          # largest entropies: 1.332, then 1.096
])
def test_uncertainty_strategies_pick_the_hand_computed_items(strategy, first_two):
    model = _fitted(P, Y)
    assert list(al.query(strategy, P, Y, model, 1, random_state=0)) == first_two[:1]
    assert sorted(al.query(strategy, P, Y, model, 2, random_state=0)) == sorted(first_two)


def test_query_by_committee_picks_the_most_disputed_item():
    # three members, three classes; member m's probabilities are columns 3m..3m+2
    agree, split, all_differ = [1, 0, 0] * 3, [1, 0, 0, 1, 0, 0, 0, 1, 0], [1, 0, 0, 0, 1, 0, 0, 0, 1]
    X = np.array([agree, agree, split, all_differ], dtype=float)
    y = np.array([0.0, np.nan, np.nan, np.nan])
    members = [_fitted(X, y, 3 * m, 3) for m in range(3)]
    # vote entropy: 0 (agree), 0.64 (2-1 split), 1.10 (all differ)
    assert list(al.query("qbc", X, y, None, 1, 0, members)) == [3]
    assert sorted(al.query("qbc", X, y, None, 2, 0, members)) == [2, 3]
    with pytest.raises(al.ActiveLearningError, match="committee"):
        al.query("qbc", X, y, None, 1, 0)


def test_diversity_method_spreads_the_batch_over_clusters():
    rng = np.random.default_rng(0)
    # cluster A: very uncertain (margin ~0), cluster B: a little less (margin ~0.02), far apart in X
    a = np.array([.5, .5, 0, 0]) + rng.normal(0, 1e-3, (6, 4))
    b = np.array([.36, .34, .3, 0]) + rng.normal(0, 1e-3, (6, 4))
    X = np.abs(np.vstack([[1, 0, 0, 0], a, b]))
    X /= X.sum(axis=1, keepdims=True)
    y = np.r_[0.0, np.full(12, np.nan)]
    model = _fitted(X, y)
    in_a = set(range(1, 7))
    assert set(al.query("margin", X, y, model, 2, 0)) <= in_a  # pure uncertainty: both from cluster A
    picked = set(al.query("clue", X, y, model, 2, 0))
    assert len(picked & in_a) == 1 and len(picked - in_a) == 1  # one per cluster


def test_random_and_every_strategy_only_pick_unlabelled_items():
    rng = np.random.default_rng(1)
    X = rng.random((40, 4))
    X /= X.sum(axis=1, keepdims=True)
    y = np.where(rng.random(40) < 0.5, rng.integers(0, 4, 40).astype(float), np.nan)
    model = _fitted(X, y)
    members = [_fitted(X, y) for _ in range(2)]
    for s in al.STRATEGIES:
        picked = al.query(s, X, y, model, 5, 0, members)
        assert len(set(picked)) == 5 and np.isnan(y[picked]).all(), s
    with pytest.raises(al.ActiveLearningError, match="unknown strategy"):
        al.query("oracle", X, y, model, 1, 0)


def test_labels_to_reach_interpolates_between_rounds():
    n, acc = [20, 40, 60, 80], [0.5, 0.6, 0.8, 0.9]
    assert shared.labels_to_reach(n, acc, 0.7) == pytest.approx(50.0)  # halfway from 0.6 to 0.8
    assert shared.labels_to_reach(n, acc, 0.4) == 20.0
    assert shared.labels_to_reach(n, acc, 0.95) == np.inf


def _curves(strategy, per_seed):
    return pd.DataFrame([{"strategy": strategy, "seed": s, "n_labels": n, "accuracy": a}
                         for s, curve in enumerate(per_seed) for n, a in zip([100, 200, 300, 400, 500], curve)])


def test_savings_against_random_by_hand():
    random = [[0.5, 0.6, 0.7, 0.8, 0.9]] * 3                     # reaches 0.9 at 500
    good = [[0.5, 0.7, 0.9, 0.92, 0.93]] * 3                     # reaches 0.9 at 300: 40% fewer
    bad = [[0.4, 0.5, 0.6, 0.7, 0.8]] * 3                        # never reaches 0.9
    df = pd.concat([_curves("random", random), _curves("margin", good), _curves("entropy", bad)])
    out = al.savings(df)
    assert out["target"] == pytest.approx(0.9) and out["budget"] == 500 and out["seeds"] == 3
    m = out["strategies"]["margin"]
    assert m["labels"] == pytest.approx(300) and m["saving"] == pytest.approx(0.4)
    assert m["saving_low"] == pytest.approx(0.4) and m["saving_high"] == pytest.approx(0.4)  # identical seeds
    assert out["strategies"]["entropy"]["saving"] is None and out["strategies"]["entropy"]["p_reached"] == 0
    assert out["best"] == "margin"
    # a lower target: random needs 300 (0.7), margin 200 (0.7) -> a third fewer
    assert al.savings(df, target=0.7)["strategies"]["margin"]["saving"] == pytest.approx(1 / 3)
    value, note, detail = al.measurement(out, "mnist5k")
    assert value == pytest.approx(0.4) and detail["simulated"] is True and detail["strategy"] == "margin"
    assert note == "active-learning simulation on mnist5k, margin vs random at accuracy 0.900, 3 seeds"
    with pytest.raises(al.ActiveLearningError, match="include the 'random' strategy"):
        al.savings(_curves("margin", good))


def test_default_target_is_randoms_mean_accuracy_at_the_budget():
    random = [[0.5, 0.6, 0.7, 0.8, 0.9], [0.5, 0.6, 0.7, 0.8, 0.7]]  # seeds end at 0.9 and 0.7: mean 0.8
    df = pd.concat([_curves("random", random), _curves("margin", [[0.5, 0.9, 0.9, 0.9, 0.95]] * 2)])
    assert al.default_target(df) == pytest.approx(0.8)
    assert al.savings(df)["target"] == pytest.approx(0.8)
    with pytest.raises(al.ActiveLearningError, match="include the 'random' strategy"):
        al.default_target(_curves("margin", [[0.5, 0.9, 0.9, 0.9, 0.95]]))


def test_savings_interval_spans_the_seeds():
    random = [[0.5, 0.6, 0.7, 0.8, 0.9], [0.5, 0.6, 0.7, 0.8, 0.9]]
    margin = [[0.5, 0.9, 0.9, 0.9, 0.9], [0.5, 0.6, 0.7, 0.9, 0.9]]  # seed 0 reaches 0.9 at 200, seed 1 at 400
    out = al.savings(pd.concat([_curves("random", random), _curves("margin", margin)]), level=0.9)
    m = out["strategies"]["margin"]
    # mean curve reaches 0.9 at 400 (20% fewer); a draw of seed 0 twice at 200 (60% fewer, probability 1/4)
    assert m["saving"] == pytest.approx(0.2)
    assert m["saving_low"] == pytest.approx(0.2) and m["saving_high"] == pytest.approx(0.6)


def test_simulation_on_digits_is_paired_and_persisted():
    df = al.cached_simulation("digits", ["random", "margin"], seeds=2, init_size=20, batch_size=20, budget=80,
                              n_jobs=2)
    assert set(df["strategy"]) == {"random", "margin"} and set(df["seed"]) == {0, 1}
    assert sorted(df["n_labels"].unique()) == [20, 40, 60, 80]
    assert df["accuracy"].between(0, 1).all()
    first = df[df["n_labels"] == 20].pivot(index="seed", columns="strategy", values="accuracy")
    assert (first["random"] == first["margin"]).all()  # same seed set, same first model
    again = al.stored_simulation("digits", ["margin", "random"], 2, 20, 20, 80)
    pd.testing.assert_frame_equal(again, df)


@pytest.mark.parametrize("kwargs, message", [
    ({"strategies": ["oracle"]}, "unknown or no strategies"),
    ({"init_size": 5}, "seed set"),
    ({"budget": 10_000}, "pool"),
    ({"seeds": 0}, "seeds must be at least 1"),
])
def test_bad_simulation_requests(kwargs, message):
    X = np.random.default_rng(0).random((200, 5))
    y = np.arange(200) % 10
    with pytest.raises(al.ActiveLearningError, match=message):
        al.simulate(X, y, **{"strategies": ["random"], "budget": 60, **kwargs})


def test_cli_prints_json_and_refuses_bad_input(capsys):
    assert al.main(["run", "--source", "digits", "--strategies", "random,entropy", "--seeds", "2",
                    "--budget", "60", "--jobs", "1"]) == 0
    out = cli_json(capsys.readouterr().out)
    assert out["source"] == "digits" and set(out["strategies"]) == {"random", "entropy"}
    with pytest.raises(SystemExit) as e:
        al.main(["run", "--strategies", "oracle"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "unknown strategies" in err and len(err.strip().splitlines()) == 1
    assert al.main(["run", "--source", "digits", "--init", "5", "--budget", "60"]) == 2
    assert "seed set" in capsys.readouterr().err


def test_diversity_simulation_is_reproducible():
    from analysis.data import sources

    X, y, _ = sources.load_source("digits")
    F = shared.features(X, 20)
    runs = [al.simulate(F, y, ["clue"], seeds=1, budget=60, n_jobs=1)["accuracy"] for _ in range(2)]
    pd.testing.assert_series_equal(*runs)  # k-means gets the run's random state too
