"""Speed of the label-error engine: pure engine and FiftyOne end to end, versus FiftyOne Brain.

Usage::

    python tests/benchmarks/bench_label_errors_speed.py [--engine-sizes 10000 30000 100000]
        [--fo-sizes 1000 5000] [--brain-images 1000] [--case DIR [--crop-classifier]
        [--crop-sizes 2000 8000 20000 [--crop-steps 25]]]

1. Pure engine (:func:`analysis.label_errors.engine.find_detection_errors`) on
   synthetic tables of N images, each with ``--boxes`` GT and as many
   predicted boxes; every size runs in a fresh process limited to 2 CPU cores
   (``os.sched_setaffinity``), reporting wall time and the process's peak RSS
   (tables included).
2. FiftyOne end to end: a dataset of N images (the demo case's val images
   replicated when ``--case`` points at a built case, otherwise synthetic
   scenes; ~10 GT + ~10 predicted boxes per image) is created (not timed),
   then :func:`analysis.label_errors.fo_adapter.find_label_errors` is timed: bulk
   reads, engine, clearing old results, bulk writes, run record.
   ``evaluate_detections`` + ``compute_mistakenness`` is timed on the first
   ``--brain-images`` samples of the same dataset (it loops over samples in
   Python, so its time is linear; the full-size figure is extrapolated and
   labelled as such unless ``--brain-images`` >= N). With ``--crop-classifier``
   (needs ``--case``: the samples point at the case's images), the run with
   the crop classifier's second opinion is timed too.
3. With ``--crop-sizes``: the crop classifier alone
   (:func:`analysis.label_errors.crop_classifier.crop_opinion`) on the case's images
   replicated to each size, in a fresh process on 2 cores, with its peak RSS
   (``--crop-steps`` shortens the training; memory does not depend on it).

Set FIFTYONE_DATABASE_DIR to a temporary folder to keep this off shared databases.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def synthetic_tables(n_images: int, boxes: int, seed: int = 0, size=(640, 480), found_share: float = 0.9):
    """GT and prediction tables shaped like a detector's output on labelled images.

    Per image ``boxes`` GT boxes (10 classes); predictions: ``found_share`` of
    the GT boxes found with pixel jitter and high scores, the rest as
    low-scoring boxes elsewhere, so that the candidate count is realistic
    (~10% at the default 0.9).
    """
    rng = np.random.default_rng(seed)
    n = n_images * boxes
    img = np.repeat(np.arange(n_images), boxes)
    wh = rng.uniform(15, 120, (n, 2))
    xy = rng.uniform(0, 1, (n, 2)) * (np.array(size) - wh)
    cat = rng.integers(1, 11, n)
    gt = pd.DataFrame({"image_id": img, "ann_id": np.arange(n), "category_id": cat,
                       "x": xy[:, 0], "y": xy[:, 1], "w": wh[:, 0], "h": wh[:, 1]})
    found = rng.random(n) < found_share
    jitter = rng.normal(0, 0.05, (n, 4)) * np.c_[wh, wh]
    pxy = np.where(found[:, None], xy + jitter[:, :2], rng.uniform(0, 1, (n, 2)) * (np.array(size) - wh))
    pwh = np.where(found[:, None], np.abs(wh + jitter[:, 2:]) + 1, wh)
    score = np.where(found, rng.beta(8, 2, n), rng.beta(2, 8, n))
    pred = pd.DataFrame({"image_id": img, "pred_id": np.arange(n), "category_id": cat,
                         "x": pxy[:, 0], "y": pxy[:, 1], "w": pwh[:, 0], "h": pwh[:, 1], "score": score})
    return gt, pred


def _engine_child(n_images, boxes, queue):
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
    from analysis.label_errors.engine import find_detection_errors

    gt, pred = synthetic_tables(n_images, boxes)
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    t = time.perf_counter()
    res = find_detection_errors(gt, pred)
    dt = time.perf_counter() - t
    queue.put((dt, len(res), rss_data, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6))


def _in_fresh_process(target, *args):
    """Run ``target(*args, queue)`` in a new process and return what it puts on the queue."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def bench_engine(sizes, boxes):
    print(f"\n== pure engine, {boxes} GT + {boxes} predicted boxes per image, 2 cores")
    print(f"{'images':>9} {'boxes':>11} {'time s':>8} {'us/box':>7} {'candidates':>10} {'peak RSS GB':>11}")
    for n in sizes:
        dt, n_cand, rss_data, rss = _in_fresh_process(_engine_child, n, boxes)
        print(f"{n:>9,} {2 * n * boxes:>11,} {dt:>8.2f} {dt / (2 * n * boxes) * 1e6:>7.2f} {n_cand:>10,} "
              f"{rss:>11.2f}  (tables alone {rss_data:.2f})", flush=True)


