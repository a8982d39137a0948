"""Learning curves: fitting recovers known curves, verdicts, CSV checks, the CLI contract, experiments."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis.core import splits
from analysis.data import crops, sources
from analysis.planning import curve_fit as cf
from analysis.planning import experiments
from analysis.planning import learning_curves as lc

ROOT = Path(__file__).resolve().parents[2]


def _curve(a=0.92, b=0.6, c=0.45, noise=0.002, sizes=np.geomspace(50, 5000, 10), seeds=3, rng=0):
    """Points of ``metric = a - b n^-c`` plus seed noise, as a points table."""
    rng = np.random.default_rng(rng)
    n = np.repeat(np.round(sizes).astype(int), seeds)
    metric = a - b * n ** (-c) + rng.normal(0, noise, len(n))
    return pd.DataFrame({"model": "m", "n_labels": n, "seed": np.tile(np.arange(seeds), len(sizes)),
                         "metric": metric})


def test_pow3_recovers_known_parameters():
    pts = _curve(noise=0.0005)
    for prior in (None, cf.PRIOR):  # plain least squares, and with the prior: enough sizes overrule it
        fit = cf.fit_curve(pts.n_labels, pts.metric, pts.seed, forms=("pow3",), prior=prior, n_boot=20,
                           gain_model=None)
        logit_phi, log_c, log_g_ref = fit.params["pow3"]
        phi, c, g_ref = 1 / (1 + np.exp(-logit_phi)), np.exp(log_c), np.exp(log_g_ref)
        assert fit.ceiling() == pytest.approx(0.92, abs=0.005)
        assert g_ref * phi == pytest.approx(0.08, abs=0.005)
        assert c == pytest.approx(0.45, abs=0.05)
        # gap(n) = g_ref (phi + (1 - phi) (n / n_ref)^-c), so b = g_ref (1 - phi) n_ref^c
        assert g_ref * (1 - phi) * fit.n_ref**c == pytest.approx(0.6, rel=0.15)


def test_extrapolation_with_all_forms_holds_the_truth():
    pts = _curve()
    fit = cf.fit_curve(pts.n_labels, pts.metric, pts.seed)
    est, lo, hi = fit.predict([50_000])
    truth = 0.92 - 0.6 * 50_000 ** -0.45
    assert lo[0] <= truth <= hi[0]
    assert abs(est[0] - truth) < 0.01
    assert fit.form in fit.forms and set(fit.forms) == set(cf.FORMS)
    assert all(np.isfinite(fit.holdout_error[f]) for f in fit.forms)


def test_one_run_per_size_fits_as_well_as_several_seeds():
    """A team's CSV often has one run per size (no seed column): the points must still outweigh the prior."""
    pts = _curve(noise=0.003, sizes=np.geomspace(100, 3200, 6))
    means = pts.groupby("n_labels", as_index=False)["metric"].mean()
    seeded = cf.fit_curve(pts.n_labels, pts.metric, pts.seed)
    single = cf.fit_curve(means.n_labels, means.metric)
    truth = 0.92 - 0.6 * 30_000 ** -0.45
    est, lo, hi = (v[0] for v in single.predict([30_000]))
    assert lo <= truth <= hi and abs(est - truth) < 0.01
    assert est == pytest.approx(seeded.predict([30_000])[0][0], abs=0.005)
    # the fitted curve passes through its own points
    np.testing.assert_allclose(single.fitted(means.n_labels), means.metric, atol=0.006)


def test_prior_expects_a_floor_in_proportion_to_the_gap():
    prior = cf.Prior(-1.0, 1.0, 0.5, 0.6)
    assert prior.at_level(0.1).mu_u == pytest.approx(-1.0)
    assert prior.at_level(0.3).mu_u == pytest.approx(-1.0 + np.log(3))  # odds of phi x3 with 3x the gap
    assert prior.at_level(None) == prior._replace(level_u=0.0)  # a loss of unknown scale: no level term
    assert cf.gap_fraction(30.0, 100.0, True, [70.0]) == 0.3  # percentages
    assert cf.gap_fraction(0.2, 0.0, False, [0.2, 0.4]) == 0.2  # an error rate
    assert cf.gap_fraction(2.5, 0.0, False, [2.5, 3.0]) is None  # a loss


