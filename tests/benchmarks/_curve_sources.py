"""Real learning curves from many sources, and the training of the learned gain (analysis.planning.curve_gain).

Sources (all real training runs, none simulated):

* ``lcdb-even``: the Learning Curve Database (LCDB 1.0, Mohr et al. 2022), the ``lcdb==0.1.0`` sdist on PyPI,
  ``lcdb/database-accuracy.csv``: 20 scikit-learn learners on OpenML data sets, many seeds per size. **Only the
  data sets with an even OpenML id are read**: the odd ids are reserved for an independent check, so
  :func:`lcdb_even` drops them in every chunk as it parses, before anything else sees the rows. The sdist is
  fetched with pip into a cache folder at script time (never at run time); only the fitted model is committed.
* the project's own curves, ``curves/real_curves.csv`` (``bench_extrapolation.py --generate``): digits,
  MNIST-5k variants, breast cancer, object crops;
* ``curves/offline_curves.csv`` (:func:`offline_curves`): iris and wine, the other classification sets that
  ship with scikit-learn, with every non-image family of :data:`analysis.planning.experiments.MODELS`.

Source families for held-out evaluation (:func:`family`): the LCDB-even data sets in 4 groups (by rank of
the id), MNIST-derived (incl. the demo's crops), digits, BCCD crops, and scikit-learn's small tabular sets.
"""

import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
PROJECT_CURVES = HERE / "curves/real_curves.csv"
OFFLINE_CURVES = HERE / "curves/offline_curves.csv"
#: Where the LCDB sdist is downloaded (not committed).
LCDB_CACHE = HERE / "curves/.lcdb"
LCDB_SDIST = "lcdb-0.1.0.tar.gz"
PROJECT_FAMILY = {"digits": "digits", "digits_noise20": "digits", "breast_cancer": "sklearn-tabular",
                  "iris": "sklearn-tabular", "wine": "sklearn-tabular", "bccd_crops": "bccd"}
N_LCDB_GROUPS = 4
#: Seeds a training task keeps per observed size (a team's curve has a few runs per size, often one).
SEED_COUNTS = (1, 3, 3, 5)
#: Training tasks kept per curve (a curve truncated at every size, asked for every later size).
TASKS_PER_CURVE = 100


def fetch_lcdb(cache: Path = LCDB_CACHE) -> Path:
    """The LCDB sdist, downloaded once with pip (``pip download lcdb==0.1.0 --no-deps --no-binary :all:``)."""
    path = cache / LCDB_SDIST
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "lcdb==0.1.0", "--no-deps", "--no-binary", ":all:",
                        "-d", str(cache)], check=True)
    return path


def lcdb_even(sdist: Path) -> pd.DataFrame:
    """LCDB's accuracy curves of the even-id OpenML data sets: columns curve (``lcdb<id>``), model (learner),
    n_labels, seed, metric (test accuracy). Odd ids are dropped per chunk as the CSV is parsed."""
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("lcdb/database-accuracy.csv"))
        chunks = []
        for chunk in pd.read_csv(tar.extractfile(member), chunksize=200_000,
                                 usecols=["openmlid", "learner", "size_train", "outer_seed", "inner_seed",
                                          "score_test"]):
            chunks.append(chunk[chunk["openmlid"] % 2 == 0])  # odd ids: reserved, never kept
    df = pd.concat(chunks, ignore_index=True)
    return pd.DataFrame({"curve": "lcdb" + df["openmlid"].astype(str),
                         "model": df["learner"].str.replace("sklearn.", "", regex=False),
                         "n_labels": df["size_train"], "seed": df["outer_seed"] * 100 + df["inner_seed"],
                         "metric": df["score_test"]})