def _crop_child(case_dir, n_images, steps, queue):
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
    from analysis.label_errors.crop_classifier import crop_opinion

    gt, pred, _, _, files = case_tables(case_dir, n_images)
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    t = time.perf_counter()
    crop_opinion(gt, files, pred, steps=steps)
    dt = time.perf_counter() - t
    queue.put((dt, len(gt), len(pred), rss_data, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6))


def bench_crop_classifier(sizes, case_dir, steps):
    """Time and peak memory of the crop classifier alone on the case's images replicated, each size in a
    fresh process on 2 cores (its memory should not grow with the dataset: the crops are judged streaming)."""
    print(f"\n== crop classifier alone (crop_opinion), demo case {case_dir} replicated, "
          f"{'default training' if steps is None else f'{steps} steps per model'}, 2 cores")
    print(f"{'images':>9} {'GT boxes':>9} {'predictions':>11} {'time s':>8} {'peak RSS GB':>11}")
    for n in sizes:
        dt, n_gt, n_pred, rss_data, rss = _in_fresh_process(_crop_child, case_dir, n, steps)
        print(f"{n:>9,} {n_gt:>9,} {n_pred:>11,} {dt:>8.1f} {rss:>11.2f}  (tables alone {rss_data:.2f})", flush=True)


def case_tables(case_dir: Path, n_images: int):
    """The case's val split replicated to ``n_images`` images (new image and box ids); also each new image's
    file (the case image it copies)."""
    from analysis.label_errors import coco_files

    instances = json.loads((case_dir / "gt_noisy.json").read_text())
    results = json.loads((case_dir / "predictions.json").read_text())
    gt, pred, probs = coco_files.coco_to_frames(instances, results)
    if probs is not None:  # carried as FiftyOne logits, as the demo dataset has them
        pred["logits"] = list(np.log(np.clip(probs.to_numpy(), 1e-6, None)))
    ids = [im["id"] for im in instances["images"]]
    sizes = {im["id"]: (im["width"], im["height"]) for im in instances["images"]}
    reps = -(-n_images // len(ids))
    out_gt, out_pred = [], []
    for r in range(reps):
        offset = r * (max(ids) + 1)
        out_gt.append(gt.assign(image_id=gt["image_id"] + offset))
        out_pred.append(pred.assign(image_id=pred["image_id"] + offset))
    gt, pred = pd.concat(out_gt, ignore_index=True), pd.concat(out_pred, ignore_index=True)
    keep = sorted(set(gt["image_id"]) | set(pred["image_id"]))[:n_images]
    gt, pred = gt[gt["image_id"].isin(keep)], pred[pred["image_id"].isin(keep)]
    gt["ann_id"], pred["pred_id"] = np.arange(len(gt)), np.arange(len(pred))
    base = max(ids) + 1
    size_of = {i: sizes[i % base] for i in keep}
    files = {im["id"]: str(case_dir / "images" / im["file_name"]) for im in instances["images"]}
    return (gt, pred, size_of, None if probs is None else [str(c) for c in probs.columns],
            {i: files[i % base] for i in keep})


def build_dataset(gt, pred, sizes, filepaths=None, classes=None):
    """A FiftyOne dataset with ``ground_truth`` and ``predictions`` from the tables (relative boxes).

    ``filepaths`` maps image id to an image file; by default the paths are
    placeholders (the engine never opens the images). A ``logits`` column of
    ``pred`` becomes the detections' logits, named by ``classes``.
    """
    import fiftyone as fo

    def dets(table, image_id, w, h, scored):
        return fo.Detections(detections=[
            fo.Detection(label=str(r.category_id), bounding_box=[r.x / w, r.y / h, r.w / w, r.h / h],
                         **({"confidence": float(r.score)} if scored else {}),
                         **({"logits": r.logits.tolist()} if scored and hasattr(r, "logits") else {}))
            for r in table.get(image_id, pd.DataFrame(columns=table_cols(scored))).itertuples()])

    def table_cols(scored):
        return list(pred.columns if scored else gt.columns)

    by_gt, by_pred = dict(list(gt.groupby("image_id"))), dict(list(pred.groupby("image_id")))
    ds = fo.Dataset()
    samples = [fo.Sample(filepath=filepaths[i] if filepaths else f"/bench/{i}.png", metadata=fo.ImageMetadata(width=w, height=h),
                         ground_truth=dets(by_gt, i, w, h, False), predictions=dets(by_pred, i, w, h, True))
               for i, (w, h) in sizes.items()]
    ds.add_samples(samples, progress=False)
    if classes:
        ds.classes = {"predictions": classes}
    return ds


def bench_fiftyone(sizes, brain_images, case_dir, crop_classifier=False):
    import fiftyone.brain as fob

    from analysis.label_errors import fo_adapter as lefo

    source = f"demo case {case_dir} replicated" if case_dir else "synthetic scenes"
    print(f"\n== FiftyOne end to end ({source}), find_label_errors: read + engine + write back + run record")
    brain_rate = None
    for n in sizes:
        if case_dir:
            gt, pred, img_sizes, classes, files = case_tables(case_dir, n)
        else:
            gt, pred = synthetic_tables(n, 10, seed=1)
            img_sizes, classes, files = {i: (640, 480) for i in range(n)}, None, None
        t = time.perf_counter()
        ds = build_dataset(gt, pred, img_sizes, files, classes=classes)
        t_build = time.perf_counter() - t
        try:
            t = time.perf_counter()
            res = lefo.find_label_errors(ds)
            t_ours = time.perf_counter() - t
            t = time.perf_counter()
            lefo.find_label_errors(ds)  # a re-run also clears the previous results
            t_rerun = time.perf_counter() - t
            t = time.perf_counter()
            table = lefo.load_candidates(ds)
            t_load = time.perf_counter() - t
            line = (f"{n:>6,} images, {len(gt):,} GT + {len(pred):,} predicted boxes: find_label_errors "
                    f"{t_ours:.2f} s (re-run {t_rerun:.2f} s), load_candidates {t_load:.2f} s "
                    f"({len(table):,} labels flagged, {len(res):,} candidates); dataset build {t_build:.0f} s (not timed)")
            if crop_classifier:
                t = time.perf_counter()
                lefo.find_label_errors(ds, crop_classifier=True)
                t_crop = time.perf_counter() - t
                line += f"\n        with the crop classifier: {t_crop:.1f} s"
            if brain_images:
                m = min(n, brain_images)
                view = ds.limit(m)
                t = time.perf_counter()
                view.evaluate_detections("predictions", gt_field="ground_truth", eval_key="bench_eval",
                                         progress=False)
                fob.compute_mistakenness(view, "predictions", label_field="ground_truth", progress=False)
                t_brain = time.perf_counter() - t
                brain_rate = t_brain / m
                est = brain_rate * n
                how = "measured" if m >= n else f"extrapolated from {m:,} images ({t_brain:.1f} s)"
                line += (f"\n        evaluate_detections + compute_mistakenness: {est:.1f} s ({how}); "
                         f"speed-up {est / t_ours:.0f}x" + (f", with the crop classifier {est / t_crop:.1f}x"
                                                            if crop_classifier else ""))
            print(line, flush=True)
        finally:
            ds.delete()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine-sizes", type=int, nargs="*", default=[10_000, 30_000, 100_000])
    parser.add_argument("--boxes", type=int, default=20, help="GT boxes (and predicted boxes) per image, engine part")
    parser.add_argument("--fo-sizes", type=int, nargs="*", default=[1_000, 5_000])
    parser.add_argument("--brain-images", type=int, default=1_000)
    parser.add_argument("--case", type=Path, default=None, help="a built demo case folder to replicate")
    parser.add_argument("--crop-classifier", action="store_true",
                        help="also time the run with the crop classifier (needs --case, whose images it reads)")
    parser.add_argument("--crop-sizes", type=int, nargs="*", default=[],
                        help="also time the crop classifier alone, with its peak memory, at these sizes (needs --case)")
    parser.add_argument("--crop-steps", type=int, default=None,
                        help="training batches per model for --crop-sizes (default: the classifier's own)")
    args = parser.parse_args(argv)
    if (args.crop_classifier or args.crop_sizes) and not args.case:
        parser.error("--crop-classifier and --crop-sizes need --case (the images they read)")
    os.environ.setdefault("FIFTYONE_DATABASE_DIR", tempfile.mkdtemp(prefix="bench-label-errors-"))
    import analysis  # noqa: F401  (FiftyOne defaults before fiftyone is imported)

    if args.engine_sizes:
        bench_engine(args.engine_sizes, args.boxes)
    if args.fo_sizes:
        bench_fiftyone(args.fo_sizes, args.brain_images, args.case, args.crop_classifier)
    if args.crop_sizes:
        bench_crop_classifier(args.crop_sizes, args.case, args.crop_steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
