"""Predictions for label-error mining without a model: the project's detector trained out of fold.

A detector trained on an image agrees with that image's labelling mistakes, so
:func:`train_oof` cross-fits by image: the images are split into ``k`` folds
(``k = 3`` by default), the detector of :mod:`analysis.demo.detector` is
trained on the other folds' labels, and each image is predicted by the one
model that never saw it. The predictions go to a ``predictions_oof`` field
(``confidence``, class ``logits`` over ``dataset.classes[field]``, and
``fold``: the fold whose model made them), then the label-error engine ranks
them as usual (:func:`analysis.label_errors.fo_adapter.find_label_errors`).

:func:`plan_training` chooses the resolution and step count from the images'
and boxes' sizes and says, before any training, what will not work (too few
boxes or images, objects too small for a stride-4 detector, too many
classes). :func:`estimate_seconds` times a few training steps on this machine
and extrapolates.

Each finished fold is kept in ``work_dir`` (``fold<k>.pt``, the model;
``fold<k>.json``, its training image ids and its predictions), with the fold
assignment in ``folds.json``: a run killed part way resumes after its last
finished fold. ``dataset.info["oof_detector"]`` records the plan, the
timings and the out-of-fold mAP@0.5 against the current labels, per class.

Command line: ``python -m analysis.label_errors.oof_detector --dataset NAME [--gt-field F] [--folds K]
[--check]`` (prints JSON).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from analysis.core.errors import InputError
from analysis.core.files import data_home, write_atomic
from analysis.data.detections import read_detections
from analysis.demo import detector

PRED_FIELD = "predictions_oof"
RUN_KEY = "oof_detector"
#: The job running :func:`train_oof` is ``JOB_PREFIX + dataset name`` (see :func:`job_key`).
JOB_PREFIX = "oof-"

#: Limits checked before training (see :func:`plan_training`).
MIN_BOXES = 50
MIN_IMAGES_PER_FOLD = 3
#: One softmax at stride 4 over a few dozen channels: beyond this the class head is too narrow to learn them.
MAX_CLASSES = 20
#: Boxes are scaled so that their 5th-percentile shorter side is about this many pixels (2.5 output cells).
TARGET_SMALL_SIDE_PX = 10
#: Below this median shorter side (pixels, at the largest resolution allowed) objects are smaller than what a
#: stride-4 detector resolves.
MIN_MEDIAN_SIDE_PX = 6
MIN_SIDE, MAX_SIDE = 64, 384
BATCH = 16
#: Training steps: about this many passes over each fold's training images, within [MIN_STEPS, MAX_STEPS].
EPOCHS, MIN_STEPS, MAX_STEPS = 75, 200, 2000
#: Image arrays held in memory at once (bytes): beyond, the run is refused rather than swapping.
MAX_IMAGE_BYTES = 3 * 2 ** 30


def _round16(value: float) -> int:
    return int(max(1, round(value / 16)) * 16)


def _boxes_and_sizes(samples, gt_field: str):
    """The ground-truth table (relative boxes) and the images' median width and height (pixels)."""
    gt = read_detections(samples, gt_field)
    if samples.count("metadata.width") < len(samples):
        samples.compute_metadata(skip_failures=True)
    widths, heights = samples.values(["metadata.width", "metadata.height"])
    known = [(w, h) for w, h in zip(widths, heights) if w and h]
    if not known:
        raise InputError("The images' sizes are unknown and the files cannot be read: check the image paths.")
    return gt, tuple(float(np.median(v)) for v in zip(*known))


