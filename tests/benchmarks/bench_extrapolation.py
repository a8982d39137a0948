"""Extrapolation benchmark on real learning curves from many sources (issue 23).

Usage::

    .venv/bin/python tests/benchmarks/bench_extrapolation.py              # held-out source families (~7 min)
    .venv/bin/python tests/benchmarks/bench_extrapolation.py --quick      # 25 curves per LCDB group
    .venv/bin/python tests/benchmarks/bench_extrapolation.py --generate   # run the project's missing experiments
    .venv/bin/python tests/benchmarks/bench_extrapolation.py --tune       # the parametric prior's constants

The curves are real training runs (:mod:`_curve_sources`): the Learning Curve
Database's even-id OpenML data sets (20 scikit-learn learner families; the
odd ids are never read), the project's own curves (``curves/real_curves.csv``,
made by ``--generate``: digits, breast cancer, MNIST-5k variants, object crops)
and iris and wine.

Protocol (as in issue 23): each curve is observed at its sizes up to 20% of
the largest (3 runs per size where it has more, drawn at random) and asked
for the metric at the largest; the truth is the mean of all runs there.
Two oracles are printed beside the methods, to show what the observed runs
themselves allow: the last observed mean plus the curve's exact gain (from
the mean of all runs at that size to the truth), and the true curve shifted
by the observed points' mean offset from it. Neither is a method: both read
the unobserved runs.

**Headline: held-out source families.** The learned gain
(:mod:`analysis.planning.curve_gain`) is retrained without one family at a
time (4 groups of LCDB-even data sets, MNIST-derived, digits, BCCD crops,
scikit-learn's small tabular sets), its band calibrated on the other
families only, and that family's curves are answered through
:func:`analysis.planning.curve_fit.fit_curve` as the CLI answers them. In the
same run: plain least squares of ``a - b n^-c`` on the same points and the
last observed value. A second split holds out data sets (3 groups) instead of
families. The trainings here use 50 tasks per curve and 2 calibration folds (the committed model: 100 and 3),
so the figures are, if anything, slightly pessimistic. Every non-LCDB curve and 30 of each LCDB group are
also answered through ``fit_curve`` (timed; its answer must equal the gain model's). The CLI's time per
curve is measured on one file of 20 curves.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import _curve_sources as sources
import _isolated  # private data folder; before analysis imports
import numpy as np
import pandas as pd
from scipy.optimize import OptimizeWarning, curve_fit

from analysis.data import sources as data_sources
from analysis.planning import curve_fit as cf
from analysis.planning import curve_gain, experiments

CURVES = sources.PROJECT_CURVES
#: Priors of the parametric form that ``--tune`` searches on the project's curves (analysis.planning.curve_fit.PRIOR).
GRID = [cf.Prior(mu_u, sd_u, mu_v, sd_v) for mu_u in (-2.5, -2.0, -1.5, -1.0) for sd_u in (1.0,)
        for mu_v in (0.25, 0.5, 0.75) for sd_v in (0.3, 0.45, 0.6)]
FIT_FRACTION = 0.2  # fit on sizes up to 20% of the largest, predict the largest
SEEDS_OBSERVED = 3  # runs per observed size (a team's usual few)
#: Tasks per curve and inner calibration folds of the held-out trainings: fewer than make_curve_prior.py's
#: (100, 3) to keep 11 trainings of 9 models each within about 20 minutes on two shared cores.
TASKS_PER_CURVE = 50
INNER_FOLDS = 2


def _pool(X, shape, f):
    """Average-pool images ``f`` x ``f`` (MNIST at a lower resolution)."""
    h, w = shape
    return X.reshape(-1, h // f, f, w // f, f).mean(axis=(2, 4)).reshape(len(X), -1), (h // f, w // f)


def _noisy(y, rate, seed=0):
    """Replace a fraction ``rate`` of labels by a random other class (noisy annotators)."""
    rng = np.random.default_rng(seed)
    y = y.copy()
    flip = rng.random(len(y)) < rate
    y[flip] = (y[flip] + rng.integers(1, y.max() + 1, flip.sum())) % (y.max() + 1)
    return y


def _crops(name, load):
    """``crops:<name>`` of a detection dataset imported by ``load(name)`` for the run, deleted afterwards."""
    from analysis.data import datasets

    load(name)
    try:
        return data_sources.load_source(data_sources.CROPS + name)
    finally:
        datasets.delete(name)


def _datasets():
    """name -> (loader of (X, y, image_shape or None), models): every model family of
    :data:`analysis.planning.experiments.MODELS`, the CNN only on images; the loaders run only when needed."""
    from sklearn.datasets import load_breast_cancer

    from analysis.data import importers
    from analysis.demo import dataset as demo

    def mnist():
        return data_sources.load_source("mnist5k")

    def pooled(f):
        def load():
            X, y, s = mnist()
            Xp, sp = _pool(X, s, f)
            return Xp, y, sp
        return load

    def four_nine():
        X, y, s = mnist()
        keep = np.isin(y, [4, 9])
        return X[keep], y[keep], s

    def noisy(load, rate):
        def noisy_load():
            X, y, s = load()
            return X, _noisy(y, rate), s
        return noisy_load

    def bc():
        d = load_breast_cancer()
        return d.data, d.target, None

    bccd = _isolated.ROOT.parent / "shared/data/bccd/BCCD"
    images, tables = list(experiments.MODELS), [m for m in experiments.MODELS if m != "cnn"]
    out = {  # cheap ones first
        "digits": (lambda: data_sources.load_source("digits"), images),
        "digits_noise20": (noisy(lambda: data_sources.load_source("digits"), 0.2), images),
        "breast_cancer": (bc, tables),
        "mnist7": (pooled(4), images),
        "mnist_4v9": (four_nine, images),
        "mnist5k": (mnist, images),
        "mnist14": (pooled(2), images),
        "mnist5k_noise15": (noisy(mnist, 0.15), images),
    }
    # object crops of detection datasets in FiftyOne (the app's crops:<dataset> source)
    if bccd.is_dir():
        out["bccd_crops"] = (lambda: _crops("lcbench-bccd", lambda n: importers.import_voc(n, bccd)), images)
    out["demo_crops"] = (lambda: _crops("lcbench-demo", lambda n: demo.ensure_demo(size="full", name=n)), images)
    return out


def generate(n_jobs: int):
    """Run the experiments behind the stored curves; (data set, model) pairs already in the CSV are kept."""
    done = pd.read_csv(CURVES) if CURVES.exists() else pd.DataFrame(columns=["curve", "model"])
    have = set(zip(done["curve"], done["model"]))
    frames = [done]
    for name, (load, models) in _datasets().items():
        todo = [m for m in models if (name, m) not in have]
        if not todo:
            continue
        X, y, shape = load()
        for model in todo:  # one model at a time, saved as it finishes
            t0 = time.perf_counter()
            n_pool = len(y) - min(1000, len(y) // 5)
            sizes = experiments.log_sizes(max(20, 2 * len(np.unique(y))), n_pool, 12)
            df = experiments.run_experiment(X, y, [model], sizes, seeds=3, image_shape=shape, n_jobs=n_jobs,
                                            progress=lambda f, m: print(f"\r{name} {f:4.0%} {m:<50}", end="", flush=True))
            frames.append(df.assign(curve=name)[["curve", "model", "n_labels", "seed", "metric"]])
            print(f"\n{name} {model}: {len(df)} runs in {time.perf_counter() - t0:.0f} s", flush=True)
            pd.concat(frames).to_csv(CURVES, index=False, float_format="%.5f")


def lsq_pow3(n, m, n_pred):
    """Baseline: plain least squares of ``a - b n^-c`` on every point, in metric space."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            p, _ = curve_fit(lambda x, a, b, c: a - b * x ** (-c), n, m, p0=[m.max(), 1.0, 0.5], maxfev=20000)
        return float(p[0] - p[1] * n_pred ** (-p[2]))
    except RuntimeError:  # no convergence: the baseline falls back to its last value
        return float(m[n == n.max()].mean())