def test_an_alternative_that_extrapolated_clearly_better_is_averaged_in():
    assert cf.choose_form("pow3", {"pow3": 0.10, "pow2": 0.06, "pow4": np.nan}) == "pow3"
    assert cf.choose_form("pow3", {"pow3": 0.10, "pow2": 0.04, "pow4": 0.045}) == "pow3+pow2"
    assert cf.choose_form("pow3", {"pow3": np.nan, "pow2": 0.01}) == "pow3"
    # a pure power law (no ceiling) that the prior's ceiling bends too early: the blend sits between the forms
    n = np.repeat(np.geomspace(30, 3000, 9).round(), 3)
    metric = 1 - 2.0 * n**-0.3 + np.random.default_rng(2).normal(0, 0.001, len(n))
    fit = cf.fit_curve(n, metric, forms=("pow3", "pow2"), n_boot=30, gain_model=None)
    x = np.log([300_000 / fit.n_ref])
    gaps = {f: cf.FORMS[f].gap(x, fit.params[f][None])[0][0] for f in ("pow3", "pow2")}
    if fit.form == "pow3+pow2":
        assert 1 - fit.fitted([300_000])[0] == pytest.approx(np.sqrt(gaps["pow3"] * gaps["pow2"]))
        assert set(fit.draw_theta) == {"pow3", "pow2"}
    else:
        assert fit.form == "pow3" and 1 - fit.fitted([300_000])[0] == pytest.approx(gaps["pow3"])
    est, lo, hi = fit.predict([300_000])
    assert lo[0] <= est[0] <= hi[0]
    assert abs(est[0] - (1 - 2.0 * 300_000**-0.3)) < 0.02


def test_warm_up_plateau_is_left_out():
    # a model that predicts one class (accuracy 0.1) until it has enough labels, then follows the formula
    pts = _curve(noise=0.0005, sizes=np.geomspace(20, 5000, 12))
    pts.loc[pts.n_labels < 40, "metric"] = 0.1
    fit = cf.fit_curve(pts.n_labels, pts.metric, pts.seed, n_boot=20, gain_model=None)
    assert fit.n_warm_up == 2 and fit.stats.n.min() >= 40
    assert fit.fitted([50_000])[0] == pytest.approx(0.92 - 0.6 * 50_000**-0.45, abs=0.005)
    assert cf.fit_curve(*_curve().pipe(lambda d: (d.n_labels, d.metric, d.seed)), n_boot=0).n_warm_up == 0


def test_labels_to_target_matches_the_formula():
    pts = _curve(noise=0.0005)
    fit = cf.fit_curve(pts.n_labels, pts.metric, pts.seed, forms=("pow3",), n_boot=30, gain_model=None)
    target = 0.90
    exact = (0.6 / (0.92 - target)) ** (1 / 0.45)  # n where a - b n^-c = target
    est, lo, hi = fit.labels_to_target(target)
    assert est == pytest.approx(exact, rel=0.15)
    assert lo <= est <= hi


def test_lower_is_better_metrics():
    rng = np.random.default_rng(1)
    n = np.repeat(np.geomspace(100, 10_000, 8).round(), 3)
    loss = 0.05 + 2.0 * n ** -0.5 + rng.normal(0, 0.0005, len(n))
    fit = cf.fit_curve(n, loss, higher_is_better=False, forms=("pow3",), n_boot=20, gain_model=None)
    assert fit.perfect == 0.0
    assert fit.ceiling() == pytest.approx(0.05, abs=0.01)
    est, lo, hi = fit.predict([100_000])
    assert lo[0] <= est[0] <= hi[0] and est[0] == pytest.approx(0.05 + 2.0 * 100_000 ** -0.5, abs=0.005)
    n_est, _, _ = fit.labels_to_target(0.07)
    assert n_est == pytest.approx((2.0 / 0.02) ** 2, rel=0.2)


def test_ceiling_below_target_verdict():
    pts = _curve(a=0.80, b=0.8, c=0.6, noise=0.002)
    out = lc.extrapolate(pts, target=0.90, at=[100_000])["m"]
    assert out["labels_to_target"] is None
    assert out["p_ceiling_below_target"] >= 0.9
    assert out["ceiling"] < 0.85
    reachable = lc.extrapolate(pts, target=0.77)["m"]
    assert reachable["labels_to_target"] is not None and reachable["p_ceiling_below_target"] < 0.1


