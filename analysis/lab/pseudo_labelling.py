"""Pseudo-labelling, simulated: what does self-training on the unlabelled rest gain, and how noisy is it?

Start from a small stratified random *labelled seed set* of a labelled
classification data set and hide the rest of the labels. scikit-learn's
``SelfTrainingClassifier`` then repeatedly trains the learner (a logistic
regression, :func:`learner`, on the active-learning simulation's PCA
features), and adopts its predictions on
the unlabelled items whose confidence (top class probability) is at least a
threshold as *pseudo-labels*. Because the hidden labels are known, each run
reports

* the test-accuracy **gain** over the same learner trained on the seed set only;
* the **label noise** it introduces: the share of adopted pseudo-labels that are wrong;
* how many pseudo-labels it adopted, and what the gain is **worth in labels**:
  the number of randomly chosen true labels the learner needs for the same
  accuracy (from a small learning curve on the same seed, nested sets of
  ``seed set x`` :data:`WORTH_FACTORS`).

CLI::

    python -m analysis.pseudo_labels run --source mnist5k [--labelled 50] [--thresholds 0.5,0.9,0.99] [--seeds 5]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from analysis.core import files, splits
from analysis.core.errors import InputError
from analysis.core.progress import Progress
from analysis.data import sources
from analysis.lab import shared

THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
#: Sizes of the labelled-only learning curve, as multiples of the seed set (to price the gain in labels).
WORTH_FACTORS = (1, 1.5, 2, 3, 4, 6, 8)


class PseudoLabelError(InputError):
    """A self-training request is unusable; the message says why."""


def learner():
    """Logistic regression (C=1) on unscaled PCA features.

    Unlike the active-learning learner it does not standardise: scaling fitted
    on a seed set of tens of items inflates the noisy low-variance components
    and leaves the model under-confident, so few items would pass a threshold.
    """
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=100)


def _one_seed(X_pool, y_pool, X_test, y_test, order, labelled_size, thresholds, max_iter):
    """Rows ``(threshold, accuracy, baseline, n_pseudo, noise, worth, seconds)`` for one labelled seed set."""
    from sklearn.semi_supervised import SelfTrainingClassifier
    from threadpoolctl import threadpool_limits

    seed_set = order[:labelled_size]
    with threadpool_limits(1):  # one thread per worker: joblib runs one worker per core
        # labelled-only learning curve on nested random sets: its first point is the baseline
        sizes = np.unique([min(int(round(labelled_size * f)), len(order)) for f in WORTH_FACTORS])
        curve = [float(np.mean(shared.fit_quietly(learner(), X_pool[order[:n]], y_pool[order[:n]])
                               .predict(X_test) == y_test)) for n in sizes]
        baseline = curve[0]
        y = np.full(len(y_pool), -1)  # scikit-learn's mark for "unlabelled"
        y[seed_set] = y_pool[seed_set]
        rows = []
        for t in thresholds:
            t0 = time.perf_counter()
            model = shared.fit_quietly(SelfTrainingClassifier(learner(), threshold=t, max_iter=max_iter), X_pool, y)
            acc = float(np.mean(model.predict(X_test) == y_test))
            pseudo = model.labeled_iter_ > 0
            noise = float(np.mean(model.transduction_[pseudo] != y_pool[pseudo])) if pseudo.any() else 0.0
            worth = shared.labels_to_reach(sizes, np.maximum.accumulate(curve), acc)
            rows.append((t, acc, baseline, int(pseudo.sum()), noise, worth, time.perf_counter() - t0))
    return rows


def simulate(X, y, thresholds=THRESHOLDS, seeds: int = 5, *, labelled_size: int = 50, test_size: int | None = None,
             max_iter: int = 10, n_jobs: int = 2, progress: Progress | None = None,
             random_state: int = 0) -> pd.DataFrame:
    """Self-training runs at several confidence thresholds over several seeds.

    Inputs: ``X`` (n_items, n_features) numbers, ``y`` (n_items,) class labels;
    ``thresholds`` minimum top-class probabilities in (0, 1] for adopting a
    pseudo-label; ``seeds`` repeats, each with its own stratified random seed
    set of ``labelled_size`` items (shared by every threshold, so the
    comparison is paired); ``test_size`` items held out once for scoring
    (default 20%, at most 1,000); ``max_iter`` self-training rounds;
    ``n_jobs`` worker processes; ``progress(fraction, message)`` per seed.

    Output: one row per seed and threshold: ``seed``, ``threshold``,
    ``accuracy`` (test accuracy in [0, 1] after self-training),
    ``baseline`` (seed set only), ``gain`` (accuracy - baseline),
    ``n_pseudo`` (pseudo-labels adopted), ``noise`` (share of them that are
    wrong, 0 when none), ``worth`` (true labels the learner needs for the same
    accuracy; ``inf`` beyond the largest curve size) and ``seconds``.
    """
    from joblib import Parallel, delayed

    X = np.asarray(X, dtype=np.float64)
    codes, classes = pd.factorize(np.asarray(y))
    thresholds = [float(t) for t in thresholds]
    if X.ndim != 2 or len(X) != len(codes):
        raise PseudoLabelError(f"X must be 2-D with one row per label; got X {X.shape} and {len(codes)} labels")
    if len(classes) < 2:
        raise PseudoLabelError("y needs at least two classes")
    if not thresholds or not all(0 < t <= 1 for t in thresholds):
        raise PseudoLabelError(f"thresholds must be confidences in (0, 1], got {thresholds}")
    if seeds < 1:
        raise PseudoLabelError("seeds must be at least 1")
    test_size = test_size or min(1000, len(codes) // 5)
    pool, test = splits.validation_split(codes, test_size, random_state)
    if not len(classes) <= labelled_size < len(pool):
        raise PseudoLabelError(f"the labelled seed set ({labelled_size}) must hold every class ({len(classes)}) "
                               f"and leave unlabelled items in the pool ({len(pool)})")

    def task(s):
        order = splits.stratified_order(codes[pool], random_state + 1000 * s + 1)
        return s, _one_seed(X[pool], codes[pool], X[test], codes[test], order, labelled_size, thresholds, max_iter)

    rows = []
    results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(delayed(task)(s) for s in range(seeds))
    for i, (s, runs) in enumerate(results, 1):
        rows += [(s, *r) for r in runs]
        if progress:
            progress(i / seeds, f"seed {s}: baseline {runs[0][2]:.3f}, best {max(r[1] for r in runs):.3f}")
    df = pd.DataFrame(rows, columns=["seed", "threshold", "accuracy", "baseline", "n_pseudo", "noise", "worth",
                                     "seconds"])
    df.insert(4, "gain", df["accuracy"] - df["baseline"])
    return df.sort_values(["threshold", "seed"], ignore_index=True)


def summarize(df: pd.DataFrame, level: float = 0.8) -> pd.DataFrame:
    """Per threshold, from :func:`simulate`: means of ``accuracy``, ``baseline``, ``gain``, ``noise`` and
    ``n_pseudo``; the ``level`` bands over seeds of gain and noise (``gain_low``/``gain_high``,
    ``noise_low``/``noise_high``); the median ``worth`` (true labels)."""
    q = ((1 - level) / 2, (1 + level) / 2)
    g = df.groupby("threshold")
    out = g[["accuracy", "baseline", "gain", "noise", "n_pseudo"]].mean()
    out["gain_low"], out["gain_high"] = g["gain"].quantile(q[0]), g["gain"].quantile(q[1])
    out["noise_low"], out["noise_high"] = g["noise"].quantile(q[0]), g["noise"].quantile(q[1])
    out["worth"] = g["worth"].median()
    return out.reset_index()


def _request(source, thresholds, seeds, labelled_size):
    return files.run_path("pseudo_labels", source, [source, sorted(float(t) for t in thresholds), seeds, labelled_size])


def stored_simulation(source: str, thresholds=THRESHOLDS, seeds: int = 5,
                      labelled_size: int = 50) -> pd.DataFrame | None:
    """The persisted result of :func:`cached_simulation` for this request, or ``None`` if never run."""
    path = _request(source, thresholds, seeds, labelled_size)
    return pd.read_csv(path) if path.exists() else None


def cached_simulation(source: str, thresholds=THRESHOLDS, seeds: int = 5, labelled_size: int = 50, *,
                      n_jobs: int = 2, progress: Progress | None = None) -> pd.DataFrame:
    """:func:`simulate` on an embedded source (:data:`analysis.planning.learning_curves.SOURCES`), on the same PCA
    features as the active-learning simulation; persisted under ``data_home()/pseudo_labels/``."""
    stored = stored_simulation(source, thresholds, seeds, labelled_size)
    if stored is not None:
        return stored
    X, y, _ = sources.load_source(source)
    df = simulate(shared.features(X), y, thresholds, seeds, labelled_size=labelled_size, n_jobs=n_jobs,
                  progress=progress)
    files.save_csv(df, _request(source, thresholds, seeds, labelled_size))
    return df


def _thresholds(text: str) -> list[float]:
    try:
        out = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        out = []
    if not out or not all(0 < t <= 1 for t in out):
        raise argparse.ArgumentTypeError(f"--thresholds needs confidences in (0, 1], e.g. 0.5,0.9; got {text!r}")
    return out


def _arguments(r) -> None:
    r.add_argument("--thresholds", type=_thresholds, default=list(THRESHOLDS))
    r.add_argument("--labelled", type=int, default=50, help="labelled seed-set size (items)")


def _compute(args, progress) -> dict:
    df = cached_simulation(args.source, args.thresholds, args.seeds, args.labelled, n_jobs=args.jobs,
                           progress=progress)
    table = summarize(df).replace([np.inf], None)
    return {"labelled": args.labelled, "seeds": args.seeds, "thresholds": table.to_dict(orient="records")}


def main(argv=None) -> int:
    return shared.run_cli(argv, "python -m analysis.pseudo_labels", __doc__.split("\n")[0], _arguments, _compute)


if __name__ == "__main__":
    sys.exit(main())