def plan_training(samples, gt_field: str = "ground_truth", *, folds: int = 3, steps: int | None = None,
                  resolution: tuple[int, int] | None = None) -> dict:
    """What training would do on ``samples`` and whether it can work; nothing is trained.

    Returns a JSON-able dict: ``images``, ``boxes``, ``classes`` (names, sorted), ``boxes_per_class``,
    ``folds``, ``augment`` (always on: :data:`analysis.demo.detector.AUGMENTATION`), ``resolution``
    ``[width, height]`` every image is resized to (chosen so that the 5th-percentile box's shorter side is
    about :data:`TARGET_SMALL_SIDE_PX` pixels, long side in [64, 384]), ``steps`` per fold
    (about :data:`EPOCHS` passes over a fold's training images), ``batch``, ``box_side_px`` (the shorter sides'
    5th percentile and median at that resolution), ``why`` (the choice in words), ``problems`` (messages
    that stop training) and ``warnings`` (it will run, but read the results with care). ``steps`` and
    ``resolution`` override the choice (tests, experiments).
    """
    if folds < 2:
        raise InputError(f"Cross-fitting needs at least 2 folds, got {folds}.")
    gt, (width, height) = _boxes_and_sizes(samples, gt_field)
    n_images, n_boxes = len(samples), len(gt)
    counts = gt["category_id"].value_counts().sort_index()
    problems, warnings = [], []
    if n_boxes < MIN_BOXES:
        problems.append(f"Only {n_boxes} labelled boxes in '{gt_field}': a detector needs at least {MIN_BOXES} "
                        "to learn anything, so its disagreements with the labels would be noise. Label more "
                        "images first.")
    if n_images < folds * MIN_IMAGES_PER_FOLD:
        problems.append(f"Only {n_images} images: {folds} folds need at least {folds * MIN_IMAGES_PER_FOLD}.")
    if len(counts) > MAX_CLASSES:
        problems.append(f"{len(counts)} classes: this small detector handles at most {MAX_CLASSES}. Merge "
                        "classes, or check a subset of them (a view).")
    rare = [f"{c} ({n})" for c, n in counts.items() if n < 10]
    if rare:
        warnings.append("Classes with fewer than 10 boxes will hardly be learnt: " + ", ".join(rare) + ".")
    side = np.minimum(gt["w"].to_numpy() * width, gt["h"].to_numpy() * height) if n_boxes else np.array([0.0])
    p5, median = (float(np.percentile(side, q)) for q in (5, 50))
    long_side = max(width, height)
    if resolution is None:
        scale = min(TARGET_SMALL_SIDE_PX / max(p5, 1e-6), 1.0, MAX_SIDE / long_side)
        scale = max(scale, MIN_SIDE / long_side)
        resolution = (_round16(width * scale), _round16(height * scale))
    scale = min(resolution[0] / width, resolution[1] / height)
    if n_boxes and median * min(MAX_SIDE / long_side, 1.0) < MIN_MEDIAN_SIDE_PX:
        problems.append(f"The objects are tiny: half of the boxes are under {median:.0f} px on their shorter side "
                        f"in {width:.0f} x {height:.0f} images, smaller than this detector (which sees 4 x 4 px "
                        f"cells, on images up to {MAX_SIDE} px wide) can find. Crop the images into tiles first.")
    elif n_boxes and p5 * scale < MIN_MEDIAN_SIDE_PX:
        warnings.append(f"The smallest objects (5% of the boxes) are under {p5 * scale:.0f} px at the training "
                        "resolution: the models will miss many of them, and they will look like spurious labels.")
    if n_images * resolution[0] * resolution[1] * 3 > MAX_IMAGE_BYTES:
        problems.append(f"{n_images:,} images at {resolution[0]} x {resolution[1]} do not fit in memory here; "
                        "run it on a view of fewer images.")
    n_train = n_images - n_images // folds
    if steps is None:
        steps = int(np.clip(round(EPOCHS * n_train / BATCH), MIN_STEPS, MAX_STEPS))
    return {
        "gt_field": gt_field, "images": n_images, "boxes": n_boxes, "classes": [str(c) for c in counts.index],
        "boxes_per_class": {str(c): int(n) for c, n in counts.items()}, "folds": folds,
        "resolution": [int(resolution[0]), int(resolution[1])], "steps": int(steps), "batch": BATCH,
        "augment": True, "image_size": [round(width), round(height)],
        "box_side_px": {"p5": round(p5 * scale, 1), "median": round(median * scale, 1)},
        "why": (f"Images ({width:.0f} x {height:.0f} px, median) are resized to {resolution[0]} x {resolution[1]}, "
                f"so that the smaller boxes are about {max(p5 * scale, 0):.0f} px on their shorter side (median "
                f"{median * scale:.0f} px); {steps} training steps of {BATCH} images per fold, about "
                f"{steps * BATCH / max(n_train, 1):.0f} passes over each fold's {n_train} training images, half "
                "of each batch tiled from quarters of other images, then zoomed, shifted and brightened at random "
                "(a model learns a few hundred images by heart otherwise)."),
        "problems": problems, "warnings": warnings,
    }