def test_noisy_non_monotone_curve_still_fits():
    pts = _curve(noise=0.02, rng=3)  # noise larger than the gains between sizes: means go up and down
    means = pts.groupby("n_labels").metric.mean().to_numpy()
    assert np.any(np.diff(means) < 0)
    out = lc.extrapolate(pts, target=0.9, at=[20_000])["m"]
    p = out["predicted"]["20000"]
    assert p["low"] <= p["estimate"] <= p["high"] and 0.8 < p["estimate"] <= 1.0


@pytest.mark.parametrize("text, message", [
    ("model,n,metric\na,10,0.5\n", "missing column(s) n_labels"),
    ("model,n_labels,metric\na,10,0.5\na,20,abc\na,40,0.7\n", "'abc' in data row 2 is not a number"),
    ("model,n_labels,metric\na,10,0.5\n", "has points at 1 training-set size"),
    ("model,n_labels,metric\na,10,0.5\na,-20,0.6\na,40,0.7\n", "not a positive whole number"),
    ("model,n_labels,metric\n", "header but no points"),
    ("model,n_labels,metric\na,10,0.5\na,20,\na,40,0.7\n", "an empty cell in data row 2 is not a number"),
])
def test_bad_csv_messages(tmp_path, text, message):
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(lc.CurveError, match=None) as e:
        lc.read_points(path)
    assert message in str(e.value)


def test_out_of_range_messages():
    pts = _curve()
    with pytest.raises(lc.CurveError, match=r"must lie in \[0, 1\]"):
        lc.extrapolate(pts.assign(metric=pts.metric * 200), target=0.9)
    typo = pts.assign(metric=np.where(pts.n_labels == pts.n_labels.max(), 1.2, pts.metric))
    with pytest.raises(lc.CurveError, match="1.2 exceeds 1; a fraction cannot"):
        lc.extrapolate(typo, target=0.9)
    with pytest.raises(lc.CurveError, match="the target must be a number"):
        lc.extrapolate(pts, target=float("nan"))


def test_the_other_direction_is_a_warning_beside_the_answer():
    pts = _curve()
    error = pts.assign(metric=1 - pts.metric)  # an error rate, read as higher is better
    answers, warnings = lc.extrapolate(error, target=0.9, at=[50_000], with_warnings=True)
    p = answers["m"]["predicted"]["50000"]
    assert p["low"] <= p["estimate"] <= p["high"]
    assert "the metric falls steadily as labels grow" in warnings["m"] and "--" not in warnings["m"]
    assert "If lower (an error or a loss) is better for this metric, say so" in warnings["m"]
    _, warnings = lc.extrapolate(pts, target=0.1, higher_is_better=False, with_warnings=True)
    assert "the metric rises steadily" in warnings["m"]
    assert lc.extrapolate(pts, target=0.9, with_warnings=True)[1] == {}


def _answer_and_verdict(points, target):
    """The CLI's answer at 10x the largest size and the verdict, for a points table with one model ``m``."""
    n_10x = 10 * int(points.n_labels.max())
    answer = lc.extrapolate(points, target=target, at=[n_10x])["m"]
    verdict = lc.verdicts(lc.fit_models(lc.read_points(points)), target)["m"]
    p = answer["predicted"][str(n_10x)]
    assert 0.0 <= p["low"] <= p["estimate"] <= p["high"] <= 1.0
    return p, verdict


SIZES = [100, 200, 400, 800, 1600, 3200]


def test_a_falling_curve_gets_an_answer_and_change_the_model():
    # a decision tree's real accuracy can decline as labels grow (it overfits label noise)
    means = [0.845, 0.838, 0.834, 0.826, 0.821, 0.815]
    rng = np.random.default_rng(5)
    pts = pd.DataFrame([{"model": "m", "n_labels": n, "seed": s, "metric": m + rng.normal(0, 0.002)}
                        for n, m in zip(SIZES, means) for s in range(3)])
    p, v = _answer_and_verdict(pts, target=0.85)
    assert v["verdict"] == "change the model"
    assert "more labels do not help this model: change the model (it falls)" in v["text"]
    assert "it falls (from 0.84" in v["text"] and "at 3,200" in v["text"] and "per doubling" in v["text"]
    assert p["estimate"] < 0.83  # no rise is predicted for a curve that falls
    assert lc.direction_warning("m", lc.fit_models(pts)["m"]) is None  # a 3-point decline is no proof of an error


