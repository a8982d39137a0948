"""Labelling lab, issue 6 sections 2-4a: human-in-the-loop threshold and human share at 99.9%, consensus accuracy
with and without the model's vote, and the pre-labelling speed-up, with their run times.

Usage: ``.venv/bin/python tests/benchmarks/bench_lab.py [--source mnist5k] [--seeds 5] [--jobs 2] [--fast-demo]``

Runs in a private data folder and FiftyOne database (set ``LABELDASH_HOME`` and ``FIFTYONE_DATABASE_DIR`` to reuse
a built demo). The demo dataset (about 2-3 minutes to build on 2 idle cores; ``--fast-demo`` builds the small test
variant) supplies the detection figures; its ``clean_ground_truth`` is the truth. Prints the machine's load average:
other processes slow the wall times.
"""

import argparse
import os
import time

import _isolated  # noqa: F401  (private data folder; before analysis imports)
import pandas as pd

from analysis.data import sources
from analysis.demo import dataset as demo
from analysis.lab import consensus as cs
from analysis.lab import human_in_the_loop as hitl
from analysis.lab import prelabelling as pl


def _pct(v):
    return "  n/a" if v is None or pd.isna(v) else f"{v:.1%}"


def _hitl(scores: pd.DataFrame, what: str, t0: float) -> None:
    """Thresholds at 99%, 99.5% and 99.9% per run; ``t0`` is when getting the scores started."""
    by_run = hitl.thresholds_by_run(scores, (0.99, 0.995, 0.999), 0.95)
    s = hitl.summarize(by_run)
    n = int(scores.groupby("run").size().iloc[0])
    print(f"{what}: {n:,} scored answers x {s['runs'].iloc[0]} runs, {time.perf_counter() - t0:.1f} s with the "
          "thresholds")
    for _, r in s.iterrows():
        first = by_run[(by_run["run"] == 0) & (by_run["target"] == r["target"])].iloc[0]
        thr = "none" if pd.isna(first["threshold"]) else f"{first['threshold']:.4f}"
        print(f"  target {r['target']:.3%} at 95%: people label {_pct(r['human_share'])} "
              f"[{_pct(r['human_low'])}, {_pct(r['human_high'])}]; run 0 threshold {thr}, "
              f"{int(first['errors'])} errors in {int(first['accepted']):,} accepted"
              + (f" ({first['reason']})" if first["reason"] else ""))
    print(f"  proving 99.9% at 95% over 20 steps needs >= {hitl.min_items(0.999):,} accepted answers, all right")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", choices=list(sources.SOURCES), default="mnist5k")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--fast-demo", action="store_true")
    args = parser.parse_args()
    print(f"{args.source}; {args.jobs} workers, {os.cpu_count()} CPUs, load average before {os.getloadavg()[0]:.1f}")

    print("\n== Human in the loop ==")
    t0 = time.perf_counter()
    scores = hitl.cached_classification(args.source, min(args.seeds, 3), n_jobs=args.jobs)
    _hitl(scores, f"Simulated: RBF SVM on {args.source}, out-of-fold (5-fold CV per seed)", t0)

    t0 = time.perf_counter()
    ds = demo.ensure_demo(size="fast" if args.fast_demo else "full")
    print(f"\ndemo dataset{' (fast variant)' if args.fast_demo else ''}: {len(ds)} images, "
          f"built or loaded in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    det = hitl.detection_scores(ds)
    read = time.perf_counter() - t0
    _hitl(hitl.bootstrap_runs(det, 50), f"Detection boxes of the demo vs clean_ground_truth (read + match {read:.2f} s), "
          "50 bootstrap resamples", t0)

    print("\n== Consensus with the model ==")
    t0 = time.perf_counter()
    df = cs.cached_simulation(args.source, args.seeds, n_jobs=args.jobs)
    wall = time.perf_counter() - t0
    s = cs.summarize(df)
    print(f"Simulated annotators on {args.source}: {args.seeds} seeds, settings "
          f"{ {k: v[0] for k, v in cs.SIMULATION.items()} }, wall {wall:.1f} s")
    table = s.pivot_table(index="overlap", columns=["method", "with_model"], values="mean")
    table.columns = [f"{m}{'+model' if w else ''}" for m, w in table.columns]
    with pd.option_context("display.width", 160):
        print("mean consensus accuracy by annotators per item:")
        print(table.round(4).to_string())
    for target in (None, 0.95, 0.98):
        r = cs.overlaps_replaced(s, target)
        print(f"  target {r['target']:.4f}: people only need {r['without']} annotators ({r['method_without']}), "
              f"with the model {r['with']} ({r['method_with']}): replaces {r['replaced']}")

    print("\n== Pre-labelling (demo, truth = clean_ground_truth) ==")
    t0 = time.perf_counter()
    gt, pred = pl.read_boxes(ds)
    read = time.perf_counter() - t0
    t0 = time.perf_counter()
    sw = pl.sweep(gt, pred, (0.3, 0.5, 0.7), pl.seconds())
    print(f"{len(gt):,} truth and {len(pred):,} predicted boxes; read {read:.2f} s, 3 confidences x 200 bootstrap "
          f"resamples {time.perf_counter() - t0:.2f} s; seconds per action {pl.seconds()}")
    for _, r in sw.iterrows():
        p = pl.planner_values(r.to_dict())
        print(f"  confidence >= {r['min_confidence']:.1f}: accept {_pct(r['accept'])} fix {_pct(r['fix'])} draw "
              f"{_pct(r['draw'])} delete {r['delete']:.2f}/box; speed-up {r['speedup']:.2f}x "
              f"[{r['speedup_low']:.2f}, {r['speedup_high']:.2f}]; anchoring {_pct(r['anchoring'])} "
              f"[{_pct(r['anchoring_low'])}, {_pct(r['anchoring_high'])}] ({int(r['wrong_class'])} wrong class, "
              f"{int(r['loose'])} loose, {int(r['extra'])} on nothing); planner acceptance "
              f"{p['prelabel_acceptance']:.2f}, speed-up {p['prelabel_speedup']:.2f}")
    print(f"\nload average after {os.getloadavg()[0]:.1f}")