def _load_images(paths, resolution) -> np.ndarray:
    """The images resized to ``resolution`` (width, height), N x H x W x 3 uint8 (relative boxes stay valid)."""
    from PIL import Image

    out = np.empty((len(paths), resolution[1], resolution[0], 3), np.uint8)
    for k, path in enumerate(paths):
        try:
            with Image.open(path) as im:
                out[k] = np.asarray(im.convert("RGB").resize(tuple(resolution), Image.BILINEAR))
        except OSError as e:
            raise InputError(f"Cannot read the image {path}: {e}") from None
    return out


def _coco(gt, rows: list[int], ids: list[str], resolution, classes: list[str]) -> dict:
    """COCO instances of the images ``rows`` (pixel boxes at ``resolution``; category ids 1..C)."""
    cat = {c: k + 1 for k, c in enumerate(classes)}
    chosen = {ids[r] for r in rows}
    image_id = {ids[r]: r for r in rows}
    sub = gt[gt["image_id"].isin(chosen)]
    w, h = resolution
    boxes = sub[["x", "y", "w", "h"]].to_numpy(np.float64) * [w, h, w, h]
    return {"images": [{"id": r, "width": w, "height": h} for r in rows],
            "annotations": [{"id": k, "image_id": image_id[s], "category_id": cat[c], "bbox": b.tolist(),
                             "iscrowd": 0} for k, (s, c, b) in enumerate(zip(sub["image_id"], sub["category_id"],
                                                                            boxes))],
            "categories": [{"id": k, "name": c} for c, k in cat.items()]}


def _run_key(name: str, plan: dict, ids: list[str], seed: int, width: int) -> str:
    """What a finished fold must match to be reused: the images, labels' field and training settings."""
    text = json.dumps([name, ids,
                       {k: plan[k] for k in ("gt_field", "classes", "folds", "resolution", "steps", "batch",
                                             "augment")},
                       seed, width, detector.AUGMENTATION if plan["augment"] else None])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def assign_folds(n: int, folds: int, seed: int) -> np.ndarray:
    """Fold of each of ``n`` images: a seeded shuffle dealt round-robin (fold sizes differ by at most 1)."""
    fold = np.empty(n, np.int64)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % folds
    return fold


def job_key(dataset_name: str) -> str:
    """The background job's key for a dataset (names may hold characters job keys do not)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset_name)[:60]
    return f"{JOB_PREFIX}{safe}-{hashlib.sha1(dataset_name.encode()).hexdigest()[:8]}"


def work_dir_for(dataset_name: str) -> Path:
    """Where the job keeps its finished folds: in the job's own folder."""
    return data_home() / "jobs" / job_key(dataset_name) / "folds"


def start_job(dataset: str, gt_field: str = "ground_truth", *, folds: int = 3, **kwargs):
    """Run :func:`train_oof` as a background job (once per dataset); returns its status.

    An interrupted job resumes after its last finished fold; a finished or failed one runs again.
    """
    from analysis.core import jobs

    key = job_key(dataset)
    if jobs.status(key).state in ("done", "failed", "interrupted"):
        jobs.forget(key)
    return jobs.start(key, "analysis.label_errors.oof_detector:train_oof", dataset=dataset, gt_field=gt_field,
                      folds=folds, **kwargs)


def job_status(dataset: str):
    """The training job's :class:`~analysis.core.jobs.JobStatus` for ``dataset``."""
    from analysis.core import jobs

    return jobs.status(job_key(dataset))