def test_a_flat_curve_gets_an_answer_and_change_the_model():
    pts = pd.DataFrame({"model": "m", "n_labels": np.repeat(SIZES, 2), "metric": 0.8315})
    p, v = _answer_and_verdict(pts, target=0.9)
    assert v["verdict"] == "change the model"
    assert "change the model (it is flat)" in v["text"] and "seeds spread 0" in v["text"]
    assert p["estimate"] == pytest.approx(0.8315, abs=0.01)
    assert lc.verdicts(lc.fit_models(lc.read_points(pts)), 0.8)["m"]["verdict"] == "target reached"


def test_a_curve_with_a_dip_gets_an_answer_and_a_verdict():
    means = [0.80, 0.77, 0.75, 0.79, 0.83, 0.86, 0.88]
    pts = pd.DataFrame({"model": "m", "n_labels": SIZES + [6400], "metric": means})
    p, v = _answer_and_verdict(pts, target=0.90)
    assert v["verdict"] in {"label more", "change the model"} and v["text"].startswith("**m: ")
    assert p["estimate"] > 0.86  # it rises over its last sizes: the dip is behind it


def test_a_curve_with_one_size_repeated_over_seeds_gets_an_answer_and_a_verdict():
    # one run per size, except at 400 labels where the team ran five seeds
    rng = np.random.default_rng(8)
    rows = [(n, 0.92 - 0.6 * n**-0.45 + rng.normal(0, 0.003)) for n in SIZES for _ in range(5 if n == 400 else 1)]
    pts = pd.DataFrame(rows, columns=["n_labels", "metric"]).assign(model="m")
    p, v = _answer_and_verdict(pts, target=0.915)
    assert v["verdict"] in {"label more", "change the model"} and "per doubling" not in v["text"]
    truth = 0.92 - 0.6 * 32_000**-0.45
    assert abs(p["estimate"] - truth) < 0.02
    fit = lc.fit_models(lc.read_points(pts))["m"]
    assert fit.trend.direction == "rises" and np.isfinite(fit.trend.seed_sd)


def test_labels_to_target_and_predictions_describe_one_curve():
    pts = _curve(noise=0.002)
    fit = cf.fit_curve(pts.n_labels, pts.metric, pts.seed)
    assert fit.gain is not None and fit.method == f"gain+{fit.form}"
    target = float(fit.predict([40_000])[0][0])
    est, lo, hi = fit.labels_to_target(target)
    assert est == pytest.approx(40_000, rel=0.05) and lo <= est <= hi
    # beyond the range the trees were trained on, the answer goes on with the parametric form's increments
    far = fit.n_ref * np.exp(fit.gain.model.max_log_ratio) * np.array([1.0, 10.0, 100.0])
    e, low, high = fit.predict(far)
    assert np.all(np.diff(e) >= -1e-9) and np.all(low <= e) and np.all(e <= high)
    assert fit.ceiling() >= e[-1] - 1e-6


