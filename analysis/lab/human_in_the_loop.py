"""Human in the loop: which of the model's answers can be accepted without a person, at a target accuracy?

Sort the model's answers by confidence. Accepting every answer with
confidence >= ``t`` covers a share of the items (*coverage*) at some accuracy:
the risk-coverage curve (:func:`risk_coverage`). For a target accuracy
(default 99.9%), :func:`choose_threshold` picks the lowest threshold whose
accepted answers *provably* reach it with probability ``level`` (default 95%).
It tests ``steps`` (default 20) candidate thresholds, at coverage 5%, 10%, ...,
100% of the answers (set by the confidences alone, not by which answers are
right), and keeps the highest coverage whose one-sided Clopper-Pearson upper
bound on the error rate of the accepted answers is at most ``1 - target``.
Each bound is taken at confidence ``1 - (1 - level) / steps`` (Bonferroni), so
the chosen threshold meets the target with probability at least ``level``
however it was picked, provided future items are like these calibration items.
This is the guarantee of selective classification with guaranteed risk
(Geifman & El-Yaniv 2017) with a union bound over a fixed grid. Zero errors
among ``n`` accepted answers prove at best an error rate of
``1 - ((1 - level) / steps)^(1/n)``: 99.9% at 95% over 20 steps needs at least
5,989 accepted answers (:func:`min_items`). Items below the threshold go to
people: that share is the budget planner's ``human_share``.

Where the (confidence, correct) pairs come from:

* classification (:func:`classification_scores`): an RBF support-vector
  machine with Platt-scaled probabilities on the PCA features of an embedded
  source; every confidence is out-of-fold (5-fold cross-validation, each seed
  with its own folds), i.e. on items the model did not train on;
* detection (:func:`detection_scores`): every predicted box of a FiftyOne
  dataset with its confidence; correct when it matches a truth box of the same
  class at IoU >= 0.5 (greedy by confidence, each truth box once, as in COCO
  evaluation). Runs are bootstrap resamples of the images;
* a CSV with columns ``confidence,correct`` (:func:`read_scores`).

CLI::

    python -m analysis.hitl run [--source mnist5k | --dataset NAME | --csv FILE] [--target 0.999] [--level 0.95]
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd

from analysis.core import files
from analysis.core import matching as bm
from analysis.core.errors import InputError
from analysis.data import sources
from analysis.data.detections import read_detections, truth_field
from analysis.lab import shared

TARGETS = (0.95, 0.98, 0.99, 0.995, 0.998, 0.999)
#: Coverage grid (share of items auto-accepted) on which runs are averaged for plotting.
COVERAGE_GRID = np.linspace(0.01, 1.0, 100)


class HitlError(InputError):
    """Scores or settings are unusable; the message says why."""


# --------------------------------------------------------------------------- the bound and the threshold


def error_upper_bound(errors, n, level: float = 0.95) -> np.ndarray:
    """One-sided Clopper-Pearson upper bound on an error rate: ``errors`` wrong out of ``n``, at ``level``."""
    from scipy.stats import beta

    k, n = np.asarray(errors, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(k >= n, 1.0, beta.ppf(level, k + 1, np.maximum(n - k, 1e-12)))


def min_items(target: float, level: float = 0.95, steps: int = 20) -> int:
    """Fewest accepted answers that can prove ``target`` accuracy at ``level`` (all of them right, ``steps`` tests)."""
    _check_target(target, level, steps)
    return math.ceil(math.log((1 - level) / steps) / math.log(target))


def _check_target(target, level, steps=1):
    if int(steps) != steps or steps < 1:
        raise HitlError(f"steps must be a whole number >= 1, got {steps}")
    if not (0 < target < 1 and 0 < level < 1):
        raise HitlError(f"target accuracy and confidence level must lie strictly between 0 and 1, "
                        f"got {target} and {level}")


def _pairs(confidence, correct) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct)
    if conf.ndim != 1 or conf.shape != ok.shape or not len(conf):
        raise HitlError(f"need one confidence per answer and at least one answer; got {conf.shape} and {ok.shape}")
    if not np.isfinite(conf).all():
        raise HitlError("confidences must be finite numbers")
    if ok.dtype != bool:
        if not np.isin(ok, (0, 1)).all():
            raise HitlError("correct must be true/false or 1/0 for every answer")
        ok = ok.astype(bool)
    return conf, ok


def risk_coverage(confidence, correct, level: float = 0.95) -> pd.DataFrame:
    """The risk-coverage curve: one row per distinct confidence, most confident first.

    Inputs: per answer its ``confidence`` (any scale, higher = surer) and
    whether it is ``correct``. Output columns: ``threshold`` (accept answers
    with confidence >= it), ``accepted`` (answers), ``coverage`` (share of all
    answers), ``errors`` (wrong accepted answers), ``accuracy`` (observed, of
    the accepted ones) and ``accuracy_lower`` (one-sided Clopper-Pearson lower
    bound at ``level``).
    """
    conf, ok = _pairs(confidence, correct)
    order = np.argsort(-conf, kind="stable")
    c = conf[order]
    errors = np.cumsum(~ok[order])
    accepted = np.arange(1, len(c) + 1)
    last = np.r_[c[1:] != c[:-1], True]  # a threshold accepts a whole group of tied confidences
    accepted, errors, c = accepted[last], errors[last], c[last]
    return pd.DataFrame({"threshold": c, "accepted": accepted, "coverage": accepted / len(conf), "errors": errors,
                         "accuracy": 1 - errors / accepted,
                         "accuracy_lower": 1 - error_upper_bound(errors, accepted, level)})


def choose_threshold(confidence, correct, target: float = 0.999, level: float = 0.95, steps: int = 20) -> dict:
    """The lowest confidence threshold whose accepted answers reach ``target`` accuracy with probability ``level``.

    Tests ``steps`` coverage levels with Bonferroni-corrected Clopper-Pearson
    bounds (see the module docstring). Output: ``target``, ``level``, ``n``
    (answers), ``min_items``, ``threshold`` (``None``: accept nothing),
    ``accepted``, ``errors``, ``auto_share`` (share accepted without a person),
    ``human_share`` (the rest), ``accuracy`` and ``accuracy_lower`` (the
    corrected bound) of the accepted answers (``None`` when nothing is
    accepted) and ``reason`` (why nothing is accepted, else ``""``).
    """
    _check_target(target, level, steps)
    rc = risk_coverage(confidence, correct)
    n, need = int(rc["accepted"].iloc[-1]), min_items(target, level, steps)
    # the candidate sets: the first tie group reaching each coverage step (confidences only)
    rows = np.unique(np.searchsorted(rc["accepted"].to_numpy(), np.ceil(np.arange(1, steps + 1) * n / steps)))
    grid = rc.iloc[rows]
    lower = 1 - error_upper_bound(grid["errors"], grid["accepted"], 1 - (1 - level) / len(grid))
    passed = np.flatnonzero(lower >= target)
    out = {"target": target, "level": level, "n": n, "min_items": need, "threshold": None, "accepted": 0,
           "errors": 0, "auto_share": 0.0, "human_share": 1.0, "accuracy": None, "accuracy_lower": None,
           "reason": ""}
    if not len(passed):
        best = int(np.argmax(lower))
        if n < need:
            out["reason"] = (f"proving {target:.2%} at {level:.0%} needs at least {need:,} accepted answers with no "
                             f"error; there are only {n:,}")
        else:
            out["reason"] = (f"no coverage step reaches it; the best proves {lower[best]:.3%} "
                             f"({int(grid['errors'].iloc[best])} errors among {int(grid['accepted'].iloc[best]):,} "
                             "answers)")
        return out
    row = grid.iloc[passed[-1]]
    return {**out, "threshold": float(row["threshold"]), "accepted": int(row["accepted"]),
            "errors": int(row["errors"]), "auto_share": float(row["coverage"]),
            "human_share": 1 - float(row["coverage"]), "accuracy": float(row["accuracy"]),
            "accuracy_lower": float(lower[passed[-1]])}


# --------------------------------------------------------------------------- over runs (seeds / resamples)


def thresholds_by_run(scores: pd.DataFrame, targets=TARGETS, level: float = 0.95) -> pd.DataFrame:
    """:func:`choose_threshold` per run and target: one row per ``(run, target)`` with its answer's fields.

    ``scores`` has columns ``run``, ``confidence``, ``correct``.
    """
    rows = [{"run": run, **choose_threshold(g["confidence"], g["correct"], t, level)}
            for run, g in scores.groupby("run") for t in targets]
    return pd.DataFrame(rows)


def summarize(by_run: pd.DataFrame, level: float = 0.8) -> pd.DataFrame:
    """Per target, from :func:`thresholds_by_run`: mean ``human_share`` and ``threshold`` and the ``level``
    band of the human share over runs (``human_low``, ``human_high``); ``runs_accepting`` = runs with a threshold."""
    q = ((1 - level) / 2, (1 + level) / 2)
    g = by_run.groupby("target")
    out = pd.DataFrame({"human_share": g["human_share"].mean(), "human_low": g["human_share"].quantile(q[0]),
                        "human_high": g["human_share"].quantile(q[1]),
                        "threshold": g["threshold"].mean(),
                        "runs_accepting": g["threshold"].count(), "runs": g.size()})
    return out.reset_index()


def curve_band(scores: pd.DataFrame, level: float = 0.8, grid=COVERAGE_GRID) -> pd.DataFrame:
    """Observed accuracy of the accepted answers on a coverage grid, mean and ``level`` band over runs."""
    q = ((1 - level) / 2, (1 + level) / 2)
    curves = []
    for _, g in scores.groupby("run"):
        rc = risk_coverage(g["confidence"], g["correct"])
        curves.append(np.interp(grid, rc["coverage"], rc["accuracy"]))
    a = np.array(curves)
    return pd.DataFrame({"coverage": grid, "mean": a.mean(0), "low": np.quantile(a, q[0], axis=0),
                         "high": np.quantile(a, q[1], axis=0)})


def bootstrap_runs(scores: pd.DataFrame, runs: int, by: str = "image_id", random_state: int = 0) -> pd.DataFrame:
    """``runs`` resamples of ``scores`` (whole groups ``by`` drawn with replacement); run 0 is the data itself."""
    keys = scores[by].unique()
    rng = np.random.default_rng(random_state)
    groups = scores.groupby(by).indices
    parts = [scores.assign(run=0)]
    for r in range(1, runs):
        picked = rng.choice(keys, len(keys))
        parts.append(scores.iloc[np.concatenate([groups[k] for k in picked])].assign(run=r))
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- sources of (confidence, correct)


def _fold_proba(X, y, train, test, seed) -> np.ndarray:
    """Class probabilities of ``X[test]`` from an RBF SVM fitted on ``X[train]``."""
    import warnings

    from sklearn.svm import SVC

    with warnings.catch_warnings():
        # libsvm's pairwise-coupled Platt probabilities rank the answers far better (5% vs 100% to people on
        # digits at 99%) than the one-vs-rest CalibratedClassifierCV that scikit-learn 1.9 suggests instead
        warnings.simplefilter("ignore", FutureWarning)
        return SVC(C=10.0, probability=True, random_state=seed).fit(X[train], y[train]).predict_proba(X[test])


def classification_scores(X, y, seeds: int = 3, n_folds: int = 5, *, n_jobs: int = 2,
                          random_state: int = 0) -> pd.DataFrame:
    """Out-of-fold confidences of a classifier (RBF SVM, C=10, Platt probabilities): one row per seed and item.

    Inputs: ``X`` (n_items, n_features), ``y`` labels. Each seed splits the
    items into ``n_folds`` stratified folds of its own and scores every item
    with a model trained on the other folds. Output columns: ``run`` (seed),
    ``item``, ``confidence`` (top class probability), ``correct`` (bool).
    """
    from joblib import Parallel, delayed
    from sklearn.model_selection import StratifiedKFold

    X = np.asarray(X, dtype=float)
    codes, classes = pd.factorize(np.asarray(y))
    if len(classes) < 2 or np.bincount(codes).min() < n_folds:
        raise HitlError(f"need at least two classes with {n_folds} items each")
    jobs = [(s, test, delayed(_fold_proba)(X, codes, train, test, random_state + s))
            for s in range(seeds)
            for train, test in StratifiedKFold(n_folds, shuffle=True, random_state=random_state + s).split(X, codes)]
    probas = Parallel(n_jobs=n_jobs)(j[2] for j in jobs)
    proba = np.zeros((seeds, len(codes), len(classes)))
    for (s, test, _), p in zip(jobs, probas):
        proba[s, test] = p
    return pd.DataFrame({"run": np.repeat(np.arange(seeds), len(codes)), "item": np.tile(np.arange(len(codes)), seeds),
                         "confidence": proba.max(2).ravel(), "correct": (proba.argmax(2) == codes).ravel()})


def _classification_path(source, seeds):
    return files.run_path("hitl", source, [source, seeds])


def stored_classification(source: str, seeds: int = 3) -> pd.DataFrame | None:
    """The persisted result of :func:`cached_classification`, or ``None`` if never run."""
    path = _classification_path(source, seeds)
    return pd.read_csv(path) if path.exists() else None


def cached_classification(source: str, seeds: int = 3, *, n_jobs: int = 2) -> pd.DataFrame:
    """:func:`classification_scores` on an embedded source's PCA features, persisted under ``data_home()/hitl/``."""
    stored = stored_classification(source, seeds)
    if stored is not None:
        return stored
    X, y, _ = sources.load_source(source)
    df = classification_scores(shared.features(X), y, seeds, n_jobs=n_jobs)
    files.save_csv(df, _classification_path(source, seeds))
    return df


