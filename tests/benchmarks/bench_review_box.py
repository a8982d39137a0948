"""A box fixed by drawing it in the review: how close to the truth, and how long per fix, on the demo.

Usage::

    python tests/benchmarks/bench_review_box.py [--case DIR] [--seed 0]

The demo (``small``, the app's default; ``--case``: a built case folder of
that size, copied in instead of training the detector again) is imported into
an isolated FiftyOne database and the label-error engine is run on it. The
candidates measured are the true ``missing`` and ``low_iou`` errors among the
engine's candidates (the ones a reviewer confirms and whose box the corrected
COCO takes): ``low_iou``: the GT label with that injected error, truth = its
``clean_ground_truth`` box (same ``coco_id``); ``missing``: the prediction,
truth = the deleted clean box it overlaps most (IoU >= 0.1).

For each, IoU with the truth of:

a. the prediction's box (what the corrected COCO takes without a drawn box);
b. a rough box as a reviewer draws it fast: the true box grown or shrunk
   (one direction per box) by 10-30% per side, centre kept, seeded;
c. that rough box after :func:`analysis.review.box_fix.snap` (GrabCut); where
   snapping finds nothing the rough box is kept, as the page does.

(b) is the baseline for (c). Seconds per fix: snapping + storing the decision
with its box (:func:`analysis.review.store.decide`), per box, against the
human drawing time the pre-labelling page assumes
(:data:`analysis.lab.prelabelling.SECONDS`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time

import _isolated  # noqa: F401  (isolated FiftyOne database and data folder, before fiftyone)
import numpy as np
from PIL import Image


def _pairs(ds, cands):
    """``(candidate row, true xywh px, prediction xywh px, image path, width, height)`` per true fixable error."""
    from analysis.core.boxes import iou_xywh
    from analysis.data.datasets import CLEAN_FIELD

    docs = {s.id: s for s in ds.select(list(set(cands["sample_id"])))}
    out = []
    for c in cands.itertuples(index=False):
        s = docs[c.sample_id]
        w, h = s.metadata.width, s.metadata.height
        px = np.array([w, h, w, h], float)
        labels = {d.id: d for d in s[c.label_field].detections}
        own = labels[c.label_id]
        clean = s[CLEAN_FIELD].detections
        if c.error_type == "low_iou":
            if own.get_field("injected_error") != "low_iou" or c.error_match_id is None:
                continue
            truth = next((d for d in clean if d.coco_id == own.coco_id), None)
            pred = next((d for d in s["predictions"].detections if d.id == c.error_match_id), None)
            if truth is None or pred is None:
                continue
        else:
            gone = [d for d in clean if d.get_field("injected_error") == "missing"]
            if not gone:
                continue
            ious = iou_xywh([own.bounding_box], [d.bounding_box for d in gone])[0]
            if ious.max() < 0.1:
                continue
            truth, pred = gone[int(ious.argmax())], own
        out.append((c, np.array(truth.bounding_box) * px, np.array(pred.bounding_box) * px, s.filepath, w, h))
    return out


def _rough(true_xywh, rng, w, h):
    """The true box grown or shrunk by 10-30% per side (one direction for the box), centre kept, in the image."""
    x, y, bw, bh = true_xywh
    sign = rng.choice([-1.0, 1.0])
    fx, fy = 1 + sign * rng.uniform(0.1, 0.3, 2)
    cx, cy = x + bw / 2, y + bh / 2
    return (max(cx - bw * fx / 2, 0), max(cy - bh * fy / 2, 0), min(cx + bw * fx / 2, w), min(cy + bh * fy / 2, h))


def _summary(name, values):
    v = np.asarray(values)
    return (f"{name:<34} mean {v.mean():.3f}  median {np.median(v):.3f}  share >= 0.75: {(v >= 0.75).mean():.0%}  "
            f"share >= 0.9: {(v >= 0.9).mean():.0%}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", help="a built 'small' demo case folder to import instead of building one")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from analysis.core.boxes import box_iou, to_xywh
    from analysis.core.files import data_home
    from analysis.demo import dataset as demo
    from analysis.lab.prelabelling import SECONDS
    from analysis.label_errors import fo_adapter
    from analysis.review import box_fix
    from analysis.review import store as review

    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} before")
    if args.case:
        shutil.copytree(args.case, data_home() / "demo" / "small", dirs_exist_ok=True)
    t0 = time.perf_counter()
    ds = demo.ensure_demo(size="small")
    fo_adapter.find_label_errors(ds)
    review.prepare(ds)
    cands = fo_adapter.load_candidates(ds)
    cands = cands[cands["error_type"].isin(["missing", "low_iou"])]
    pairs = _pairs(ds, cands)
    print(f"demo ready and engine run in {time.perf_counter() - t0:.0f} s; {len(cands)} missing/low IoU candidates, "
          f"{len(pairs)} of them true injected errors (measured below)")

    rng = np.random.default_rng(args.seed)
    rows, snap_s, store_s, found_nothing = [], [], [], 0
    for c, truth, pred, path, w, h in pairs:
        rough = _rough(truth, rng, w, h)
        image = np.asarray(Image.open(path).convert("RGB"))
        t = time.perf_counter()
        snapped, _ = box_fix.snap(image, rough)
        snap_s.append(time.perf_counter() - t)
        found_nothing += snapped is None
        final = snapped or rough
        t = time.perf_counter()
        review.decide(ds, c.label_field, c.sample_id, c.label_id, "confirmed", "bench",
                      box=box_fix.to_relative(final, w, h), review_version=0)
        store_s.append(time.perf_counter() - t)
        rows.append((c.error_type, pred, to_xywh(np.array([rough]))[0], to_xywh(np.array([final]))[0], truth))
    kinds = np.array([r[0] for r in rows])
    boxes = {k: np.array([r[i] for r in rows]) for k, i in (("pred", 1), ("rough", 2), ("snapped", 3), ("truth", 4))}
    iou = {k: box_iou(boxes[k], boxes["truth"]) for k in ("pred", "rough", "snapped")}

    print(f"\nIoU with clean_ground_truth ({len(rows)} boxes; demo images {w} x {h} px, seed {args.seed}):")
    for kind in ("all", "low_iou", "missing"):
        keep = np.ones(len(rows), bool) if kind == "all" else kinds == kind
        print(f"-- {kind} (n={keep.sum()})")
        print("  " + _summary("(a) prediction's box", iou["pred"][keep]))
        print("  " + _summary("(b) rough box as drawn (baseline)", iou["rough"][keep]))
        print("  " + _summary("(c) rough box snapped (GrabCut)", iou["snapped"][keep]))
    delta = iou["snapped"] - iou["rough"]
    print(f"snapping vs the rough box: better on {(delta > 0.01).mean():.0%}, worse on {(delta < -0.01).mean():.0%}, "
          f"mean change {delta.mean():+.3f}; found nothing (kept as drawn) on {found_nothing} of {len(rows)}")
    ms = np.asarray(snap_s) * 1000
    st = np.asarray(store_s) * 1000
    per_fix = ms + st
    draw = SECONDS["draw"][0]
    print(f"\nseconds per fix, machine side: snap median {np.median(ms):.0f} ms (p95 {np.percentile(ms, 95):.0f}), "
          f"store median {np.median(st):.0f} ms (p95 {np.percentile(st, 95):.0f}); together median "
          f"{np.median(per_fix) / 1000:.3f} s, p95 {np.percentile(per_fix, 95) / 1000:.3f} s")
    print(f"human drawing time assumed: {draw:g} s per box (pre-labelling page: {SECONDS['draw'][1]}); "
          f"one fix ~ {draw + np.median(per_fix) / 1000:.2f} s, the machine's share "
          f"{np.median(per_fix) / 1000 / (draw + np.median(per_fix) / 1000):.1%}; a fix of a pre-label's edges is "
          f"assumed {SECONDS['fix'][0]:g} s there")
    print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