def test_the_numpy_trees_predict_as_the_trained_sklearn_trees():
    from sklearn.ensemble import HistGradientBoostingRegressor

    from analysis.planning import curve_gain as cg

    rng = np.random.default_rng(0)
    X = rng.random((400, 3))
    X[::5, 1] = np.nan  # a missing seed spread goes the way the trees learned
    y = X[:, 0] - np.nan_to_num(X[:, 1]) + rng.normal(0, 0.05, 400)
    for loss, q in (("absolute_error", None), ("quantile", 0.9)):
        est = HistGradientBoostingRegressor(loss=loss, quantile=q, max_iter=30, max_leaf_nodes=7).fit(X, y)
        np.testing.assert_allclose(cg.Trees.from_sklearn(est).predict(X), est.predict(X), atol=1e-12)
    model = cg.default_model()
    assert model.band_scale >= 1.0 and model.max_log_ratio > np.log(10) and "even" in model.about


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "analysis.learning_curves", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_contract(tmp_path):
    pts = pd.concat([_curve().assign(model="linear"), _curve(a=0.8, b=0.8, c=0.6).assign(model="cnn")])
    path = tmp_path / "points.csv"
    pts.drop(columns="seed").to_csv(path, index=False)  # seed is optional
    r = _cli("extrapolate", "--csv", str(path), "--target", "0.9", "--at", "10000,50000")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"linear", "cnn"}
    lin = out["linear"]
    assert set(lin) == {"form", "ceiling", "labels_to_target", "p_ceiling_below_target", "predicted"}
    assert set(lin["predicted"]) == {"10000", "50000"}
    assert lin["labels_to_target"]["low"] <= lin["labels_to_target"]["estimate"] <= lin["labels_to_target"]["high"]
    assert out["cnn"]["labels_to_target"] is None and out["cnn"]["p_ceiling_below_target"] > 0.9
    loss = pts.assign(metric=1 - pts.metric)
    loss.to_csv(path, index=False)
    r = _cli("extrapolate", "--csv", str(path), "--target", "0.1", "--lower-is-better")
    assert r.returncode == 0 and json.loads(r.stdout)["linear"]["ceiling"] == pytest.approx(0.08, abs=0.02)
    # the wrong direction is answered, with a warning on stderr beside the JSON
    r = _cli("extrapolate", "--csv", str(path), "--target", "0.9", "--at", "10000")
    assert r.returncode == 0 and set(json.loads(r.stdout)) == {"linear", "cnn"}
    assert "warning: model 'linear': the metric falls steadily" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--csv", "/nonexistent.csv", "--target", "0.9"], "no such file"),
    (["--csv", "{bad}", "--target", "0.9", "--at", "ten"], "--at needs comma-separated label counts"),
    (["--csv", "{bad}"], "required: --target"),
    (["--csv", "{bad}", "--target", "0.9"], "missing column(s) metric"),
    (["--csv", "{dir}", "--target", "0.9"], "is a folder"),
    (["--csv", "{bad}", "--target", "0.9", "--at", "1000.7"], "positive whole label counts"),
    (["--csv", "{bad}", "--target", "0.9", "--at", "1000,,2000"], "comma-separated label counts"),
])
def test_cli_bad_input_is_one_line(tmp_path, args, message):
    bad = tmp_path / "bad.csv"
    bad.write_text("model,n_labels,score\na,1,2\n")
    r = _cli("extrapolate", *[a.replace("{bad}", str(bad)).replace("{dir}", str(tmp_path)) for a in args])
    assert r.returncode != 0
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_stratified_order_prefixes_keep_class_shares():
    y = np.repeat([0, 1, 2], [500, 300, 200])
    order = splits.stratified_order(y, seed=4)
    assert sorted(order) == list(range(len(y)))
    for n in (10, 50, 200):
        counts = np.bincount(y[order[:n]], minlength=3)
        assert np.all(np.abs(counts - n * np.array([0.5, 0.3, 0.2])) <= 1.5)


def test_run_experiment_on_digits_with_a_cnn():
    X, y, shape = sources.load_source("digits")
    df = experiments.run_experiment(X, y, ["logreg", "cnn"], sizes=[40, 160], seeds=2, image_shape=shape, n_jobs=2)
    assert len(df) == 8 and set(df.columns) >= {"model", "n_labels", "seed", "metric"}
    means = df.groupby(["model", "n_labels"]).metric.mean()
    assert means.min() > 0.5  # far above chance (0.1)
    assert means["logreg", 160] > means["logreg", 40]
    with pytest.raises(lc.CurveError, match="the CNN needs image data"):
        experiments.run_experiment(X, y, ["cnn"], sizes=[40, 80], seeds=1)
    with pytest.raises(lc.CurveError, match="unknown or no models"):
        experiments.run_experiment(X, y, ["transformer"], sizes=[40, 80], seeds=1)


def test_cached_experiment_is_persisted():
    df = experiments.cached_experiment("digits", ["nb"], n_sizes=3, seeds=1, n_jobs=1)
    assert experiments.stored_experiment("digits", ["nb"], 3, 1) is not None
    again = experiments.cached_experiment("digits", ["nb"], n_sizes=3, seeds=1, n_jobs=1)
    pd.testing.assert_frame_equal(df.reset_index(drop=True), again, check_dtype=False)
    assert experiments.stored_experiment("digits", ["nb"], 4, 1) is None