def match_predictions(gt: pd.DataFrame, pred: pd.DataFrame, iou: float = 0.5) -> np.ndarray:
    """Whether each predicted box is correct: greedy by confidence (``pred["score"]``), each truth box matched
    once, to the unmatched truth box of the same class with the highest IoU >= ``iou`` (COCO-style)."""
    bm.check_boxes(gt, pred, "score")
    pairs = bm.box_pairs(gt, pred)
    pairs = pairs[pairs["same_class"] & (pairs["iou"] >= iou)]
    pairs = pairs.assign(score=pred["score"].to_numpy()[pairs["p"]]).sort_values(
        ["score", "p", "iou"], ascending=[False, True, False], kind="stable")
    _, pred_match = bm.greedy_match(pairs["g"].to_numpy(), pairs["p"].to_numpy(), len(gt), len(pred))
    return pred_match >= 0


def detection_scores(samples, pred_field: str = "predictions", truth: str | None = None,
                     iou: float = 0.5) -> pd.DataFrame:
    """Per predicted box of a FiftyOne collection: ``image_id``, ``label``, ``confidence``, ``correct``.

    ``truth`` is the field the boxes are checked against (default
    :func:`analysis.data.detections.truth_field`: the clean truth where the dataset has
    one). Read in bulk with ``values()``.
    """
    truth = truth or truth_field(samples)
    gt = read_detections(samples, truth)
    pred = read_detections(samples, pred_field, ["confidence"]).rename(columns={"confidence": "score"})
    if not len(pred):
        raise HitlError(f"'{pred_field}' holds no boxes")
    correct = match_predictions(gt, pred.astype({"score": float}), iou)
    return pd.DataFrame({"image_id": pred["image_id"], "label": pred["category_id"],
                         "confidence": pred["score"].astype(float), "correct": correct})


