"""Time the default learning-curve experiment (issue 5: under 90 s on 2 cores, using both).

Usage: ``.venv/bin/python tests/benchmarks/bench_learning_curve_run.py [--jobs 2]``

Runs 3 model families (logistic regression, MLP, small CNN) x 8 log-spaced
sizes x 3 seeds on MNIST-5k, like the app's default, and prints the wall
time, the summed per-run times (their ratio shows how many cores were busy),
the CPU time of the runs (what the experiment costs on idle cores) and the
machine's load average (other processes slow the wall time).
"""

import argparse
import os
import time

import _isolated  # noqa: F401  (private data folder; before analysis imports)

from analysis.data import sources
from analysis.planning import experiments

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    t0 = time.perf_counter()
    X, y, shape = sources.load_source("mnist5k")
    load_s = time.perf_counter() - t0
    load_before = os.getloadavg()[0]
    sizes = experiments.log_sizes(20, len(y) - 1000, 8)
    t1 = time.perf_counter()
    df = experiments.run_experiment(X, y, experiments.DEFAULT_MODELS, sizes, seeds=3, val_size=1000, image_shape=shape,
                           n_jobs=args.jobs)
    wall = time.perf_counter() - t1
    busy = df["seconds"].sum()
    print(f"MNIST-5k, {len(df)} runs ({', '.join(experiments.DEFAULT_MODELS)} x {len(sizes)} sizes {sizes.tolist()} x 3 seeds), "
          f"{args.jobs} workers, {os.cpu_count()} CPUs, load average before {load_before:.1f}")
    print(f"data load {load_s:.1f} s; experiment wall {wall:.1f} s; total {load_s + wall:.1f} s "
          f"(goal < 90 s); summed run time {busy:.1f} s = {busy / wall:.2f} cores busy on average")
    cpu = df["cpu_seconds"].sum()
    print(f"CPU time of all runs {cpu:.1f} s: on {args.jobs} otherwise idle cores the experiment would take about "
          f"{cpu / args.jobs:.1f} s (+ {load_s:.1f} s data load)")
    print(df.groupby("model")[["seconds", "cpu_seconds"]].agg(["sum", "max"]).round(1).to_string())
    print(df.groupby(["model", "n_labels"])["metric"].mean().unstack(0).round(3).to_string())
    print(f"load average after {os.getloadavg()[0]:.1f}")
