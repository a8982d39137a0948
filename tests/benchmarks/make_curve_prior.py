"""Train the learned gain of learning curves and write analysis/planning/curve_prior.npz.

Usage::

    .venv/bin/python tests/benchmarks/make_curve_prior.py      # fetches LCDB once (pip download, ~70 MB)

Trains :mod:`analysis.planning.curve_gain`'s boosted trees on every curve of
:mod:`_curve_sources` (LCDB 1.0's even-id OpenML data sets only, the
project's own curves, iris and wine), each truncated at many sizes; the band's
widening factor is cross-validated by data set. ``bench_extrapolation.py``
evaluates the same training on held-out source families.
"""

import time

import _curve_sources as sources
import _isolated  # noqa: F401  (private data folder; before analysis imports)
import numpy as np

from analysis.planning import curve_gain


def main() -> None:
    t0 = time.perf_counter()
    curves = sources.all_curves(sources.fetch_lcdb())
    X, y, idx = sources.task_table(curves)
    groups = np.array([curves[i]["curve"] for i in idx])
    n_sets = len({c["curve"] for c in curves})
    about = (f"trained {time.strftime('%Y-%m-%d')} by tests/benchmarks/make_curve_prior.py on {len(curves)} real "
             f"curves of {n_sets} data sets ({len(y)} tasks): LCDB 1.0 even-id OpenML data sets only, the "
             "project's curves, iris and wine")
    model = sources.fit_gain_model(X, y, groups, about)
    model.save(curve_gain.PRIOR_FILE)
    print(f"{about}; band scale {model.band_scale:.3f}, largest log ratio {model.max_log_ratio:.2f}; "
          f"{curve_gain.PRIOR_FILE} ({curve_gain.PRIOR_FILE.stat().st_size / 1e3:.0f} kB) in "
          f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