def _split(curves: pd.DataFrame) -> list[dict]:
    """Per curve: its fit points (sizes <= 20% of the largest), the largest size and the truth there."""
    out = []
    for (curve, model), g in curves.groupby(["curve", "model"], sort=False):
        n_max = g["n_labels"].max()
        pts = g[g["n_labels"] <= FIT_FRACTION * n_max]
        out.append({"curve": curve, "model": model, "n_max": n_max, "n": pts["n_labels"].to_numpy(float),
                    "m": pts["metric"].to_numpy(float), "seed": pts["seed"].to_numpy(),
                    "truth": g.loc[g["n_labels"] == n_max, "metric"].mean()})
    return out


def _log_gap(metric):
    return np.log(np.maximum(1.0 - np.asarray(metric, float), 1e-6))


def grid_errors(split: list[dict]) -> np.ndarray:
    """(len(GRID), curves) out-of-sample errors in log gap of the method's point prediction, per prior.

    The alternatives do not depend on the prior: they are fitted once per
    curve; the main form is refitted per prior and :func:`cf.choose_form`
    picks as :func:`cf.fit_curve` does.
    """
    out = np.empty((len(GRID), len(split)))
    for j, c in enumerate(split):
        alt = cf.fit_curve(c["n"], c["m"], c["seed"], forms=tuple(f for f in cf.FORMS if f != cf.MAIN_FORM),
                           n_boot=0, gain_model=None)
        alt_pred = {f: float(_log_gap(1 - cf.FORMS[f].gap(np.log([c["n_max"] / alt.n_ref]),
                                                           np.atleast_2d(alt.params[f]))[0][0]))
                    for f in alt.forms}
        for i, prior in enumerate(GRID):  # the main form needs no more sizes than pow2: it is always fitted
            main = cf.fit_curve(c["n"], c["m"], c["seed"], forms=(cf.MAIN_FORM,), prior=prior, n_boot=0,
                                gain_model=None)
            chosen = cf.choose_form(cf.MAIN_FORM, {**alt.holdout_error, **main.holdout_error})
            preds = {**alt_pred, cf.MAIN_FORM: float(_log_gap(main.fitted([c["n_max"]])[0]))}
            pred = np.mean([preds[f] for f in chosen.split("+")])  # a blend is the mean of log gaps
            out[i, j] = pred - _log_gap(c["truth"])
    return out


