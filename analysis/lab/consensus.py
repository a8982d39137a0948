"""Model answers in the consensus: how many people per item does a model's vote replace?

Several annotators label each item; a consensus method turns their answers
into one label per item (:data:`METHODS`):

``majority``     majority vote (``crowdkit.aggregation.MajorityVote``);
``dawid_skene``  Dawid-Skene (``crowdkit.aggregation.DawidSkene``): each
                 annotator's per-class confusion is estimated by EM, so a
                 reliable annotator outweighs an unreliable one;
``crowdlab``     CROWDLAB (``cleanlab.multiannotator.get_label_quality_multiannotator``):
                 weighs the annotators and the model's class probabilities by
                 their estimated accuracy. It needs the model's probabilities
                 and items with two or more annotators, so it has no
                 humans-only variant and no value at one annotator per item.

*With the model*, majority vote and Dawid-Skene count the model's top class as
one more annotator's vote (worker :data:`MODEL`); CROWDLAB uses the model's
probabilities. :func:`accuracy_by_overlap` keeps 1, 2, ... annotators per
item (a random subset per seed) and measures the consensus accuracy against
known true labels, with and without the model; :func:`overlaps_replaced`
says how many annotators per item reach a target accuracy with the model
versus without it.

Data: a task/worker/label CSV (:func:`read_annotations`; true labels in an
optional ``gold`` column, the model's answers as one named worker with an
optional ``confidence`` column), or a simulation on an embedded source
(:func:`simulate`): simulated annotators with per-class accuracies and
realistic confusions (mistakes go to the classes a classifier confuses on the
same data), and a model trained on the annotators' majority vote (logistic
regression on PCA features, out-of-fold probabilities). Simulated results are
labelled as such.

CLI::

    python -m analysis.consensus run [--source mnist5k | --csv FILE --model-worker NAME] [--annotators 5] [--seeds 5]
"""

from __future__ import annotations

import sys
from typing import Callable

import numpy as np
import pandas as pd

from analysis.core import files
from analysis.core.errors import InputError
from analysis.data import sources
from analysis.lab import shared

METHODS = {
    "majority": "Majority vote",
    "dawid_skene": "Dawid-Skene",
    "crowdlab": "CROWDLAB",
}
MODEL = "model"
#: Simulated annotators: (default, meaning). Editable assumptions.
SIMULATION = {
    "workers": (20, "annotators in the pool"),
    "annotators": (5, "annotators per item (the most the curve shows)"),
    "skill_low": (0.55, "accuracy of the weakest annotator"),
    "skill_high": (0.9, "accuracy of the strongest annotator"),
}


class ConsensusError(InputError):
    """Annotations or settings are unusable; the message says why."""


# --------------------------------------------------------------------------- inputs


def check_annotations(df: pd.DataFrame) -> pd.DataFrame:
    """A task/worker/label table with its problems refused in one line each.

    Requires columns ``task``, ``worker``, ``label`` with no empty cells, at
    least two annotators, no annotator twice on one task, and (optional
    ``gold`` column, the true label where known) gold labels the annotators
    use. Returns the table with ``task``/``worker``/``label`` as strings.
    """
    missing = [c for c in ("task", "worker", "label") if c not in df.columns]
    if missing:
        raise ConsensusError(f"the annotations need the columns task, worker, label; missing: {', '.join(missing)}")
    df = df.copy()
    empty = df[["task", "worker", "label"]].isna().any(axis=1)
    if empty.any():
        raise ConsensusError(f"row {int(np.flatnonzero(empty)[0]) + 2} has an empty task, worker or label")
    for c in ("task", "worker", "label"):
        df[c] = df[c].astype(str).str.strip()
    if df["worker"].nunique() < 2:
        raise ConsensusError(f"only one annotator ({df['worker'].iloc[0]}): a consensus needs at least two")
    twice = df.duplicated(["task", "worker"])
    if twice.any():
        r = df[twice].iloc[0]
        raise ConsensusError(f"annotator {r['worker']} labels task {r['task']} more than once")
    if "gold" in df.columns:
        gold = df["gold"].dropna().astype(str).str.strip()
        unknown = sorted(set(gold) - set(df["label"]))
        if unknown:
            raise ConsensusError(f"unknown labels in gold: {', '.join(unknown[:5])} (no annotator uses them)")
        df.loc[gold.index, "gold"] = gold
    return df


