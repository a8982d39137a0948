"""Active learning, simulated: how many labels does each query strategy save on this data?

Pool-based simulation on a labelled classification data set: hide the labels
of a pool, start from a small stratified random seed set, and repeatedly let a
strategy pick ``batch_size`` items to "label" (their true labels are revealed),
retrain, and score on a fixed test split. Repeating this over seeds gives
accuracy-vs-labels curves with their spread, and :func:`savings` turns them
into **labels saved at a target accuracy vs random labelling**, with a
bootstrap interval over seeds.

Strategies (:data:`STRATEGIES`) come from scikit-activeml 1.0.1:

``random``           ``skactiveml.pool.RandomSampling`` (the baseline)
``least_confident``  ``UncertaintySampling(method="least_confident")``
``margin``           ``UncertaintySampling(method="margin_sampling")``
``entropy``          ``UncertaintySampling(method="entropy")``
``qbc``              ``QueryByCommittee(method="vote_entropy")`` over a
                     committee of learners trained on bootstrap resamples of
                     the labelled set (hand-written here: skactiveml takes a
                     fitted committee)
``clue``             ``Clue`` (uncertainty-weighted k-means, diversity-aware)
                     run on the ``10 x batch_size`` smallest-margin candidates,
                     as in cluster-margin sampling (Citovsky et al. 2021): the
                     pre-filter keeps k-means cheap and the batch uncertain.

The learner is a logistic regression (standardised inputs) wrapped in
``skactiveml.classifier.SklearnClassifier``; embedded image sources are first
reduced to 50 PCA components fitted on all the pixels (no labels used), so
a round takes a fraction of a second.

CLI::

    python -m analysis.active_learning run --source mnist5k [--strategies random,margin] [--seeds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.core import files, splits
from analysis.core.errors import InputError
from analysis.core.progress import Progress
from analysis.data import sources
from analysis.lab import shared

STRATEGIES = {
    "random": "Random (baseline)",
    "least_confident": "Least confidence",
    "margin": "Margin (smallest top-2 gap)",
    "entropy": "Entropy",
    "qbc": "Query by committee (vote entropy, 5 bootstrap learners)",
    "clue": "Diversity: margin top-10x batch + CLUE (uncertainty-weighted k-means)",
}
COMMITTEE_SIZE = 5
CLUE_POOL_FACTOR = 10


class ActiveLearningError(InputError):
    """A simulation request is unusable; the message says why."""


# --------------------------------------------------------------------------- strategies


def committee(X, y, classes, random_state: int, size: int = COMMITTEE_SIZE) -> list:
    """``size`` learners, each fitted on a bootstrap resample of the labelled items of ``(X, y)``."""
    rng = np.random.default_rng(random_state)
    labelled = np.flatnonzero(~np.isnan(y))
    return [shared.fit_quietly(shared.learner(classes, random_state + k), X[b], y[b])
            for k, b in enumerate(rng.choice(labelled, (size, len(labelled))))]


def query(strategy: str, X, y, model, batch_size: int, random_state: int, members=None) -> np.ndarray:
    """Indices (into ``X``) of the next ``batch_size`` items ``strategy`` asks to label.

    Inputs: ``X`` (n_items, n_features) the whole pool; ``y`` float labels
    with ``nan`` for the unlabelled items (only those are candidates);
    ``model`` a fitted skactiveml classifier (scores the candidates);
    ``members`` the fitted committee for ``qbc``. Ties are broken at random
    with ``random_state``.
    """
    from skactiveml.pool import Clue, QueryByCommittee, RandomSampling, UncertaintySampling, uncertainty_scores

    kw = {"batch_size": batch_size}
    if strategy == "random":
        return RandomSampling(random_state=random_state).query(X, y, **kw)
    if strategy in ("least_confident", "margin", "entropy"):
        method = "margin_sampling" if strategy == "margin" else strategy
        return UncertaintySampling(method=method, random_state=random_state).query(X, y, model, fit_clf=False, **kw)
    if strategy == "qbc":
        if members is None:
            raise ActiveLearningError("query by committee needs the fitted committee (members)")
        return QueryByCommittee(method="vote_entropy", random_state=random_state).query(
            X, y, members, fit_ensemble=False, **kw)
    if strategy == "clue":
        unlabelled = np.flatnonzero(np.isnan(y))
        margin = uncertainty_scores(model.predict_proba(X[unlabelled]), method="margin_sampling")
        keep = unlabelled[np.argsort(-margin, kind="stable")[:CLUE_POOL_FACTOR * batch_size]]
        clue = Clue(method="margin_sampling", cluster_algo_dict={"n_init": 1, "random_state": random_state},
                    random_state=random_state)
        return clue.query(X, y, model, fit_estimator=False, candidates=keep, **kw)
    raise ActiveLearningError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")


# --------------------------------------------------------------------------- simulation


def _one_run(strategy, X_pool, y_pool, X_test, y_test, classes, init, batch_size, budget, seed):
    """One strategy, one seed: ``[(labels, test accuracy)]`` after every round, and the run's seconds."""
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    y = np.full(len(y_pool), np.nan)
    y[init] = y_pool[init]
    curve = []
    with threadpool_limits(1):  # one thread per worker: joblib runs one worker per core
        while True:
            model = shared.fit_quietly(shared.learner(classes, seed), X_pool, y)
            n = int(np.sum(~np.isnan(y)))
            curve.append((n, float(np.mean(model.predict(X_test) == y_test))))
            if n >= budget:
                break
            members = committee(X_pool, y, classes, seed * 1000 + n) if strategy == "qbc" else None
            picked = query(strategy, X_pool, y, model, min(batch_size, budget - n), seed * 1000 + n, members)
            y[picked] = y_pool[picked]
    return curve, time.perf_counter() - t0