def train_oof(dataset: str, gt_field: str = "ground_truth", *, folds: int = 3, pred_field: str = PRED_FIELD,
              steps: int | None = None, resolution: list[int] | None = None, width: int = 32, seed: int = 0,
              rank: bool = True, work_dir: str | None = None, progress=None) -> dict:
    """Train ``folds`` detectors out of fold on dataset ``dataset``'s ``gt_field``, write ``pred_field``, rank.

    Args:
        dataset: the FiftyOne dataset's name (a job's arguments are JSON).
        steps, resolution: override :func:`plan_training`'s choice.
        width: the detector's channels at stride 4.
        rank: then run the label-error engine on ``gt_field`` against ``pred_field``.
        work_dir: where finished folds are kept (default :func:`work_dir_for`).
        progress: optional ``progress(fraction, message)``.
    Returns:
        The report also stored in ``dataset.info["oof_detector"]`` (JSON-able): the plan, ``map50`` and
        ``ap50_per_class`` of the out-of-fold predictions against the current labels, ``fold_seconds``,
        ``resumed_folds`` and, with ``rank``, ``candidates`` per error type.
    Raises:
        InputError: the dataset cannot be trained on (the plan's problems, one per line).
    """
    from analysis.data import datasets

    report = progress or (lambda fraction, message: None)
    ds = datasets.load(dataset)
    plan = plan_training(ds, gt_field, folds=folds, steps=steps, resolution=resolution)
    if plan["problems"]:
        raise InputError(" ".join(plan["problems"]))
    ids, paths = ds.values(["id", "filepath"])
    key = _run_key(dataset, plan, ids, seed, width)
    out = Path(work_dir) if work_dir else work_dir_for(dataset)
    manifest = _read(out / "folds.json")
    if manifest.get("key") != key:  # other images or settings: earlier folds are of no use
        for old in out.glob("fold*"):
            old.unlink()
        fold_of = assign_folds(len(ids), folds, seed)
        manifest = {"key": key, "plan": plan, "fold_of": dict(zip(ids, fold_of.tolist()))}
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / "folds.json", json.dumps(manifest))
    fold_of = np.array([manifest["fold_of"][i] for i in ids])
    gt = read_detections(ds, gt_field)
    classes, res = plan["classes"], plan["resolution"]
    report(0.0, f"Reading {len(ids):,} images at {res[0]} x {res[1]}")
    images = _load_images(paths, res)
    results, fold_seconds, resumed = [], {}, []
    for f in range(folds):
        done = _read(out / f"fold{f}.json")
        if done.get("key") == key:
            resumed.append(f)
            report(0.9 * (f + 1) / folds, f"Fold {f + 1}/{folds} finished earlier: reusing it")
        else:
            t = time.perf_counter()
            train_rows = np.flatnonzero(fold_of != f).tolist()
            model = detector.train_detector(
                images[train_rows], _coco(gt, train_rows, ids, res, classes), steps=plan["steps"],
                batch_size=BATCH, width=width, seed=seed + f, augment=plan["augment"],
                progress=lambda x, m, f=f: report(0.9 * (f + x) / folds, f"Fold {f + 1}/{folds}: {m}"))
            detector.save_detector(model, out / f"fold{f}.pt")
            rows = np.flatnonzero(fold_of == f).tolist()
            preds = detector.predict(model, images[rows], rows)
            done = {"key": key, "fold": f, "train_ids": [ids[r] for r in train_rows], "pid": os.getpid(),
                    "seconds": time.perf_counter() - t, "steps": model.train_steps, "predictions": preds}
            write_atomic(out / f"fold{f}.json", json.dumps(done))
        fold_seconds[str(f)] = round(done["seconds"], 1)
        results.extend(dict(p, fold=f) for p in done["predictions"])

    report(0.9, f"Writing {len(results):,} out-of-fold predictions to '{pred_field}'")
    map50, per_class = detector.average_precision_50(_coco(gt, list(range(len(ids))), ids, res, classes), results)
    _write_predictions(ds, pred_field, results, ids, res, classes, fold_of)
    info = {**plan, "pred_field": pred_field, "map50": round(map50, 4),
            "ap50_per_class": {classes[c - 1]: round(v, 4) for c, v in per_class.items()},
            "fold_seconds": fold_seconds, "resumed_folds": resumed, "predictions": len(results)}
    if rank:
        from analysis.label_errors.fo_adapter import find_label_errors

        report(0.95, f"Ranking label errors: '{gt_field}' against '{pred_field}'")
        ranked = find_label_errors(ds, gt_field, pred_field)
        info["candidates"] = {str(t): int(n) for t, n in ranked["error_type"].value_counts().items()}
    ds.info[RUN_KEY] = info
    ds.save()
    report(1.0, f"Out-of-fold mAP@0.5 against the current labels: {map50:.3f}")
    return info


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_predictions(ds, pred_field, results, ids, res, classes, fold_of) -> None:
    """``pred_field`` (relative boxes, confidence, logits = log class probabilities, fold) and ``oof_fold``."""
    import fiftyone as fo

    per_image = [[] for _ in ids]
    w, h = res
    for r in results:
        x, y, bw, bh = r["bbox"]
        per_image[r["image_id"]].append(fo.Detection(
            label=classes[r["category_id"] - 1], bounding_box=[x / w, y / h, bw / w, bh / h], confidence=r["score"],
            logits=np.log(np.maximum(r["class_probs"], 1e-6)).round(4).tolist(), fold=r["fold"]))
    ds.set_values(pred_field, [fo.Detections(detections=d) for d in per_image])
    ds.set_values("oof_fold", fold_of.tolist())
    ds.classes[pred_field] = list(classes)
    ds.save()