def tune(errors: np.ndarray, split: list[dict], train: np.ndarray) -> tuple[cf.Prior, float]:
    """The prior with the least mean + median absolute error on the ``train`` curves, and its interval width.

    The width is the model-error sd per unit of log distance: the 80% quantile
    of the training curves' absolute log-gap errors per unit of log(N / n_fit), over 1.2816.
    """
    truth = np.array([c["truth"] for c in split])
    gap_true = 1 - truth
    abs_err = np.abs(gap_true[None, :] * (np.exp(errors) - 1))  # metric error of each prediction
    score = abs_err[:, train].mean(1) + np.median(abs_err[:, train], 1)
    best = int(np.argmin(score))
    dist = np.array([np.log(c["n_max"] / c["n"].max()) for c in split])
    sd = float(np.quantile(np.abs(errors[best, train]) / dist[train], 0.8) / 1.2816)
    return GRID[best], sd


def observed(curves: list[dict], seed: int = 1) -> list[dict | None]:
    """Per curve, the protocol's points (sizes <= 20% of the largest, 3 runs per size), the size asked for and
    the truth there; ``None`` for a curve with fewer than 3 sizes in that range."""
    rng = np.random.default_rng(seed)
    out = []
    for c in curves:
        sizes, vals = c["sizes"], c["vals"]
        idx = np.flatnonzero(sizes <= FIT_FRACTION * sizes[-1])
        if len(idx) < 3:
            out.append(None)
            continue
        kept = [vals[i] if len(vals[i]) <= SEEDS_OBSERVED else rng.choice(vals[i], SEEDS_OBSERVED, replace=False)
                for i in idx]
        n = np.concatenate([np.full(len(v), sizes[i]) for i, v in zip(idx, kept)])
        seed_ids = np.concatenate([np.arange(len(v)) for v in kept])
        # how far the kept runs' means sit from the means of all runs at the same sizes: the observation noise
        # that even an extrapolator knowing the true curve cannot remove (the two oracles of :func:`held_out`)
        offsets = np.array([v.mean() - vals[i].mean() for i, v in zip(idx, kept)])
        out.append({"n": n, "m": np.concatenate(kept), "seed": seed_ids, "N": sizes[-1], "truth": vals[-1].mean(),
                    "offsets": offsets})
    return out