def simulate(X, y, strategies=tuple(STRATEGIES), seeds: int = 5, *, init_size: int = 20, batch_size: int = 20,
             budget: int = 500, test_size: int | None = None, n_jobs: int = 2, progress: Progress | None = None,
             random_state: int = 0) -> pd.DataFrame:
    """Pool-based active-learning curves of several strategies over several seeds.

    Inputs: ``X`` (n_items, n_features) numbers, ``y`` (n_items,) class labels;
    ``strategies`` names from :data:`STRATEGIES`; ``seeds`` repeats (each seed
    has its own stratified random seed set of ``init_size`` items, shared by
    every strategy so the comparison is paired); ``batch_size`` items per
    round; ``budget`` labels at which a run stops; ``test_size`` items held
    out once for scoring (default 20%, at most 1,000); ``n_jobs`` worker
    processes; ``progress(fraction, message)`` as runs finish.

    Output: one row per strategy, seed and round: ``strategy``, ``seed``,
    ``n_labels`` (items labelled so far), ``accuracy`` (test accuracy in
    [0, 1]) and ``seconds`` (wall time of the whole run, repeated per row).
    """
    from joblib import Parallel, delayed

    X = np.asarray(X, dtype=np.float64)
    codes, classes = pd.factorize(np.asarray(y))
    codes = codes.astype(float)
    if X.ndim != 2 or len(X) != len(codes):
        raise ActiveLearningError(f"X must be 2-D with one row per label; got X {X.shape} and {len(codes)} labels")
    if len(classes) < 2:
        raise ActiveLearningError("y needs at least two classes")
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not len(strategies):
        raise ActiveLearningError(f"unknown or no strategies {unknown}; choose from {', '.join(STRATEGIES)}")
    if seeds < 1:
        raise ActiveLearningError("seeds must be at least 1")
    test_size = test_size or min(1000, len(codes) // 5)
    pool, test = splits.validation_split(codes.astype(int), test_size, random_state)
    if not len(classes) <= init_size < budget <= len(pool) or batch_size < 1:
        raise ActiveLearningError(
            f"need classes ({len(classes)}) <= seed set ({init_size}) < budget ({budget}) <= pool ({len(pool)}) "
            f"and a batch of at least 1 (got {batch_size})")
    inits = {s: splits.stratified_order(codes[pool], random_state + 1000 * s + 1)[:init_size] for s in range(seeds)}
    label_ids = np.arange(len(classes), dtype=float)

    def task(strategy, s):
        curve, secs = _one_run(strategy, X[pool], codes[pool], X[test], codes[test], label_ids, inits[s],
                               batch_size, budget, random_state + s)
        return [(strategy, s, n, acc, secs) for n, acc in curve]

    # slow strategies first, so the two workers finish together
    cost = {"qbc": 4, "clue": 2}
    jobs = sorted(((st, s) for st in strategies for s in range(seeds)), key=lambda j: -cost.get(j[0], 1))
    rows = []
    results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(delayed(task)(*j) for j in jobs)
    for i, run in enumerate(results, 1):
        rows += run
        if progress:
            progress(i / len(jobs), f"{run[-1][0]}, seed {run[-1][1]}: {run[-1][3]:.3f} at {run[-1][2]} labels")
    return (pd.DataFrame(rows, columns=["strategy", "seed", "n_labels", "accuracy", "seconds"])
            .sort_values(["strategy", "seed", "n_labels"], ignore_index=True))


# --------------------------------------------------------------------------- labels saved


def _curves(df: pd.DataFrame) -> tuple[np.ndarray, list, np.ndarray]:
    """``(n_labels grid, strategies, accuracy array of shape (strategy, seed, round))``."""
    wide = df.pivot_table(index=["strategy", "seed"], columns="n_labels", values="accuracy")
    if wide.isna().any().any():
        raise ActiveLearningError("every strategy and seed needs a score at the same label counts")
    strategies = list(wide.index.get_level_values(0).unique())
    seeds = wide.index.get_level_values(1).unique()
    arr = wide.to_numpy().reshape(len(strategies), len(seeds), -1)
    return wide.columns.to_numpy(float), strategies, arr


def _random_row(strategies: list[str]) -> int:
    if "random" not in strategies:
        raise ActiveLearningError("labels saved are measured against random: include the 'random' strategy")
    return strategies.index("random")


def default_target(df: pd.DataFrame) -> float:
    """The default target of :func:`savings`: random labelling's mean test accuracy at the whole budget.

    Input: :func:`simulate` output (must include ``random``). Output: an accuracy in [0, 1].
    """
    _, strategies, acc = _curves(df)
    return float(acc.mean(axis=1)[_random_row(strategies), -1])


def savings(df: pd.DataFrame, target: float | None = None, level: float = 0.9, n_boot: int = 1000,
            random_state: int = 0) -> dict:
    """Labels each strategy needs to reach ``target`` and the share saved vs random, with intervals.

    Input: :func:`simulate` output (must include ``random``); ``target``
    test accuracy (default: random's mean accuracy at the budget, i.e. "as
    good as random labelling of the whole budget"); ``level`` interval
    coverage. Curves are averaged over seeds; the interval is a paired
    bootstrap over seeds (a draw resamples seeds and keeps each seed's runs of
    all strategies together, since they share the seed set). In a draw where
    random's mean curve stays below the target it counts as reaching it at the
    budget, which understates the saving.

    Output: ``{"target", "budget", "seeds", "level", "strategies": {name:
    {"labels", "saving", "saving_low", "saving_high", "p_reached",
    "final_accuracy", "final_sd"}}, "best"}``. ``labels`` is ``None`` and
    ``saving`` ``None`` when the mean curve never reaches the target within the
    budget; ``saving`` is a share of random's labels (0.4 = 40% fewer,
    negative = more than random); ``p_reached`` is the share of bootstrap draws
    whose curve reaches the target within the budget; ``saving_low``/``saving_high`` are
    ``None`` where the interval's end lies beyond the budget. ``best`` is the
    strategy with the largest saving.
    """
    grid, strategies, acc = _curves(df)
    r = _random_row(strategies)
    mean = acc.mean(axis=1)
    target = float(mean[r, -1]) if target is None else float(target)
    budget = float(grid[-1])

    def saved(curves):
        need = np.array([shared.labels_to_reach(grid, c, target) for c in curves])
        saving = 1 - need / min(need[r], budget)
        saving[r] = 0.0  # the baseline saves nothing by definition, also where it falls short of the target
        return need, saving

    need, point = saved(mean)
    rng = np.random.default_rng(random_state)
    draws = rng.integers(0, acc.shape[1], (n_boot, acc.shape[1]))
    boot_need, boot = map(np.array, zip(*(saved(acc[:, d].mean(axis=1)) for d in draws)))  # (draw, strategy)
    # no interpolation between draws: a saving of -inf (target not reached) must stay an end, not become nan
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2], axis=0, method="inverted_cdf")

    def num(v):
        return float(v) if np.isfinite(v) else None

    out = {name: {"labels": num(need[i]), "saving": num(point[i]), "saving_low": num(lo[i]),
                  "saving_high": num(hi[i]), "p_reached": float(np.mean(np.isfinite(boot_need[:, i]))),
                  "final_accuracy": float(mean[i, -1]), "final_sd": float(acc[i, :, -1].std(ddof=1))
                  if acc.shape[1] > 1 else 0.0}
           for i, name in enumerate(strategies)}
    others = {k: v["saving"] for k, v in out.items() if k != "random" and v["saving"] is not None}
    return {"target": target, "budget": budget, "seeds": int(acc.shape[1]), "level": level, "strategies": out,
            "best": max(others, key=others.get) if others else None}