def read_annotations(file) -> pd.DataFrame:
    """:func:`check_annotations` of a CSV file (path or file-like)."""
    try:
        df = pd.read_csv(file, dtype=str)
    except (ValueError, OSError) as e:
        raise ConsensusError(f"could not read the CSV: {e}") from None
    return check_annotations(df)


def split_model(df: pd.DataFrame, model_worker: str | None):
    """``(human annotations, model probabilities or None, truth)`` from a checked table.

    The model's rows (worker ``model_worker``) become a probability table
    (index task, one column per label): its answer gets its ``confidence``
    column where given, else the model's agreement with the humans' majority
    vote (an estimate, said in the output), and the rest is spread evenly.
    ``truth`` maps tasks to ``gold`` labels (empty without the column).
    """
    truth = (df.dropna(subset=["gold"]).groupby("task")["gold"].first() if "gold" in df.columns
             else pd.Series(dtype=str))
    if not model_worker:
        return df[["task", "worker", "label"]], None, truth
    rows = df["worker"] == model_worker
    if not rows.any():
        raise ConsensusError(f"no annotator named {model_worker!r} to use as the model")
    humans, model = df.loc[~rows, ["task", "worker", "label"]], df[rows].set_index("task")
    if humans["worker"].nunique() < 2:
        raise ConsensusError("besides the model, a consensus needs at least two annotators")
    classes = sorted(set(df["label"]))
    if "confidence" in model.columns:
        conf = pd.to_numeric(model["confidence"], errors="coerce")
        if conf.isna().any() or not conf.between(0, 1).all():
            raise ConsensusError("the model's confidence must be a probability in [0, 1] on each of its rows")
    else:
        vote = aggregate(humans, "majority")
        conf = pd.Series(float((vote.reindex(model.index) == model["label"]).mean()), index=model.index)
    k = len(classes)
    proba = pd.DataFrame(np.repeat(((1 - conf) / max(k - 1, 1)).to_numpy()[:, None], k, 1), index=model.index,
                         columns=classes)
    for c in classes:
        proba.loc[model["label"] == c, c] = conf[model["label"] == c]
    return humans, proba, truth


# --------------------------------------------------------------------------- consensus


def aggregate(ann: pd.DataFrame, method: str, proba: pd.DataFrame | None = None) -> pd.Series:
    """Consensus label per task (``pd.Series``, index task) of ``ann`` (columns task, worker, label).

    ``proba`` (index task, columns labels) adds the model: one more vote for
    majority and Dawid-Skene, the probabilities for CROWDLAB (required).
    """
    import crowdkit.aggregation as ca

    if method not in METHODS:
        raise ConsensusError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if method == "crowdlab":
        return _crowdlab(ann, proba)
    if proba is not None:
        model = proba.idxmax(axis=1)
        ann = pd.concat([ann, pd.DataFrame({"task": model.index, "worker": MODEL, "label": model.to_numpy()})])
    agg = ca.MajorityVote() if method == "majority" else ca.DawidSkene()
    return agg.fit_predict(ann[["task", "worker", "label"]])


def _crowdlab(ann, proba):
    from cleanlab.multiannotator import get_label_quality_multiannotator

    if proba is None:
        raise ConsensusError("CROWDLAB needs the model's probabilities")
    wide = ann.pivot(index="task", columns="worker", values="label")
    if (wide.notna().sum(axis=1) < 2).all():
        raise ConsensusError("CROWDLAB needs items with two or more annotators")
    classes = list(proba.columns)
    codes = wide.apply(lambda col: col.map({c: i for i, c in enumerate(classes)}))
    if codes.isna().sum().sum() > wide.isna().sum().sum():
        raise ConsensusError("annotators use labels the model has no probability for")
    p = proba.reindex(wide.index).to_numpy(float)
    if np.isnan(p).any():
        raise ConsensusError("the model has no answer for some annotated tasks")
    out = get_label_quality_multiannotator(codes, p, verbose=False, return_detailed_quality=False,
                                           return_annotator_stats=False)
    return pd.Series(np.asarray(classes, dtype=object)[out["label_quality"]["consensus_label"].to_numpy()],
                     index=wide.index)


ModelFn = Callable[[pd.DataFrame], pd.DataFrame]