def read_scores(file) -> pd.DataFrame:
    """A CSV with columns ``confidence`` and ``correct`` (true/false or 1/0) as a one-run score table."""
    try:
        df = pd.read_csv(file)
    except (ValueError, OSError) as e:
        raise HitlError(f"could not read the CSV: {e}") from None
    missing = {"confidence", "correct"} - set(df.columns)
    if missing:
        raise HitlError(f"the CSV needs the columns confidence and correct; missing: {', '.join(sorted(missing))}")
    text = df["correct"].astype(str).str.strip().str.lower()
    known = text.isin(["true", "false", "1", "0", "1.0", "0.0"])
    if not known.all():
        raise HitlError(f"'correct' must be true/false or 1/0; row {int(np.flatnonzero(~known)[0]) + 2} "
                        f"holds {df['correct'][~known].iloc[0]!r}")
    conf = pd.to_numeric(df["confidence"], errors="coerce")
    if conf.isna().any() or not np.isfinite(conf).all():
        raise HitlError(f"'confidence' must be a number in every row; row {int(np.flatnonzero(conf.isna())[0]) + 2} "
                        "is not")
    return pd.DataFrame({"run": 0, "confidence": conf.astype(float), "correct": text.isin(["true", "1", "1.0"])})


def measurement(summary: pd.DataFrame, target: float, what: str) -> tuple[float, str, dict]:
    """``(value, source note, detail)`` for the planner's ``human_share`` at ``target`` from :func:`summarize`."""
    row = summary.set_index("target").loc[target]
    note = f"human in the loop on {what}, {target:.2%} accuracy on auto-accepted answers"
    return float(row["human_share"]), note, {"target": target, "low": float(row["human_low"]),
                                             "high": float(row["human_high"]), "runs": int(row["runs"])}