def held_out(curves, obs, X, y, idx, groups: np.ndarray, through_fit: set, models: dict | None = None
             ) -> pd.DataFrame:
    """Answer every curve with a gain model trained (and its band calibrated) without its group.

    ``groups``: one label per curve. Curves in ``through_fit`` (indices) are also answered through
    :func:`cf.fit_curve`, the CLI's path, timed; its answer must equal the gain model's own (the size asked
    for is within the trained range), which answers the others. ``models``, if given, receives each group's
    model.
    """
    data_set = np.array([c["curve"] for c in curves])
    rows = []
    for g in np.unique(groups):
        t0 = time.perf_counter()
        train = groups[idx] != g
        model = sources.fit_gain_model(X[train], y[train], data_set[idx][train], n_folds=INNER_FOLDS)
        if models is not None:
            models[g] = model
        for j in np.flatnonzero(groups == g):
            o = obs[j]
            if o is None:
                continue
            s, m, sd = curve_gain.size_means(o["n"], o["m"])
            gain, lo, hi = (float(v[0]) for v in model.predict(curve_gain.features(s, m, sd, [o["N"]])))
            est, lo, hi = (float(np.clip(m[-1] + v, 0, 1)) for v in (gain, lo, hi))
            seconds = cpu = np.nan
            if j in through_fit:
                t1, c1 = time.perf_counter(), time.process_time()
                fit = cf.fit_curve(o["n"], o["m"], o["seed"], gain_model=model)
                answer = [float(v[0]) for v in fit.predict([o["N"]])]
                seconds, cpu = time.perf_counter() - t1, time.process_time() - c1
                assert np.allclose(answer, [est, lo, hi], atol=1e-9), (answer, [est, lo, hi])
            last = float(o["m"][o["n"] == o["n"].max()].mean())
            rows.append({"group": g, "family": curves[j]["family"], "curve": curves[j]["curve"],
                         "model": curves[j]["model"], "truth": o["truth"], "ours": est, "low": lo, "high": hi,
                         "lsq_pow3": lsq_pow3(o["n"], o["m"], o["N"]), "last": last, "seconds": seconds, "cpu": cpu,
                         # oracles, not methods: the last observed mean plus the curve's exact gain (the mean of
                         # all runs there to the truth), and the true curve shifted by the points' mean offset
                         "oracle_gain": o["truth"] + o["offsets"][-1],
                         "oracle_shape": o["truth"] + o["offsets"].mean()})
        print(f"  held out {g}: band scale {model.band_scale:.2f}, {time.perf_counter() - t0:.0f} s", flush=True)
    df = pd.DataFrame(rows)
    df["covered"] = (df["low"] <= df["truth"]) & (df["truth"] <= df["high"])
    for col in ("ours", "lsq_pow3", "last", "oracle_gain", "oracle_shape"):
        df[f"err_{col}"] = (df[col] - df["truth"]).abs()
    return df


def summary(name: str, d: pd.DataFrame) -> bool:
    """Print one line of figures; return whether the issue's goals are met on these curves."""
    med = {c: d[f"err_{c}"].median() for c in ("ours", "lsq_pow3", "last")}
    mean = {c: d[f"err_{c}"].mean() for c in ("ours", "lsq_pow3", "last")}
    better = min(med["lsq_pow3"], med["last"])
    print(f"{name}: {len(d)} curves | median abs error ours {med['ours']:.4f}, lsq a-b*n^-c {med['lsq_pow3']:.4f}, "
          f"last value {med['last']:.4f} | ours / better baseline {med['ours'] / better:.2f} | mean abs error ours "
          f"{mean['ours']:.4f}, lsq {mean['lsq_pow3']:.4f}, last {mean['last']:.4f} | 80% band held the truth on "
          f"{d['covered'].mean():.0%}")
    print(f"  oracles that know the answer (the floor the 3 observed runs per size leave), median / mean abs "
          f"error: exact gain from the last size {d['err_oracle_gain'].median():.4f} / "
          f"{d['err_oracle_gain'].mean():.4f}, true curve shifted to the points {d['err_oracle_shape'].median():.4f} / "
          f"{d['err_oracle_shape'].mean():.4f}")
    return bool(med["ours"] <= 0.7 * better and med["ours"] <= 0.007 and mean["ours"] <= 0.015
                and 0.7 <= d["covered"].mean() <= 0.9)