def accuracy_by_overlap(ann: pd.DataFrame, truth: pd.Series, model: ModelFn | None = None, overlaps=None,
                        seed: int = 0, methods=tuple(METHODS)) -> pd.DataFrame:
    """Consensus accuracy with 1, 2, ... annotators per item, with and without the model, for one seed.

    Inputs: ``ann`` (task, worker, label), ``truth`` (index task, true label;
    accuracy is measured on these tasks), ``model(annotations) -> proba``
    giving the model's probabilities (index task, columns labels) when trained
    on those annotations, or ``None``; ``overlaps`` (default 1 .. the most
    annotators of any task); ``seed`` picks which annotators of a task are kept
    (a random order per task, first ``k``). Output: one row per overlap,
    method and ``with_model`` (bool): ``overlap``, ``method``, ``with_model``,
    ``accuracy`` (share of truth tasks whose consensus is right), ``seed``.
    """
    if not len(truth):
        raise ConsensusError("accuracy needs true labels: add a 'gold' column with the true label of some tasks")
    rng = np.random.default_rng(seed)
    ann = ann.assign(_order=rng.random(len(ann))).sort_values(["task", "_order"])
    rank = ann.groupby("task").cumcount() + 1
    overlaps = overlaps or range(1, int(rank.max()) + 1)
    rows = []
    for k in overlaps:
        sub = ann.loc[rank <= k, ["task", "worker", "label"]]
        proba = model(sub) if model else None
        for method in methods:
            for with_model in (True,) if method == "crowdlab" else (False, True):
                if (with_model and proba is None) or (method == "crowdlab" and k < 2):
                    continue
                pred = aggregate(sub, method, proba if with_model else None)
                hit = pred.reindex(truth.index) == truth
                rows.append({"seed": seed, "overlap": k, "method": method, "with_model": with_model,
                             "accuracy": float(hit.mean())})
    return pd.DataFrame(rows)


def summarize(df: pd.DataFrame, level: float = 0.8) -> pd.DataFrame:
    """Mean accuracy and the ``level`` band over seeds per method, ``with_model`` and overlap."""
    q = ((1 - level) / 2, (1 + level) / 2)
    g = df.groupby(["method", "with_model", "overlap"])["accuracy"]
    return pd.DataFrame({"mean": g.mean(), "low": g.quantile(q[0]), "high": g.quantile(q[1])}).reset_index()