# --------------------------------------------------------------------------- CLI


def _arguments(r) -> None:
    r.add_argument("--dataset", help="a FiftyOne detection dataset instead of --source")
    r.add_argument("--csv", help="a CSV with columns confidence,correct instead of --source")
    r.add_argument("--target", type=float, default=0.999, help="accuracy the auto-accepted answers must reach")
    r.add_argument("--level", type=float, default=0.95, help="probability that they do (Clopper-Pearson)")


def scores_for(args) -> tuple[pd.DataFrame, str]:
    """The score table and a description of it for the CLI's ``--source``, ``--dataset`` or ``--csv``."""
    if args.csv:
        return read_scores(args.csv), f"CSV {args.csv}"
    if args.dataset:
        from analysis.data import datasets

        ds = datasets.load(args.dataset)
        return bootstrap_runs(detection_scores(ds), args.seeds), f"dataset {args.dataset}"
    return cached_classification(args.source, args.seeds, n_jobs=args.jobs), args.source


def _compute(args, progress) -> dict:
    _check_target(args.target, args.level)
    scores, what = scores_for(args)
    progress(0.5, f"{len(scores):,} scored answers from {what}")
    by_run = thresholds_by_run(scores, [args.target], args.level)
    s = summarize(by_run).iloc[0]
    run0 = scores[scores["run"] == scores["run"].min()]
    first = choose_threshold(run0["confidence"], run0["correct"], args.target, args.level)
    return {"source": what, "runs": int(s["runs"]), "human_share": float(s["human_share"]),
            "human_low": float(s["human_low"]), "human_high": float(s["human_high"]), "first_run": first}


def main(argv=None) -> int:
    return shared.run_cli(argv, "python -m analysis.hitl", __doc__.split("\n")[0], _arguments, _compute)


if __name__ == "__main__":
    sys.exit(main())