def band(df: pd.DataFrame, level: float = 0.8) -> pd.DataFrame:
    """Mean accuracy and the ``level`` band over seeds per strategy and label count (for plotting)."""
    q = ((1 - level) / 2, (1 + level) / 2)
    g = df.groupby(["strategy", "n_labels"])["accuracy"]
    return pd.DataFrame({"mean": g.mean(), "low": g.quantile(q[0]), "high": g.quantile(q[1])}).reset_index()


# --------------------------------------------------------------------------- cached runs on embedded sources


def _request(source, strategies, seeds, init_size, batch_size, budget) -> Path:
    return files.run_path("active_learning", source, [source, sorted(strategies), seeds, init_size, batch_size, budget])


def stored_simulation(source: str, strategies=tuple(STRATEGIES), seeds: int = 5, init_size: int = 20,
                      batch_size: int = 20, budget: int = 500) -> pd.DataFrame | None:
    """The persisted result of :func:`cached_simulation` for this request, or ``None`` if never run."""
    path = _request(source, strategies, seeds, init_size, batch_size, budget)
    return pd.read_csv(path) if path.exists() else None


def cached_simulation(source: str, strategies=tuple(STRATEGIES), seeds: int = 5, init_size: int = 20,
                      batch_size: int = 20, budget: int = 500, *, n_jobs: int = 2,
                      progress: Progress | None = None) -> pd.DataFrame:
    """:func:`simulate` on an embedded source (:data:`analysis.planning.learning_curves.SOURCES`), on PCA features.

    Persisted under ``data_home()/active_learning/``: the same request is read
    back from disk instead of recomputed, also after a restart.
    """
    stored = stored_simulation(source, strategies, seeds, init_size, batch_size, budget)
    if stored is not None:
        return stored
    X, y, _ = sources.load_source(source)
    df = simulate(shared.features(X), y, list(strategies), seeds, init_size=init_size, batch_size=batch_size,
                  budget=budget, n_jobs=n_jobs, progress=progress)
    files.save_csv(df, _request(source, strategies, seeds, init_size, batch_size, budget))
    return df


