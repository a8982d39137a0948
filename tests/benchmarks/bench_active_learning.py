"""Labels saved by active learning on MNIST-5k (issue 6 goal: best strategy >= 40% fewer labels than random
at random's final accuracy; default simulation < 3 min on 2 cores), and pseudo-labelling gain vs threshold.

Usage: ``.venv/bin/python tests/benchmarks/bench_active_learning.py [--source mnist5k] [--jobs 2] [--seeds 5]``

Runs the app's default simulation (6 strategies x 5 seeds, seed set 20, batches of 20, 500 labels) from
scratch in a private data folder, then the default pseudo-labelling simulation (6 thresholds x 5 seeds,
50 labelled items). Prints the machine's load average: other processes slow the wall times.
"""

import argparse
import os
import time

import _isolated  # noqa: F401  (private data folder; before analysis imports)
import numpy as np
import pandas as pd

from analysis.data import sources
from analysis.lab import active_learning as al
from analysis.lab import pseudo_labelling as pl


def _pct(v):
    return "  n/a" if v is None else f"{v:+.0%}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", choices=list(sources.SOURCES), default="mnist5k")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    print(f"{args.source}; {args.jobs} workers, {os.cpu_count()} CPUs, load average before "
          f"{os.getloadavg()[0]:.1f}")

    t0 = time.perf_counter()
    df = al.cached_simulation(args.source, seeds=args.seeds, n_jobs=args.jobs)
    wall = time.perf_counter() - t0
    res = al.savings(df)
    print(f"\nActive learning: {len(al.STRATEGIES)} strategies x {args.seeds} seeds, seed set 20, batch 20, budget 500")
    print(f"wall {wall:.1f} s (goal < 180 s, incl. data load and PCA); summed run time "
          f"{df.groupby(['strategy', 'seed'])['seconds'].first().sum():.1f} s")
    print(f"target = random's final accuracy {res['target']:.4f}; labels saved vs random, "
          f"{res['level']:.0%} paired bootstrap over seeds:")
    secs = df.groupby(["strategy", "seed"])["seconds"].first().groupby("strategy").mean()
    for name, s in sorted(res["strategies"].items(), key=lambda kv: -(kv[1]["saving"] or -np.inf)):
        labels = "never" if s["labels"] is None else f"{s['labels']:5.0f}"
        print(f"  {name:16s} labels {labels}  saved {_pct(s['saving'])} [{_pct(s['saving_low'])}, "
              f"{_pct(s['saving_high'])}]  final acc {s['final_accuracy']:.3f} +- {s['final_sd']:.3f}  "
              f"{secs[name]:5.1f} s/run")
    best = res["strategies"][res["best"]]
    verdict = "MET" if best["saving"] >= 0.4 else "NOT MET"
    print(f"best: {res['best']} saves {best['saving']:.0%} (interval {_pct(best['saving_low'])} to "
          f"{_pct(best['saving_high'])}); goal >= 40%: {verdict}")
    losers = [k for k, s in res["strategies"].items() if k != "random" and (s["saving"] or 0) <= 0]
    print("no better than random: " + (", ".join(losers) if losers else "none"))

    t0 = time.perf_counter()
    pdf = pl.cached_simulation(args.source, seeds=args.seeds, n_jobs=args.jobs)
    wall = time.perf_counter() - t0
    summary = pl.summarize(pdf)
    print(f"\nPseudo-labelling: 50 labelled items, {args.seeds} seeds, wall {wall:.1f} s; baseline accuracy "
          f"{summary['baseline'].iloc[0]:.3f}")
    with pd.option_context("display.width", 160):
        print(summary[["threshold", "gain", "gain_low", "gain_high", "n_pseudo", "noise", "worth"]]
              .round(3).to_string(index=False))
    print(f"load average after {os.getloadavg()[0]:.1f}")
