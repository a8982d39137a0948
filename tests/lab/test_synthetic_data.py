"""Synthetic-data lab: the renderer, the sim-to-real runs, "worth R real labels" by hand, bad settings, the CLI."""

import numpy as np
import pandas as pd
import pytest

from conftest import cli_json
from analysis.lab import synthetic_data as sd


def test_renderer_is_deterministic_per_seed_and_mnist_shaped():
    X, y = sd.render(60, seed=3)
    again, y_again = sd.render(60, seed=3)
    other, _ = sd.render(60, seed=4)
    assert X.shape == (60, 28, 28) and X.dtype == np.float32 and y.shape == (60,)
    assert np.array_equal(X, again) and np.array_equal(y, y_again) and not np.array_equal(X, other)
    assert np.bincount(y, minlength=10).tolist() == [6] * 10  # balanced digits
    assert X.min() >= 0 and X.max() <= 1
    # MNIST's polarity and layout: white ink on black, in the middle, nothing on the border
    border = np.r_[X[:, :2].ravel(), X[:, -2:].ravel(), X[:, :, :2].ravel(), X[:, :, -2:].ravel()]
    centre = X[:, 8:20, 8:20]
    assert border.mean() < 0.03 and centre.mean() > 0.2
    rows, cols = np.nonzero(X.max(axis=0) > 0.5)
    assert rows.min() >= 2 and rows.max() <= 25 and cols.min() >= 2 and cols.max() <= 25


def test_real_mnist_looks_like_the_renders_in_layout():
    """The same layout checks hold for the real MNIST digits: the renderer's target is MNIST's own."""
    X, _, _, test = sd.real_split()
    R = X[test[:200]].reshape(-1, 28, 28)
    border = np.r_[R[:, :2].ravel(), R[:, -2:].ravel(), R[:, :, :2].ravel(), R[:, :, -2:].ravel()]
    assert border.mean() < 0.03 and R[:, 8:20, 8:20].mean() > 0.2


def test_settings_change_the_digits():
    plain = sd.RenderSettings(rotation=(0, 0), shear=(0, 0), blur=(0, 0), noise=(0, 0), shift=(0, 0),
                              stroke=(0, 0), fonts=("DejaVuSans",))
    X, _ = sd.render(20, plain, seed=0)
    noisy, _ = sd.render(20, sd.RenderSettings(**{**plain.__dict__, "noise": (0.2, 0.2)}), seed=0)
    blurred, _ = sd.render(20, sd.RenderSettings(**{**plain.__dict__, "blur": (1.5, 1.5)}), seed=0)
    assert (X[:, :3] == 0).all()  # no noise: a clean black border
    assert (noisy[:, :3] > 0).mean() > 0.3
    # blur spreads the ink: more pixels lit, fewer at full ink
    assert (blurred > 0.05).sum() > (X > 0.05).sum() and (blurred > 0.9).sum() < (X > 0.9).sum()


def test_synthetic_only_accuracy_on_real_digits_is_above_chance():
    df = sd.simulate(seeds=2, real_sizes=(20,), mixed_amounts=(), synthetic_amounts=(500,), learner="logreg",
                     n_jobs=1)
    syn = df[df["real"] == 0]
    assert len(syn) == 2 and (syn["synthetic"] == 500).all()
    # chance is 10% on ten balanced digits; every seed's model trained on fonts alone reads real handwriting
    # at least 2.5x better
    assert (syn["accuracy"] > 0.25).all()
    # ... and the rendered test digits better still: that difference is the sim-to-real gap
    assert (syn["synthetic_accuracy"] > syn["accuracy"]).all()
    assert (df["rendered"] == 500).all() and (df["render_seconds"] > 0).all()


def _hand_built() -> pd.DataFrame:
    """Two seeds. Real-only: 100 -> 0.60, 200 -> 0.70, 400 -> 0.80 (seed 1 is 0.02 higher everywhere).
    Mixes with 1,000 synthetic: 100 real -> 0.75, 200 -> 0.65, 400 -> 0.90; synthetic alone -> 0.35."""
    rows = []
    for seed, d in ((0, 0.0), (1, 0.02)):
        rows += [(seed, 100, 0, 0.60 + d), (seed, 200, 0, 0.70 + d), (seed, 400, 0, 0.80 + d),
                 (seed, 100, 1000, 0.75 + d), (seed, 200, 1000, 0.65 + d), (seed, 400, 1000, 0.90 + d),
                 (seed, 0, 1000, 0.35 + d)]
    df = pd.DataFrame(rows, columns=["seed", "real", "synthetic", "accuracy"])
    return df.assign(synthetic_accuracy=0.95, seconds=1.0, rendered=1000, render_seconds=0.5)


