"""Synthetic data (issue 20 goal: the page's default run < 3 minutes on 2 cores): wall time, renderer speed and the
answers of the default run.

Usage: ``.venv/bin/python tests/benchmarks/bench_synthetic_data.py [--jobs 2] [--seeds 5] [--learner cnn]``

Runs the page's default simulation (5 seeds, CNN with 300 steps, real sizes 20-1,000, +1,000 and +4,000 synthetic
digits, 250 / 1,000 / 4,000 synthetic alone) from scratch in a private data folder. The anchor, timed first in the
same process on one core, is one CNN fit on 1,000 real labels: wall / anchor says how many such fits the run cost
whatever the machine's speed. Prints the machine's load average: other processes slow the wall times.
"""

import _isolated  # noqa: F401  (private data folder; before analysis imports)

import argparse
import os
import time

import numpy as np
import pandas as pd

from analysis.lab import synthetic_data as sd


def _load() -> str:
    return open("/proc/loadavg").read().split(" ")[0] if os.path.exists("/proc/loadavg") else "n/a"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--learner", choices=list(sd.LEARNERS), default="cnn")
    args = parser.parse_args()
    print(f"{args.jobs} workers, {os.cpu_count()} CPUs, load average before {_load()}")

    X, y, pool, test = sd.real_split()
    t0 = time.process_time()
    S, sy = sd.render(1000, seed=0)
    render_secs = time.process_time() - t0
    t0 = time.perf_counter()
    order = np.random.default_rng(0).choice(pool, 1000, replace=False)  # the pool is sorted by class
    pred, = sd.train_and_predict(args.learner, X[order], y[order], (X[test],), sd.CNN_STEPS, 0)
    anchor = time.perf_counter() - t0
    print(f"renderer alone: {1000 / render_secs:,.0f} digits per CPU second; anchor (one {args.learner} fit on 1,000 "
          f"real labels, one core): {anchor:.2f} s, accuracy {np.mean(pred == y[test]):.3f}")

    t0 = time.perf_counter()
    df = sd.cached_simulation(seeds=args.seeds, learner=args.learner, n_jobs=args.jobs)
    wall = time.perf_counter() - t0
    fits = len(df)
    verdict = "MET" if wall < 180 else "NOT MET"
    per_seed = df.drop_duplicates("seed")
    cpu = df["cpu_seconds"].sum() + per_seed["render_seconds"].sum()
    print(f"\ndefault run: {fits} fits ({args.seeds} seeds) + {per_seed['rendered'].sum():,} digits rendered; wall "
          f"{wall:.1f} s (goal < 180 s on 2 cores: {verdict}); {wall / anchor:.1f} anchors; load average after "
          f"{_load()}")
    print(f"CPU time of the fits and renders in the workers: {cpu:.1f} s (fits {df['cpu_seconds'].sum():.1f} s, "
          f"wall of the fits summed {df['seconds'].sum():.1f} s); / {args.jobs} cores = {cpu / args.jobs:.1f} s, the "
          f"wall time on {args.jobs} otherwise idle cores, less start-up and data loading")
    result = sd.answer(df)
    table = sd.summarize(df)
    print(f"renderer in the run: {result['render']['per_second']:,.0f} digits per CPU second")

    print("\nbaseline, real-only learning curve (accuracy on the real test split, mean and 80% band):")
    base = table[table["synthetic"] == 0]
    for r in base.itertuples():
        print(f"  {r.real:5d} real: {r.accuracy:.3f} [{r.low:.3f}, {r.high:.3f}] sd {r.sd:.3f}")
    print("\nsim-to-real (synthetic only):")
    for r in table[table["real"] == 0].itertuples():
        worth = sd.worth_text(0, r.synthetic, r.worth if np.isfinite(r.worth) else None)
        print(f"  {r.synthetic:5d} synthetic: real {r.accuracy:.3f} [{r.low:.3f}, {r.high:.3f}], rendered "
              f"{r.synthetic_accuracy:.3f}, gap {r.gap:.3f}; {worth}")
    print("\nreal + synthetic:")
    with pd.option_context("display.width", 160):
        mixed = table[(table["real"] > 0) & (table["synthetic"] > 0)]
        print(mixed[["real", "synthetic", "accuracy", "sd", "real_sd", "gain", "gain_low", "gain_high", "worth",
                     "worth_low", "worth_high"]].round(3).to_string(index=False))
    for m, mix in result["mixing"].items():
        print(f"  +{m}: helps up to {mix['helps_up_to']}, clearly hurts from {mix['hurts_from']}, best gain "
              f"{mix['best_gain']:+.3f} at {mix['best_gain_at']}, sd ratio vs real-only {mix['sd_ratio']}")