def other_draws(curves, models: dict, groups: np.ndarray, seeds=range(2, 7)) -> None:
    """The headline's medians again for other random draws of the 3 observed runs per size (the same held-out
    models): how much of the ratio to the better baseline is the draw."""
    ratios = []
    for seed in seeds:
        err = {"ours": [], "lsq_pow3": [], "last": []}
        for j, o in enumerate(observed(curves, seed=seed)):
            if o is None:
                continue
            s, m, sd = curve_gain.size_means(o["n"], o["m"])
            gain = models[groups[j]].predict(curve_gain.features(s, m, sd, [o["N"]]))[0][0]
            err["ours"].append(abs(float(np.clip(m[-1] + gain, 0, 1)) - o["truth"]))
            err["lsq_pow3"].append(abs(lsq_pow3(o["n"], o["m"], o["N"]) - o["truth"]))
            err["last"].append(abs(m[-1] - o["truth"]))
        med = {k: float(np.median(v)) for k, v in err.items()}
        ratios.append(med["ours"] / min(med["lsq_pow3"], med["last"]))
        print(f"  draw {seed}: median abs error ours {med['ours']:.4f}, lsq {med['lsq_pow3']:.4f}, last value "
              f"{med['last']:.4f}, ours / better baseline {ratios[-1]:.2f}; mean abs error ours "
              f"{np.mean(err['ours']):.4f}")
    print(f"  ours / better baseline over these {len(ratios)} draws: {min(ratios):.2f} to {max(ratios):.2f} "
          f"(median {np.median(ratios):.2f})")


def cli_seconds(curves, obs, k: int = 20) -> tuple[float, float]:
    """Wall and CPU seconds per curve of ``python -m analysis.learning_curves extrapolate`` on one CSV of ``k``
    curves (the project's), start-up included."""
    chosen = [j for j, c in enumerate(curves) if obs[j] is not None and not c["curve"].startswith("lcdb")][:k]
    rows = [pd.DataFrame({"model": f"{curves[j]['curve']}/{curves[j]['model']}", "n_labels": obs[j]["n"].astype(int),
                          "seed": obs[j]["seed"], "metric": obs[j]["m"]}) for j in chosen]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "points.csv"
        pd.concat(rows).to_csv(path, index=False)
        t0, cpu0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run([sys.executable, "-m", "analysis.learning_curves", "extrapolate", "--csv", str(path),
                            "--target", "0.95", "--at", "10000,100000"], check=False, capture_output=True, text=True,
                           cwd=_isolated.ROOT)
        seconds = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert r.returncode == 0 and len(json.loads(r.stdout)) == len(chosen), r.stderr
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    return seconds / len(chosen), cpu / len(chosen)


def _load() -> list[str]:
    """The 1, 5 and 15 minute load averages of the machine (the cores are shared)."""
    return Path("/proc/loadavg").read_text().split()[:3]