def test_worth_in_real_labels_by_hand():
    t = sd.summarize(_hand_built()).set_index(["real", "synthetic"])
    # mean real-only curve: 0.61 at 100, 0.71 at 200, 0.81 at 400, and chance 0.1 at 0 labels
    # 100 real + 1,000 synthetic reach 0.76: halfway from 200 (0.71) to 400 (0.81) = 300 labels, 200 more than 100
    assert t.loc[(100, 1000), "worth"] == pytest.approx(200)
    # 200 real + 1,000 synthetic reach 0.66: half-way from 100 to 200 = 150 labels, 50 fewer than its own 200
    assert t.loc[(200, 1000), "worth"] == pytest.approx(-50)
    # 400 + 1,000 reach 0.91, above the whole real-only curve
    assert np.isinf(t.loc[(400, 1000), "worth"])
    # synthetic alone reaches 0.36: from chance (0.1 at 0) to 0.61 at 100 -> 0.26 / 0.51 x 100 labels
    assert t.loc[(0, 1000), "worth"] == pytest.approx(100 * 0.26 / 0.51)
    assert t.loc[(100, 1000), "gain"] == pytest.approx(0.15) and t.loc[(200, 1000), "gain"] == pytest.approx(-0.05)
    # each seed against its own curve gives the same 200 labels: the two seeds differ by a constant
    assert t.loc[(100, 1000), "worth_low"] == pytest.approx(200) == t.loc[(100, 1000), "worth_high"]
    assert sd.worth_text(100, 1000, 200.0) == ("1,000 synthetic digits are worth about 200 real labels at 100 real "
                                               "labels")
    assert "cost about 50 real labels" in sd.worth_text(200, 1000, -50.0)
    assert "worth about nothing at 20 real labels" in sd.worth_text(20, 4000, -0.26)

    a = sd.answer(_hand_built())
    mix = a["mixing"][1000]
    assert mix["helps_up_to"] == 100 and mix["hurts_from"] == 200  # gains +0.15, -0.05 (both seeds), +0.10
    assert a["sim_to_real"][0]["gap"] == pytest.approx(0.95 - 0.36)
    assert a["render"]["per_second"] == pytest.approx(2000 / 1.0)

    value, note, detail = sd.measurement(sd.summarize(_hand_built()), 100, 1000, 2, "cnn")
    assert value == pytest.approx(200 / 300)  # labels 100 instead of 300 to reach 0.76
    assert "worth 200 real labels at 100" in note and detail["simulated"] is True
    assert sd.measurement(sd.summarize(_hand_built()), 200, 1000, 2, "cnn")[0] == 0  # worth less than nothing
    with pytest.raises(sd.SyntheticDataError, match="larger real size"):
        sd.measurement(sd.summarize(_hand_built()), 400, 1000, 2, "cnn")


@pytest.mark.parametrize("call, message", [
    (lambda: sd.render(0), "number of digits to render must be a whole number >= 1, got 0"),
    (lambda: sd.render(5, sd.RenderSettings(fonts=("ComicSans",))), "unknown font 'ComicSans'; choose from"),
    (lambda: sd.render(5, sd.RenderSettings(fonts=())), "pick at least one font"),
    (lambda: sd.render(5, sd.RenderSettings(blur=(1.0, 0.5))), "Blur (Gaussian sigma, pixels) must be low <= high"),
    (lambda: sd.simulate(mixed_amounts=(0,)), "must be whole numbers of items >= 1"),
    (lambda: sd.simulate(mixed_amounts=(), synthetic_amounts=()), "nothing synthetic to measure"),
    (lambda: sd.simulate(real_sizes=(10_000,)), "at most 4,000"),
    (lambda: sd.simulate(learner="resnet"), "unknown learner 'resnet'"),
])
def test_bad_settings_get_a_one_line_message(call, message):
    with pytest.raises(sd.SyntheticDataError) as e:
        call()
    assert message in str(e.value) and "\n" not in str(e.value)


def test_cli_prints_json_reuses_the_run_and_refuses_bad_settings(capsys):
    argv = ["run", "--seeds", "1", "--real", "20,60", "--mixed", "100", "--synthetic", "100", "--learner", "logreg",
            "--jobs", "1", "--rotation=-5,5"]
    assert sd.main(argv) == 0
    out = cli_json(capsys.readouterr().out)
    assert out["source"] == "mnist5k" and out["settings"]["rotation"] == [-5.0, 5.0] and out["seeds"] == 1
    assert {(r["real"], r["synthetic"]) for r in out["table"]} == {(20, 0), (60, 0), (20, 100), (60, 100), (0, 100)}
    assert out["render"]["per_second"] > 0 and set(out["mixing"]) == {"100"}
    saved = next(r for r in sd.saved_runs() if r["real_sizes"] == [20, 60])  # the page lists it to reopen
    assert saved["seeds"] == 1 and saved["learner"] == "logreg" and saved["mixed_amounts"] == [100]
    assert sd.settings_from(saved["settings"]).rotation == (-5.0, 5.0)
    assert sd.main(argv) == 0  # the second time from disk: no progress lines
    assert capsys.readouterr().err == ""
    for bad, message in ((["--fonts", "ComicSans"], "unknown font 'ComicSans'"),
                         (["--synthetic", "0", "--mixed", "0"], "whole numbers of items >= 1")):
        assert sd.main(["run", "--jobs", "1", *bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and message in err and len(err.splitlines()) == 1
