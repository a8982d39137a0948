"""Learning-curve experiments: model families trained on log-spaced training-set sizes, several seeds
each, scored on one fixed stratified validation split (:func:`run_experiment`), and cached on disk under
``data_home()/learning_curves/`` (:func:`cached_experiment`). Points: ``model, n_labels, seed, metric``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.core import jobs
from analysis.core.files import data_home
from analysis.core.progress import Progress
from analysis.core.splits import stratified_order, validation_split
from analysis.data.sources import CROPS, load_source
from analysis.planning.curve_fit import CurveError

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


def log_sizes(n_min: int, n_max: int, k: int) -> np.ndarray:
    """``k`` log-spaced integer training-set sizes from ``n_min`` to ``n_max`` (unique, ascending)."""
    if not 1 <= n_min < n_max:
        raise CurveError(f"sizes need 1 <= smallest < largest, got {n_min} and {n_max}")
    return np.unique(np.round(np.geomspace(n_min, n_max, k)).astype(int))


def default_sizes(n_classes: int, pool: int, k: int) -> np.ndarray:
    """``k`` log-spaced sizes from ``max(2 * classes, min(20, pool / 4))`` to the whole training pool."""
    return log_sizes(max(2 * n_classes, min(20, pool // 4)), pool, k)


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


def fit_cnn(X, y, X_val, image_shape, n_classes, seed, steps: int | None = None):
    """Train a small CNN (2 strided conv layers, Adam) and return its predicted classes on ``X_val``.

    Strided convolutions instead of pooling: about 5x faster on a CPU core at
    the same accuracy. Training runs for ``steps`` batches of 64, by default
    ``max(300 steps, 10 epochs)``: small sets need enough steps to converge,
    large ones enough passes.
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
    steps = max(300, 10 * -(-len(y) // batch)) if steps is None else steps
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
        pred = fit_cnn(X, y, X_val, image_shape, n_classes, seed)
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


def experiment_path(source: str, models, n_sizes: int, seeds: int) -> Path:
    request = [source, sorted(models), n_sizes, seeds]
    if source.startswith(CROPS):  # a dataset can change under the same name: key on its crops too
        X, y, _ = load_source(source)
        request.append(hashlib.sha1(X.tobytes() + "\n".join(y).encode()).hexdigest())
    key = hashlib.sha1(json.dumps(request).encode()).hexdigest()[:10]
    safe = re.sub(r"[^\w.-]", "_", source)
    return data_home() / "learning_curves" / f"{safe}-{key}.csv"


def stored_experiment(source: str, models=DEFAULT_MODELS, n_sizes: int = 8, seeds: int = 3) -> pd.DataFrame | None:
    """The persisted result of :func:`cached_experiment` for this request, or ``None`` if never run."""
    path = experiment_path(source, models, n_sizes, seeds)
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
    path = experiment_path(source, models, n_sizes, seeds)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)  # a half-written file must never look like a finished run
    return df


def _job_key(source: str, models, n_sizes: int, seeds: int) -> str:
    return "learning-curves-" + experiment_path(source, models, n_sizes, seeds).stem


def experiment_status(source: str, models=DEFAULT_MODELS, n_sizes: int = 8, seeds: int = 3) -> jobs.JobStatus:
    """The background run of this request (:func:`start_experiment`): its :class:`~analysis.core.jobs.JobStatus`."""
    return jobs.status(_job_key(source, models, n_sizes, seeds))


def start_experiment(source: str, models=DEFAULT_MODELS, n_sizes: int = 8, seeds: int = 3) -> jobs.JobStatus:
    """Run :func:`cached_experiment` as a background job (:mod:`analysis.core.jobs`): once, whichever sessions
    ask, and it keeps going when the page or the tab closes. A run that failed, was interrupted or whose saved
    table is gone starts again. Returns the job's status."""
    key = _job_key(source, models, n_sizes, seeds)
    if jobs.status(key).state != "running" and not experiment_path(source, models, n_sizes, seeds).exists():
        jobs.forget(key)
    return jobs.start(key, "analysis.planning.experiments:run_request", source=source, models=list(models),
                      n_sizes=int(n_sizes), seeds=int(seeds))


def run_request(source: str, models, n_sizes: int, seeds: int, progress: Progress | None = None) -> str:
    """The background job's body: :func:`cached_experiment`; returns the saved table's path."""
    cached_experiment(source, models, n_sizes, seeds, progress=progress)
    return str(experiment_path(source, models, n_sizes, seeds))