def offline_curves() -> pd.DataFrame:
    """Learning curves on iris and wine (scikit-learn, offline): every non-image model family, 12 sizes from
    2 per class to the pool (80% of the items), 5 seeds; read from ``OFFLINE_CURVES`` or run (about a minute)."""
    if OFFLINE_CURVES.exists():
        return pd.read_csv(OFFLINE_CURVES)
    from sklearn.datasets import load_iris, load_wine

    from analysis.planning import experiments

    out = []
    for name, loader in (("iris", load_iris), ("wine", load_wine)):
        d = loader()
        X = (d.data - d.data.min(0)) / np.ptp(d.data, 0)
        sizes = experiments.log_sizes(2 * len(np.unique(d.target)), len(d.target) - len(d.target) // 5, 12)
        for model in (m for m in experiments.MODELS if m != "cnn"):
            t0 = time.perf_counter()
            df = experiments.run_experiment(X, d.target, [model], sizes, seeds=5, n_jobs=1)
            out.append(df.assign(curve=name)[["curve", "model", "n_labels", "seed", "metric"]])
            print(f"{name} {model}: {time.perf_counter() - t0:.0f} s", flush=True)
    df = pd.concat(out)
    df.to_csv(OFFLINE_CURVES, index=False, float_format="%.5f")
    return df


def all_curves(sdist: Path) -> list[dict]:
    """Every curve as ``{"curve", "model", "family", "sizes" (ascending), "vals" (per size, each run's metric)}``."""
    df = pd.concat([lcdb_even(sdist), pd.read_csv(PROJECT_CURVES), offline_curves()], ignore_index=True)
    lcdb_ids = sorted({int(c[4:]) for c in df["curve"].unique() if c.startswith("lcdb")})
    group = {i: rank % N_LCDB_GROUPS for rank, i in enumerate(lcdb_ids)}
    curves = []
    for (curve, model), g in df.groupby(["curve", "model"], sort=False):
        g = g.sort_values("n_labels")
        sizes = np.unique(g["n_labels"].to_numpy(float))
        vals = [v.to_numpy(float) for _, v in g.groupby("n_labels")["metric"]]
        fam = (f"lcdb-even-{group[int(curve[4:])]}" if curve.startswith("lcdb")
               else PROJECT_FAMILY.get(curve, "mnist"))
        curves.append({"curve": curve, "model": model, "family": fam, "sizes": sizes, "vals": vals})
    return curves


def _subsample(vals, rng, n_seeds):
    return [v if len(v) <= n_seeds else rng.choice(v, n_seeds, replace=False) for v in vals]


def tasks(curve: dict, rng, per_curve: int = TASKS_PER_CURVE) -> tuple[np.ndarray, np.ndarray]:
    """Training rows of one curve: it is truncated after every size k >= 3 (sometimes also without its first
    sizes), a few seeds kept per size (:data:`SEED_COUNTS`), and asked for every later size; the target is the
    gain from the kept runs' last mean to the mean of all runs there. At most ``per_curve`` rows."""
    from analysis.planning import curve_gain as cg

    sizes, vals = curve["sizes"], curve["vals"]
    truth = np.array([v.mean() for v in vals])
    X, y = [], []
    for k in range(3, len(sizes)):
        start = int(rng.integers(0, k - 2)) if rng.random() < 0.3 else 0
        kept = _subsample(vals[start:k], rng, rng.choice(SEED_COUNTS))
        n = np.concatenate([np.full(len(v), s) for s, v in zip(sizes[start:k], kept)])
        s, m, sd = cg.size_means(n, np.concatenate(kept))
        X.append(cg.features(s, m, sd, sizes[k:]))
        y.append(truth[k:] - m[-1])
    if not X:
        return np.empty((0, len(cg.FEATURES))), np.empty(0)
    X, y = np.vstack(X), np.concatenate(y)
    if len(y) > per_curve:
        keep = rng.choice(len(y), per_curve, replace=False)
        X, y = X[keep], y[keep]
    return X, y


def task_table(curves: list[dict], seed: int = 0, per_curve: int = TASKS_PER_CURVE):
    """``(X, y, curve_index)`` of every curve's tasks (at most ``per_curve`` each)."""
    rng = np.random.default_rng(seed)
    rows = [tasks(c, rng, per_curve) for c in curves]
    return (np.vstack([r[0] for r in rows]), np.concatenate([r[1] for r in rows]),
            np.concatenate([np.full(len(r[1]), i) for i, r in enumerate(rows)]))


def _hgb(loss: str, quantile: float | None = None):
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(loss=loss, quantile=quantile, max_iter=200, learning_rate=0.05,
                                         max_leaf_nodes=15, min_samples_leaf=40, l2_regularization=1.0,
                                         random_state=0)


def train_trees(X, y):
    """The median (absolute-error loss) and 10% / 90% quantile boosted trees on task rows."""
    return _hgb("absolute_error").fit(X, y), _hgb("quantile", 0.1).fit(X, y), _hgb("quantile", 0.9).fit(X, y)


def band_scale(X, y, groups, n_folds: int = 3) -> float:
    """The factor that widens the quantile band to hold 80% of held-out truths: cross-validated over ``groups``
    (data sets), the 80% quantile of each truth's distance from the median in units of its half-band."""
    u = np.unique(groups)
    fold = dict(zip(u, np.arange(len(u)) % n_folds))
    f = np.array([fold[g] for g in groups])
    med, lo, hi = (np.empty(len(y)) for _ in range(3))
    for i in range(n_folds):
        test = f == i
        models = train_trees(X[~test], y[~test])
        med[test], lo[test], hi[test] = (m.predict(X[test]) for m in models)
    half = np.where(y < med, np.maximum(med - lo, 1e-9), np.maximum(hi - med, 1e-9))
    return float(np.quantile(np.abs(y - med) / half, 0.8))


def fit_gain_model(X, y, groups, about: str = "", n_folds: int = 3):
    """A :class:`analysis.planning.curve_gain.GainModel` trained on task rows, its band calibrated by
    :func:`band_scale` (``n_folds`` over ``groups``); checks that the numpy trees predict as scikit-learn's do."""
    from analysis.planning import curve_gain as cg

    models = train_trees(X, y)
    trees = [cg.Trees.from_sklearn(m) for m in models]
    probe = X[:: max(1, len(X) // 2000)]
    for m, t in zip(models, trees):
        assert np.allclose(m.predict(probe), t.predict(probe), atol=1e-9), "numpy trees disagree with sklearn"
    # beyond the ratio that 95% of the tasks stay within, few curves taught the trees: the fit takes over there
    return cg.GainModel(*trees, band_scale(X, y, groups, n_folds), float(np.quantile(X[:, 0], 0.95)), about)