def _best_per_overlap(summary: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The best method's row at each overlap: people only, and with the model's vote."""
    best = summary.loc[summary.groupby(["with_model", "overlap"])["mean"].idxmax()]
    humans, with_model = best[~best["with_model"]], best[best["with_model"]]
    if not len(humans):
        raise ConsensusError("no humans-only consensus to compare with")
    return humans, with_model


def default_target(summary: pd.DataFrame) -> float:
    """The default target of :func:`overlaps_replaced`: the best people-only accuracy at the largest overlap.

    Input: :func:`summarize` output. Output: an accuracy in [0, 1].
    """
    humans, _ = _best_per_overlap(summary)
    return float(humans.loc[humans["overlap"].idxmax(), "mean"])


def overlaps_replaced(summary: pd.DataFrame, target: float | None = None) -> dict:
    """Annotators per item that reach ``target`` accuracy without and with the model (best method at each overlap).

    ``target`` defaults to the best humans-only accuracy at the largest
    overlap. Output: ``target``, ``without`` / ``with`` (overlaps needed;
    ``None`` when not reached), ``replaced`` (``without - with``; ``None``
    when either is not reached), ``method_without`` / ``method_with`` (the
    best method at the overlap used).
    """
    humans, with_model = _best_per_overlap(summary)
    target = default_target(summary) if target is None else float(target)

    def need(rows):
        hit = rows[rows["mean"] >= target - 1e-12].sort_values("overlap")
        return (int(hit["overlap"].iloc[0]), hit["method"].iloc[0]) if len(hit) else (None, None)

    (k0, m0), (k1, m1) = need(humans), need(with_model)
    return {"target": target, "without": k0, "with": k1, "replaced": k0 - k1 if k0 and k1 else None,
            "method_without": m0, "method_with": m1}


# --------------------------------------------------------------------------- simulation


def confusability(X, y, random_state: int = 0) -> np.ndarray:
    """Where mistakes go: row ``c`` is the share of a classifier's out-of-fold errors on class ``c`` per wrong
    class (90%), plus 10% spread evenly; diagonal 0. ``y`` are integer codes 0..K-1."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    k = int(y.max()) + 1
    pred = cross_val_predict(shared.learner(np.arange(k), random_state), X, y.astype(float),
                             cv=StratifiedKFold(5, shuffle=True, random_state=random_state))
    m = np.zeros((k, k))
    np.add.at(m, (y, pred.astype(int)), 1)
    np.fill_diagonal(m, 0)
    rows = m.sum(1, keepdims=True)
    even = (1 - np.eye(k)) / (k - 1)
    return 0.9 * np.divide(m, rows, out=even.copy(), where=rows > 0) + 0.1 * even


def simulate_annotators(y, confusion: np.ndarray, *, workers: int = 20, annotators: int = 5,
                        skill_low: float = 0.55, skill_high: float = 0.9, random_state: int = 0) -> pd.DataFrame:
    """Simulated annotations: ``annotators`` distinct workers per item from a pool of ``workers``.

    Worker ``j`` has a skill evenly spaced in ``[skill_low, skill_high]`` and
    per-class accuracy = skill + N(0, 0.08) (clipped to [0.05, 0.99]); a wrong
    answer on class ``c`` is drawn from ``confusion[c]``. ``y`` are integer
    codes. Output columns: ``task``, ``worker``, ``label`` (strings).
    """
    if not (2 <= annotators <= workers and 0 < skill_low <= skill_high <= 1):
        raise ConsensusError(f"need 2 <= annotators per item ({annotators}) <= workers ({workers}) and "
                             f"0 < lowest skill ({skill_low}) <= highest ({skill_high}) <= 1")
    rng = np.random.default_rng(random_state)
    y = np.asarray(y)
    n, k = len(y), confusion.shape[0]
    acc = np.clip(np.linspace(skill_low, skill_high, workers)[:, None] + rng.normal(0, 0.08, (workers, k)), 0.05, 0.99)
    who = np.argsort(rng.random((n, workers)), axis=1)[:, :annotators].ravel()
    task = np.repeat(np.arange(n), annotators)
    truth = y[task]
    right = rng.random(len(task)) < acc[who, truth]
    cum = confusion.cumsum(1)
    wrong = np.minimum((rng.random(len(task))[:, None] > cum[truth]).sum(1), k - 1)
    label = np.where(right, truth, wrong)
    return pd.DataFrame({"task": task.astype(str), "worker": np.char.add("w", who.astype(str)),
                         "label": label.astype(str)})


def crowd_trained_model(X, classes, random_state: int = 0) -> ModelFn:
    """``model(annotations)``: out-of-fold probabilities of a logistic regression trained on the annotations'
    majority vote (the labels a team would have), on items ``X[int(task)]``."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    def model(ann: pd.DataFrame) -> pd.DataFrame:
        vote = aggregate(ann, "majority")
        idx = vote.index.astype(int).to_numpy()
        codes = pd.Categorical(vote.to_numpy(), categories=classes).codes
        counts = np.bincount(codes, minlength=len(classes))
        folds = StratifiedKFold(min(5, max(2, counts[counts > 0].min())), shuffle=True, random_state=random_state)
        with warnings.catch_warnings():
            # the lab's learners measure the model as trained, also where it stops at max_iter
            warnings.simplefilter("ignore", ConvergenceWarning)
            proba = cross_val_predict(shared.learner(np.arange(len(classes)), random_state), X[idx],
                                      codes.astype(float), cv=folds, method="predict_proba")
        return pd.DataFrame(proba, index=vote.index, columns=classes)

    return model


def _one_seed(X, codes, classes, confusion, settings, seed, methods):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # one thread per worker: joblib runs one worker per core
        ann = simulate_annotators(codes, confusion, **settings, random_state=seed)
        ann["label"] = np.asarray(classes, dtype=object)[ann["label"].astype(int)]
        truth = pd.Series(np.asarray(classes, dtype=object)[codes], index=np.arange(len(codes)).astype(str))
        return accuracy_by_overlap(ann, truth, crowd_trained_model(X, list(classes), seed), seed=seed,
                                   methods=methods)


def simulate(X, y, seeds: int = 5, *, methods=tuple(METHODS), n_jobs: int = 2, progress=None, random_state: int = 0,
             **settings) -> pd.DataFrame:
    """:func:`accuracy_by_overlap` of ``methods`` on simulated annotators (:func:`simulate_annotators`,
    ``settings`` as in :data:`SIMULATION`) for ``seeds`` seeds; each seed draws its own annotators and answers."""
    from joblib import Parallel, delayed

    X = np.asarray(X, dtype=float)
    codes, classes = pd.factorize(np.asarray(y))
    settings = {k: v[0] for k, v in SIMULATION.items()} | settings
    simulate_annotators(codes[:1], np.zeros((1, 1)), **settings)  # refuse bad settings before the work
    confusion = confusability(X, codes, random_state)
    rows = []
    results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(_one_seed)(X, codes, classes.astype(str), confusion, settings, random_state + s, methods)
        for s in range(seeds))
    for i, df in enumerate(results, 1):
        rows.append(df)
        if progress:
            progress(i / seeds, f"seed {int(df['seed'].iloc[0])} done")
    return pd.concat(rows, ignore_index=True).sort_values(["seed", "method", "with_model", "overlap"],
                                                          ignore_index=True)


def _path(source, seeds, settings):
    settings = {k: v[0] for k, v in SIMULATION.items()} | settings
    return files.run_path("consensus", source, [source, seeds, sorted(settings.items())]), settings


def stored_simulation(source: str, seeds: int = 5, **settings) -> pd.DataFrame | None:
    """The persisted result of :func:`cached_simulation` for this request, or ``None`` if never run."""
    path, _ = _path(source, seeds, settings)
    return pd.read_csv(path) if path.exists() else None


def cached_simulation(source: str, seeds: int = 5, *, n_jobs: int = 2, progress=None, **settings) -> pd.DataFrame:
    """:func:`simulate` on an embedded source's PCA features, persisted under ``data_home()/consensus/``."""
    path, settings = _path(source, seeds, settings)
    if path.exists():
        return pd.read_csv(path)
    X, y, _ = sources.load_source(source)
    df = simulate(shared.features(X), y, seeds, n_jobs=n_jobs, progress=progress, **settings)
    files.save_csv(df, path)
    return df


def on_annotations(df: pd.DataFrame, model_worker: str | None = None, seeds: int = 5,
                   methods=tuple(METHODS)) -> pd.DataFrame:
    """:func:`accuracy_by_overlap` of ``methods`` over ``seeds`` random annotator orders on a checked
    task/worker/label table."""
    humans, proba, truth = split_model(df, model_worker)
    model = (lambda _: proba) if proba is not None else None
    return pd.concat([accuracy_by_overlap(humans, truth, model, seed=s, methods=methods) for s in range(seeds)],
                     ignore_index=True)


def measurement(result: dict, what: str) -> tuple[float, str, dict]:
    """``(value, note, detail)`` for the planner's ``overlap`` from :func:`overlaps_replaced`."""
    if result["with"] is None:
        raise ConsensusError("with the model, no overlap reaches the target: nothing to send")
    note = f"consensus on {what}: annotators per item with the model's vote at accuracy {result['target']:.3f}"
    return float(result["with"]), note, {k: result[k] for k in ("target", "without", "replaced", "method_with")}


# --------------------------------------------------------------------------- CLI


def _arguments(r) -> None:
    r.add_argument("--csv", help="task,worker,label[,gold][,confidence] CSV instead of a simulation on --source")
    r.add_argument("--model-worker", help="the worker in --csv whose answers are the model's")
    r.add_argument("--target", type=float, help="consensus accuracy to reach (default: humans only, all annotators)")
    for name, (default, meaning) in SIMULATION.items():
        r.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default, help=f"simulation: {meaning}")


def _compute(args, progress) -> dict:
    if args.csv:
        df, what = on_annotations(read_annotations(args.csv), args.model_worker, args.seeds), f"CSV {args.csv}"
    else:
        settings = {k: getattr(args, k) for k in SIMULATION}
        df = cached_simulation(args.source, args.seeds, n_jobs=args.jobs, progress=progress, **settings)
        what = f"Simulated annotators on {args.source}"
    s = summarize(df)
    table = s.pivot_table(index="overlap", columns=["method", "with_model"], values="mean")
    return {"source": what, "seeds": args.seeds, **overlaps_replaced(s, args.target),
            "accuracy": {f"{m}{' + model' if w else ''}": {int(k): v for k, v in table[(m, w)].dropna().items()}
                         for m, w in table.columns}}


def main(argv=None) -> int:
    return shared.run_cli(argv, "python -m analysis.consensus", __doc__.split("\n")[0], _arguments, _compute)


if __name__ == "__main__":
    sys.exit(main())
