"""Time to the first usable demo dataset (the app's default, small) and to the full demo, from scratch.

Each size is built end to end as the app builds it (scenes, detector, predictions, then the FiftyOne import),
in this process, with its stage timings, the process's CPU seconds and the machine's load (other processes on
the same cores slow every stage down), and the predictions' mAP@0.5 against the clean and the noisy truth.
Goal: the small demo usable within 180 s on 2 otherwise idle cores.

    python tests/benchmarks/bench_demo_build.py [--sizes small,full]
"""

import argparse
import os
import sys
import time

import _isolated  # noqa: F401  (private data folder and database; sets sys.path)

from analysis.demo import dataset as demo


def build(size: str) -> dict:
    load_before = os.getloadavg()[0]
    cpu, start = time.process_time(), time.perf_counter()
    ds = demo.ensure_demo(size=size, rebuild=True, name=f"bench-demo-{size}")
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    info = ds.info["demo"]
    t = info["timings_s"]
    print(f"{size}: {info['n_train']} training + {info['n_val']} evaluation images ({info['image_size']} px), "
          f"{info['detector']['train_steps']} training steps; usable in FiftyOne after {wall:.1f} s "
          f"(generate {t['generate']:.1f}, train {t['train']:.1f} = {t['train'] / info['detector']['train_steps']:.3f} "
          f"s/step, predict {t['predict']:.1f}, import {wall - t['total']:.1f}); process CPU {cpu:.1f} s "
          f"(CPU/wall {cpu / wall:.2f}); load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"  mAP@0.5 vs clean truth {info['map50']:.3f}, vs noisy truth {info['map50_vs_noisy_truth']:.3f}; "
          f"injected errors: {info['injected_errors']}")
    return {"size": size, "wall": wall}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="small,full")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores")
    results = [build(size) for size in args.sizes.split(",")]
    first = next((r for r in results if r["size"] == "small"), None)
    if first:
        print(f"time to the first usable dataset (small): {first['wall']:.0f} s; goal <= 180 s on 2 idle cores: "
              f"{'PASS' if first['wall'] <= 180 else 'FAIL'} (at the load printed above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
