"""Build a complete detection case: scenes, injected label errors, a trained detector, predictions.

:func:`build_case` writes a folder that the label-error benchmarks and the
demo dataset read:

* ``images/`` -- the evaluation split's images (PNG);
* ``gt_clean.json`` / ``gt_noisy.json`` -- COCO instances of that split,
  true and with injected errors (what a user would have);
* ``predictions.json`` -- COCO results of a CenterNet-style detector trained
  on the *noisy* labels of a separate training split;
* ``injected_errors.csv`` -- one row per injected error (see
  :func:`analysis.scenes.inject_errors`; boxes as JSON lists);
* ``case.json`` -- parameters, seeds, timings, and mAP@0.5 of the predictions
  against the clean and the noisy truth.

The training and evaluation splits use disjoint sets of digit images.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from analysis import centernet, scenes
from analysis.detection_metrics import average_precision

#: Named, reproducible configurations. "demo" is what the app shows; the others
#: differ in objects, density, error rates and detector budget, to check that
#: error finders generalise.
BENCHMARK_CASES = {
    "demo": dict(source="mnist", n_train=2000, n_val=500, train_steps=500, seed=0,
                 error_rates=scenes.ErrorRates()),
    "sklearn-digits-weak": dict(source="sklearn", n_train=1500, n_val=400, train_steps=150, seed=1,
                                scale_px=(14, 36), error_rates=scenes.ErrorRates(0.08, 0.05, 0.08, 0.06, 0.02)),
    "mnist-dense": dict(source="mnist", n_train=2000, n_val=400, train_steps=500, seed=7,
                        objects_per_image=(5, 11), scale_px=(12, 30),
                        error_rates=scenes.ErrorRates(0.10, 0.10, 0.08, 0.06, 0.05)),
}
#: A small variant that builds in seconds, for tests and trying things out.
FAST_CASE = dict(source="mnist", n_train=120, n_val=30, train_steps=40, seed=0, error_rates=scenes.ErrorRates())


@dataclass
class Case:
    """Paths of a built case and its detector's mAP@0.5 against the clean truth."""

    root: Path
    map50: float

    @property
    def images_dir(self) -> Path:
        return self.root / "images"


def _arrays(coco: dict, images_dir: Path):
    """Images as an N x H x W x 3 uint8 array, and per-image boxes / class indices."""
    images = np.stack([np.asarray(Image.open(images_dir / im["file_name"]).convert("RGB")) for im in coco["images"]])
    by_image: dict = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    boxes = [np.array([a["bbox"] for a in by_image.get(im["id"], [])], float).reshape(-1, 4) for im in coco["images"]]
    labels = [np.array([a["category_id"] for a in by_image.get(im["id"], [])], int) for im in coco["images"]]
    return images, boxes, labels


def build_case(
    out_dir: str | Path,
    *,
    source: str = "mnist",
    n_train: int = 2000,
    n_val: int = 500,
    error_rates: scenes.ErrorRates = scenes.ErrorRates(),
    train_steps: int = 500,
    train_budget_s: float = 150.0,
    seed: int = 0,
    image_size: int = 128,
    objects_per_image: tuple[int, int] = (2, 7),
    scale_px: tuple[int, int] = (16, 44),
    progress=None,
) -> Case:
    """Generate, damage, train, predict and write a case folder (see the module docstring).

    The detector trains for ``train_steps`` batches (reproducible), cut short
    after ``train_budget_s`` seconds on a slow or busy machine (``case.json``
    records the steps done). ``progress(fraction, message)`` reports the
    stages. Timings and the mAP go to ``case.json``; the return value carries
    the mAP too.
    """
    report = progress or (lambda f, m: None)
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    timings = {}
    t0 = time.perf_counter()
    digits, labels = scenes.load_digits(source)
    order = np.random.default_rng(seed).permutation(len(digits))  # the pools are sorted by class
    cut = int(0.8 * len(order))
    common = dict(image_size=image_size, objects_per_image=objects_per_image, scale_px=scale_px)
    with tempfile.TemporaryDirectory() as train_dir:
        report(0.0, "Composing training scenes")
        train = scenes.make_scenes(n_train, train_dir, digits=(digits[order[:cut]], labels[order[:cut]]),
                                   seed=seed + 1, **common,
                                   progress=lambda f, m: report(0.07 * f, m))
        val = scenes.make_scenes(n_val, out / "images", digits=(digits[order[cut:]], labels[order[cut:]]),
                                 seed=seed + 2, first_image_id=1, **common)
        noisy_train, _ = scenes.inject_errors(train, error_rates, seed=seed + 3)
        noisy_val, errors = scenes.inject_errors(val, error_rates, seed=seed + 4)
        timings["generate_s"] = time.perf_counter() - t0

        t1 = time.perf_counter()
        images, boxes, classes = _arrays(noisy_train, Path(train_dir))
    model = centernet.train(images, boxes, classes, len(scenes.CLASSES), max_steps=train_steps, time_budget_s=train_budget_s, seed=seed,
                            progress=lambda f, m: report(0.1 + 0.85 * f, m))
    timings["train_s"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    report(0.95, "Running the detector on the evaluation images")
    val_images, _, _ = _arrays(val, out / "images")
    detections = centernet.predict(model, val_images)
    results = [{"image_id": im["id"], "category_id": int(c), "bbox": [round(float(v), 2) for v in b],
                "score": round(float(s), 4)}
               for im, (bb, cc, ss) in zip(val["images"], detections) for b, c, s in zip(bb, cc, ss)]
    timings["predict_s"] = time.perf_counter() - t2

    map_clean, per_class = average_precision(val, results)
    map_noisy, _ = average_precision(noisy_val, results)
    (out / "gt_clean.json").write_text(json.dumps(val))
    (out / "gt_noisy.json").write_text(json.dumps(noisy_val))
    (out / "predictions.json").write_text(json.dumps(results))
    for col in ("bbox", "true_bbox"):
        errors[col] = errors[col].map(lambda b: json.dumps(b) if b is not None else "")
    errors.to_csv(out / "injected_errors.csv", index=False)
    info = {
        "source": source, "n_train": n_train, "n_val": n_val, "seed": seed, "image_size": image_size,
        "objects_per_image": list(objects_per_image), "scale_px": list(scale_px),
        "error_rates": error_rates.as_dict(), "train_steps": model.train_steps, "train_steps_asked": train_steps,
        "map50": map_clean, "map50_vs_noisy_truth": map_noisy,
        "ap50_per_class": {scenes.CLASSES[k]: v for k, v in per_class.items()},
        "injected_errors": errors["error_type"].value_counts().to_dict(),
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }
    (out / "case.json").write_text(json.dumps(info, indent=2))
    report(1.0, f"Detector mAP@0.5 against the clean truth: {map_clean:.3f}")
    return Case(root=out, map50=map_clean)