def test_verdicts_say_change_the_model_with_evidence():
    low = _curve(a=0.80, b=0.8, c=0.6).assign(model="small")  # flattens at 0.80
    high = _curve(a=0.97, b=0.6, c=0.45).assign(model="big")
    fits = lc.fit_models(pd.concat([low, high]))
    v = lc.verdicts(fits, target=0.96, n_now=5000)  # big is at 0.957 now
    assert v["small"]["verdict"] == "change the model" and v["big"]["verdict"] == "label more"
    assert "ceiling falls short of the target (probability" in v["small"]["text"]
    assert "big reaches it at about" in v["small"]["text"]
    assert f"{v['big']['labels']:,} labels" in v["big"]["text"] and "at 10x the labels (50,000)" in v["big"]["text"]
    # a target no model reaches: change the architecture
    none = lc.verdicts(fits, target=0.995, n_now=5000)
    assert all(x["verdict"] == "change the model" for x in none.values())
    assert "None of the models compared gets there" in none["big"]["text"]
    # a target the curve is already at: no more labels, not "label more ... 0 more than now"
    met = lc.verdicts(fits, target=0.5, n_now=5000)["big"]
    assert met["verdict"] == "target reached" and "no more than the 5,000 now" in met["text"]
    # a curve that gains 0.004 over five doublings of the labels: flat, more labels do not help
    slow = lc.fit_models(_curve(a=0.80, b=0.05, c=0.5, noise=0.003, sizes=[100, 200, 400, 800, 1600, 3200]))
    v = lc.verdicts(slow, target=0.956)["m"]
    assert v["verdict"] == "change the model" and "change the model (it is flat)" in v["text"]
    assert "per doubling of the labels over the last 3 sizes" in v["text"] and "Fitted ceiling" not in v["text"]
    # without n_now each model is measured from its own largest run (here one stopped early)
    early = low[low.n_labels <= 1000]
    fits["small"] = lc.fit_models(early)["small"]
    assert f"at 10x the labels ({10 * early.n_labels.max():,})" in lc.verdicts(fits, target=0.90)["small"]["text"]


def test_crops_of_a_detection_dataset_are_a_data_source(tmp_path):
    from conftest import write_coco_fixture

    from analysis.data import datasets, importers

    fx = write_coco_fixture(tmp_path, n_images=12)
    inst = fx["instances"]
    inst["annotations"].append({"id": 999, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100,
                                "iscrowd": 1})  # a crowd box is not an object crop
    Path(fx["instances_json"]).write_text(json.dumps(inst))
    importers.import_coco("crops-test", fx["images_dir"], fx["instances_json"], if_exists="overwrite")
    assert "crops:crops-test" in sources.crop_sources()
    X, y, shape = sources.load_source("crops:crops-test")
    assert X.shape == (24, crops.CROP_SIDE**2) and X.dtype == np.float32 and shape == (crops.CROP_SIDE,) * 2
    assert sorted(set(y)) == ["cat", "dog"] and (y == "cat").sum() == 12
    # image i is one colour (i*40 % 255, 80, 120): every crop of it is that colour in grey
    grey = Image.new("RGB", (1, 1), (40, 80, 120)).convert("L").getpixel((0, 0)) / 255
    assert np.allclose(X[:2], grey, atol=1 / 255)
    df = experiments.cached_experiment("crops:crops-test", ["nb"], n_sizes=3, seeds=1, n_jobs=1)
    assert set(df["model"]) == {"nb"} and experiments.stored_experiment("crops:crops-test", ["nb"], 3, 1) is not None
    with pytest.raises(sources.SourceError, match="crops need at least 20 boxes"):
        importers.import_coco("crops-few", fx["images_dir"], fx["instances_json"], if_exists="overwrite")
        ds = datasets.load("crops-few")
        ds.take(3, seed=0).keep()
        sources.load_source("crops:crops-few")


def test_default_target_follows_the_metrics_scale():
    assert lc.default_target([0.5, 0.8]) == 0.82
    assert lc.default_target([0.97, 0.985]) == 0.99  # at most 99% of a perfect score
    assert lc.default_target([50.0, 80.0]) == 82.0  # percentages: was 0.99, a target the curve passed long ago
    assert lc.default_target([0.2, 0.05], higher_is_better=False) == 0.03
    assert lc.default_target([0.2, 0.03], higher_is_better=False) == 0.015  # never below half the best error


def test_planner_answer_takes_now_from_the_models_largest_run():
    points = pd.DataFrame({"model": ["a"] * 4 + ["b"] * 2, "n_labels": [100, 100, 400, 400, 100, 800],
                           "seed": [0, 1, 0, 1, 0, 0], "metric": [0.6, 0.62, 0.7, 0.74, 0.5, 0.9]})
    answer = {"labels_to_target": {"estimate": 2000, "low": 1500, "high": 3000}, "ceiling": 0.95}
    out = lc.planner_answer(points, "a", answer, 0.85, True, "mnist5k")
    assert out == {"source": "mnist5k", "model": "a", "target": 0.85, "higher_is_better": True,
                   "current_labels": 400, "current_metric": pytest.approx(0.72), **answer}
    assert lc.planner_answer(points, "b", answer, 0.85, True, "x")["current_labels"] == 800