def measurement(result: dict, source: str) -> tuple[float, str, dict]:
    """``(value, source note, detail)`` for the planner's ``al_savings`` from a :func:`savings` answer."""
    best = result["best"]
    if best is None:
        raise ActiveLearningError("no strategy reached the target within the budget: nothing to send")
    s = result["strategies"][best]
    value = max(s["saving"], 0.0)  # the planner's field is a share saved; a loss means "use random"
    note = (f"active-learning simulation on {source}, {best} vs random at accuracy {result['target']:.3f}, "
            f"{result['seeds']} seeds")
    return value, note, {"strategy": best, "low": s["saving_low"], "high": s["saving_high"],
                         "level": result["level"], "target": result["target"], "budget": result["budget"],
                         "simulated": True}


# --------------------------------------------------------------------------- CLI


def _names(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in STRATEGIES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown strategies {bad or text!r}; choose from {','.join(STRATEGIES)}")
    return names


def _arguments(r) -> None:
    r.add_argument("--strategies", type=_names, default=list(STRATEGIES), help=f"from {','.join(STRATEGIES)}")
    r.add_argument("--init", type=int, default=20, help="random seed-set size (items)")
    r.add_argument("--batch", type=int, default=20, help="items queried per round")
    r.add_argument("--budget", type=int, default=500, help="labels at which each run stops")
    r.add_argument("--target", type=float, help="test accuracy to reach (default: random's final accuracy)")


def _compute(args, progress) -> dict:
    df = cached_simulation(args.source, args.strategies, args.seeds, args.init, args.batch, args.budget,
                           n_jobs=args.jobs, progress=progress)
    return savings(df, args.target)


def main(argv=None) -> int:
    return shared.run_cli(argv, "python -m analysis.active_learning", __doc__.split("\n")[0], _arguments, _compute)


if __name__ == "__main__":
    sys.exit(main())