def estimate_seconds(dataset: str, plan: dict, *, width: int = 32, timing_steps: int = 4) -> dict:
    """Time ``timing_steps`` training steps at the plan's resolution here and extrapolate to the whole run.

    Returns ``{"seconds_per_step", "train_s", "total_s"}``: ``total_s`` adds reading the images (timed on a
    batch) and predicting; an estimate, as the machine's load changes.
    """
    from analysis.data import datasets

    ds = datasets.load(dataset)
    ids, paths = ds.values(["id", "filepath"])
    take = list(range(min(BATCH, len(ids))))
    t = time.perf_counter()
    images = _load_images([paths[k] for k in take], plan["resolution"])
    read_s = (time.perf_counter() - t) / len(take) * len(ids)
    coco = _coco(read_detections(ds, plan["gt_field"]), take, ids, plan["resolution"], plan["classes"])
    # the first step pays a one-off set-up
    detector.train_detector(images, coco, steps=1, batch_size=BATCH, width=width, augment=plan["augment"])
    t = time.perf_counter()
    detector.train_detector(images, coco, steps=timing_steps, batch_size=BATCH, width=width,
                            augment=plan["augment"])
    per_step = (time.perf_counter() - t) / timing_steps
    train_s = per_step * plan["steps"] * plan["folds"]
    predict_s = per_step / 3 * len(ids) / BATCH  # a forward pass is about a third of a training step
    return {"seconds_per_step": round(per_step, 3), "train_s": round(train_s), "total_s": round(
        train_s + read_s + predict_s + 10)}  # 10 s: writing and ranking


def main(argv=None) -> int:
    """CLI: check the dataset (``--check``: plan and time estimate only), or train, predict and rank."""
    from analysis.core.cli import ArgumentParser
    from analysis.data import datasets

    parser = ArgumentParser(prog="python -m analysis.label_errors.oof_detector",
                            description="Train the project's detector out of fold on a dataset's own labels, "
                                        f"write '{PRED_FIELD}' and rank label errors with it.")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--gt-field", default="ground_truth")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None, help="training steps per fold (default: chosen)")
    parser.add_argument("--check", action="store_true", help="only say what training would do and how long")
    args = parser.parse_args(argv)
    try:
        datasets.connect()
        plan = plan_training(datasets.load(args.dataset), args.gt_field, folds=args.folds, steps=args.steps)
        if plan["problems"]:
            raise InputError(" ".join(plan["problems"]))
        if args.check:
            print(json.dumps({**plan, "estimate": estimate_seconds(args.dataset, plan)}))
            return 0
        info = train_oof(args.dataset, args.gt_field, folds=args.folds, steps=args.steps,
                         progress=lambda f, m: print(f"{f:4.0%} {m}", file=sys.stderr, flush=True))
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
