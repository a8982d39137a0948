"""Pseudo-labelling simulation: known cases, the summary, persistence and the CLI."""


import numpy as np
import pandas as pd
import pytest
from conftest import cli_json

from analysis.lab import pseudo_labelling as pl


def test_separable_blobs_get_every_pseudo_label_right():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-5, 0.5, (150, 2)), rng.normal(5, 0.5, (150, 2))])
    y = np.repeat(["cat", "dog"], 150)
    df = pl.simulate(X, y, [0.9], seeds=2, labelled_size=10, test_size=60, n_jobs=1)
    assert len(df) == 2 and set(df["seed"]) == {0, 1}
    # 240 pool items - 10 labelled: all adopted, none wrong, nothing left to gain
    assert (df["n_pseudo"] == 230).all() and (df["noise"] == 0).all()
    assert (df["accuracy"] == 1).all() and (df["gain"] == 0).all()
    assert (df["worth"] == 10).all()  # no better than the seed set: worth the seed set


def test_digits_noise_falls_as_the_threshold_rises():
    from analysis.data import sources
    from analysis.lab import shared

    X, y, _ = sources.load_source("digits")
    df = pl.simulate(shared.features(X, 30), y, [0.5, 0.99], seeds=2, labelled_size=30, n_jobs=2)
    assert np.allclose(df["gain"], df["accuracy"] - df["baseline"])
    s = pl.summarize(df).set_index("threshold")
    assert s.loc[0.99, "noise"] < s.loc[0.5, "noise"] and s.loc[0.99, "n_pseudo"] < s.loc[0.5, "n_pseudo"]
    assert df["noise"].between(0, 1).all() and (df["worth"] >= 30).all()
    # the baseline does not depend on the threshold: both rows of a seed share it
    assert (df.groupby("seed")["baseline"].nunique() == 1).all()


def test_summary_by_hand():
    df = pd.DataFrame({"seed": [0, 1, 0, 1], "threshold": [0.5, 0.5, 0.9, 0.9], "accuracy": [0.7, 0.8, 0.6, 0.6],
                       "baseline": [0.6, 0.6, 0.6, 0.6], "gain": [0.1, 0.2, 0.0, 0.0], "n_pseudo": [100, 200, 10, 30],
                       "noise": [0.3, 0.1, 0.0, 0.1], "worth": [80, 100, 50, 50], "seconds": [1.0] * 4})
    s = pl.summarize(df, level=0.8).set_index("threshold")
    assert s.loc[0.5, "gain"] == pytest.approx(0.15) and s.loc[0.5, "noise"] == pytest.approx(0.2)
    assert s.loc[0.5, "gain_low"] == pytest.approx(0.11) and s.loc[0.5, "gain_high"] == pytest.approx(0.19)
    assert s.loc[0.5, "noise_low"] == pytest.approx(0.12) and s.loc[0.5, "noise_high"] == pytest.approx(0.28)
    assert s.loc[0.5, "worth"] == 90 and s.loc[0.9, "n_pseudo"] == 20


@pytest.mark.parametrize("kwargs, message", [
    ({"thresholds": [0.0]}, "thresholds must be confidences"),
    ({"thresholds": [1.5]}, "thresholds must be confidences"),
    ({"labelled_size": 5}, "must hold every class"),
    ({"seeds": 0}, "seeds must be at least 1"),
])
def test_bad_requests(kwargs, message):
    X = np.random.default_rng(0).random((200, 5))
    y = np.arange(200) % 10
    with pytest.raises(pl.PseudoLabelError, match=message):
        pl.simulate(X, y, **{"thresholds": [0.9], **kwargs})


def test_cli_prints_json_persists_and_refuses_bad_input(capsys):
    argv = ["run", "--source", "digits", "--thresholds", "0.8,0.95", "--seeds", "2", "--labelled", "30",
            "--jobs", "1"]
    assert pl.main(argv) == 0
    out = cli_json(capsys.readouterr().out)
    assert [r["threshold"] for r in out["thresholds"]] == [0.8, 0.95] and out["labelled"] == 30
    assert all(0 <= r["noise"] <= 1 for r in out["thresholds"])
    assert pl.main(argv) == 0  # the second time from disk: no progress lines
    assert capsys.readouterr().err == ""
    with pytest.raises(SystemExit) as e:
        pl.main(["run", "--thresholds", "high"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--thresholds needs confidences" in err and len(err.splitlines()) == 1