def evaluate(quick: bool) -> None:
    pd.set_option("display.width", 220)
    load0 = _load()
    t0 = time.perf_counter()
    curves = sources.all_curves(sources.fetch_lcdb())
    if quick:  # 25 curves of each LCDB group, every other curve
        rng = np.random.default_rng(0)
        lcdb = [j for j, c in enumerate(curves) if c["curve"].startswith("lcdb")]
        keep = set(rng.choice(lcdb, 100, replace=False)) | {j for j, c in enumerate(curves) if j not in set(lcdb)}
        curves = [c for j, c in enumerate(curves) if j in keep]
    X, y, idx = sources.task_table(curves, per_curve=TASKS_PER_CURVE)
    obs = observed(curves)
    rng = np.random.default_rng(2)  # through fit_curve: every curve not from LCDB, and 30 of each LCDB group
    through = {j for j, c in enumerate(curves) if not c["curve"].startswith("lcdb")}
    for g in {c["family"] for c in curves if c["curve"].startswith("lcdb")}:
        members = [j for j, c in enumerate(curves) if c["family"] == g and obs[j] is not None]
        through |= set(rng.choice(members, min(30, len(members)), replace=False).tolist())
    n_sets = len({c["curve"] for c in curves})
    print(f"{len(curves)} curves of {n_sets} data sets ({sum(o is not None for o in obs)} with 3+ sizes up to 20% "
          f"of the largest), {len(y)} training tasks, {time.perf_counter() - t0:.0f} s")
    families = np.array([c["family"] for c in curves])
    family_models = {}
    by_family = held_out(curves, obs, X, y, idx, families, through, family_models)
    names = sorted({c["curve"] for c in curves})
    fold = {d: i % 3 for i, d in enumerate(names)}
    by_set = held_out(curves, obs, X, y, idx, np.array([f"data sets {fold[c['curve']]}" for c in curves]), set())
    print()
    print(by_family.groupby("family").agg(curves=("truth", "size"), median_ours=("err_ours", "median"),
                                          median_lsq=("err_lsq_pow3", "median"), median_last=("err_last", "median"),
                                          mean_ours=("err_ours", "mean"), mean_last=("err_last", "mean"),
                                          covered=("covered", "mean")).round(4).to_string())
    project = by_family[~by_family["family"].str.startswith("lcdb")]
    print()
    met = {"held-out source families (headline)": summary("held-out source families (headline)", by_family),
           "  of which the project's and sklearn's": summary("  of which the project's and sklearn's", project),
           "held-out data sets": summary("held-out data sets", by_set)}
    print("held-out source families, other draws of the observed runs (the headline is draw 1):")
    other_draws(curves, family_models, families)
    refused = sum(o is not None for o in obs) - len(by_family)
    per_curve, cpu_per_curve = cli_seconds(curves, obs)
    print(f"refusals: {refused}; fit_curve + predict {by_family['seconds'].mean():.2f} s per curve (median "
          f"{by_family['seconds'].median():.2f}, CPU {by_family['cpu'].mean():.2f}); CLI {per_curve:.2f} s per curve, "
          f"CPU {cpu_per_curve:.2f} s (20 curves in one file, start-up included); load average before "
          f"{' '.join(load0)}, after {' '.join(_load())}")
    for label, ok in met.items():
        print(f"goal (median <= 0.007 and <= 0.7 x the better baseline, mean <= 0.015, coverage 70-90%), "
              f"{label.strip()}: {'MET' if ok else 'NOT MET'}")
    print(f"goal 0 refusals: {'MET' if refused == 0 else 'NOT MET'}; goal <= 1 s per curve through the CLI: "
          f"{'MET' if per_curve <= 1 else 'NOT MET'} (CPU per curve: {'MET' if cpu_per_curve <= 1 else 'NOT MET'}); "
          f"total {time.perf_counter() - t0:.0f} s")


# --------------------------------------------------------------------------- the parametric prior (--tune)


def tune_parametric(path) -> None:
    """Print the parametric prior and interval width that fit the project's curves best (the constants
    analysis.planning.curve_fit.PRIOR and MODEL_SD; the owner accepted their figures on these curves)."""
    split = _split(pd.read_csv(path))
    t0 = time.perf_counter()
    errors = grid_errors(split)
    prior, sd = tune(errors, split, np.ones(len(split), bool))
    print(f"tuned on all {len(split)} curves ({len(GRID)} priors, {time.perf_counter() - t0:.0f} s): PRIOR = "
          f"{prior}, MODEL_SD = {sd:.3f} (in the code: {cf.PRIOR}, {cf.MODEL_SD})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generate", action="store_true", help="run the project's experiments missing from its CSV")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for --generate")
    parser.add_argument("--tune", action="store_true",
                        help="only print the parametric prior tuned on the project's curves")
    parser.add_argument("--quick", action="store_true", help="100 of the LCDB-even curves only")
    args = parser.parse_args()
    if args.generate:
        generate(args.jobs)
    elif args.tune:
        tune_parametric(CURVES)
    else:
        evaluate(args.quick)
