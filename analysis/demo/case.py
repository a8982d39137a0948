"""Build a complete detection case: scenes, injected label errors, a detector trained on them, its predictions.

:func:`build_case` writes a folder that the demo dataset and the label-error
benchmarks read:

* ``images/`` -- the evaluation ("val") split's images, PNG;
* ``gt_clean.json`` -- COCO instances of the val split, the truth;
* ``gt_noisy.json`` -- the same images with injected annotation errors (what
  a user would have as labels);
* ``predictions.json`` -- COCO results (``image_id, category_id, bbox, score``)
  on the val split, from a CenterNet-style detector (:mod:`analysis.demo.detector`)
  trained on the *noisy* labels of a separate training split;
* ``injected_errors.csv`` -- one row per injected error in the val split
  (columns of :func:`analysis.demo.inject.inject_errors`; ``bbox`` and
  ``true_bbox`` as JSON lists, empty where absent);
* ``case.json`` -- parameters, seeds, image and object counts, injected error
  counts, the predictions' mAP@0.5 against the clean truth (``map50``) and
  the noisy truth, AP@0.5 per class, training steps and timings in seconds.

The two splits draw their digits from disjoint parts of the digit pool, so
the detector is scored on handwriting it has never seen. Everything is
reproducible from ``seed`` as long as training is not cut short by its time
budget (``case.json`` records the steps done).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.core.files import write_atomic
from analysis.demo import detector
from analysis.demo import scenes as synthetic
from analysis.demo.inject import ErrorRates, inject_errors

#: Named, reproducible configurations (keyword arguments of :func:`build_case`).
#: "demo" is what the app shows; the others differ in objects, density, error
#: rates and detector budget, so that error finders can be checked on cases
#: they were not tuned on.
BENCHMARK_CASES = {
    "demo": dict(source="mnist", n_train=3000, n_val=500, image_size=96, objects_per_image=(2, 6),
                 scale_px=(14, 36), error_rates=ErrorRates(), train_steps=900, detector_width=40, seed=0),
    "sklearn-digits-weak": dict(source="sklearn", n_train=1200, n_val=400, image_size=96, objects_per_image=(2, 6),
                                scale_px=(14, 36), train_steps=200, seed=1,
                                error_rates=ErrorRates(missing=0.08, low_iou=0.05, wrong_class=0.08,
                                                       spurious=0.06, duplicate=0.03)),
    "mnist-dense": dict(source="mnist", n_train=1500, n_val=400, image_size=128, objects_per_image=(5, 12),
                        scale_px=(12, 30), train_steps=500, seed=7,
                        error_rates=ErrorRates(missing=0.10, low_iou=0.10, wrong_class=0.08,
                                               spurious=0.08, duplicate=0.06)),
}
#: The app's default demo: the same scenes as "demo" (a third of the training images, under half the training
#: steps), so that the first useful dataset comes in minutes; "demo" stays the larger option and the benchmarks' case.
SMALL_CASE = dict(source="mnist", n_train=1200, n_val=300, image_size=96, objects_per_image=(2, 6),
                  scale_px=(14, 36), error_rates=ErrorRates(), train_steps=400, detector_width=32, seed=0)
#: A small variant that builds in seconds, for tests and trying things out.
FAST_CASE = dict(source="mnist", n_train=400, n_val=30, image_size=64, objects_per_image=(1, 4),
                 scale_px=(14, 30), error_rates=ErrorRates(), train_steps=300, seed=0)


@dataclass(frozen=True)
class Case:
    """A built case folder (see the module docstring) and its detector's mAP@0.5 against the clean truth."""

    root: Path
    map50: float

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    @property
    def gt_clean(self) -> Path:
        return self.root / "gt_clean.json"

    @property
    def gt_noisy(self) -> Path:
        return self.root / "gt_noisy.json"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions.json"

    @property
    def injected_errors(self) -> Path:
        return self.root / "injected_errors.csv"

    @property
    def case_json(self) -> Path:
        return self.root / "case.json"


STAGES_FILE = "stages.json"


def _stage_key(**params) -> str:
    return json.dumps(params, sort_keys=True, default=list)


def _finished_stages(tmp: Path, key: str) -> dict:
    """The stages a previous, interrupted build with the same parameters finished in ``tmp`` (else a fresh ``tmp``)."""
    try:
        done = json.loads((tmp / STAGES_FILE).read_text())
        if done.get("key") == key:
            return done
    except (FileNotFoundError, json.JSONDecodeError):
        pass
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return {"key": key, "stages": [], "timings": {}}


def _finish_stage(tmp: Path, key: str, stage: str, timings: dict) -> None:
    try:
        stages = json.loads((tmp / STAGES_FILE).read_text())["stages"]
    except FileNotFoundError:
        stages = []
    write_atomic(tmp / STAGES_FILE, json.dumps({"key": key, "stages": [*stages, stage], "timings": timings}))


def build_case(
    out_dir: str | Path,
    *,
    source: str = "mnist",
    n_train: int = 3000,
    n_val: int = 500,
    image_size: int = 96,
    objects_per_image: tuple[int, int] = (2, 6),
    scale_px: tuple[int, int] = (14, 36),
    error_rates: ErrorRates = ErrorRates(),
    train_steps: int = 1200,
    train_budget_s: float | None = None,
    detector_width: int = 32,
    seed: int = 0,
    progress=None,
) -> Case:
    """Generate scenes, inject errors, train, predict, and write a case folder (see the module docstring).

    Args:
        source: digit source, ``"mnist"`` or ``"sklearn"``.
        n_train, n_val: images in the training and evaluation splits.
        image_size, objects_per_image, scale_px: scene layout (pixels; see
            :func:`analysis.demo.scenes.render_scenes`).
        error_rates: injected into both splits (the detector learns from noisy labels).
        train_steps: detector training batches (of 32 images).
        train_budget_s: optional wall-clock cap on training, in seconds.
        detector_width: the detector's channels at stride 4.
        progress: optional ``progress(fraction, message)``, fractions rising to 1.
    Returns:
        The :class:`Case`. An existing ``out_dir`` is replaced; the folder
        appears complete or not at all (it is built beside it, then renamed).

    Stages (scenes and their errors, the trained detector) are kept in the
    folder being built (``<out_dir>.partial``): a build killed part way and
    started again with the same arguments resumes after its last finished
    stage, and reports progress from there.
    """
    report = progress or (lambda fraction, message: None)
    out = Path(out_dir)
    tmp = out.with_name(out.name + ".partial")
    key = _stage_key(source=source, n_train=n_train, n_val=n_val, image_size=image_size,
                     objects_per_image=objects_per_image, scale_px=scale_px, error_rates=error_rates.as_dict(),
                     train_steps=train_steps, train_budget_s=train_budget_s, detector_width=detector_width, seed=seed)
    done = _finished_stages(tmp, key)
    timings = done.get("timings", {})
    t0 = time.perf_counter()
    if "scenes" in done["stages"]:
        report(0.1, "Scenes composed earlier: reusing them")
        train_images = np.load(tmp / "train_images.npy")
        noisy_train, val, noisy_val = (json.loads((tmp / f).read_text())
                                       for f in ("train_noisy.json", "gt_clean.json", "gt_noisy.json"))
        errors = pd.read_csv(tmp / "injected_errors.csv")
    else:
        digits, labels = synthetic.load_digits(source)
        order = np.random.default_rng(seed).permutation(len(digits))
        cut = int(0.8 * len(order))
        layout = dict(image_size=image_size, objects_per_image=objects_per_image, scale_px=scale_px)
        report(0.0, "Composing training scenes")
        train_images, train = synthetic.render_scenes(
            n_train, digits=(digits[order[:cut]], labels[order[:cut]]), seed=seed + 1, **layout,
            progress=lambda f, m: report(0.08 * f, m))
        report(0.08, "Composing evaluation scenes")
        val_images, val = synthetic.render_scenes(
            n_val, digits=(digits[order[cut:]], labels[order[cut:]]), seed=seed + 2, **layout)
        synthetic.write_images(val_images, val, tmp / "images")
        noisy_train, _ = inject_errors(train, rates=error_rates, seed=seed + 3)
        noisy_val, errors = inject_errors(val, rates=error_rates, seed=seed + 4)
        for col in ("bbox", "true_bbox"):
            errors[col] = errors[col].map(lambda b: json.dumps(b) if isinstance(b, list) else None)
        np.save(tmp / "train_images.npy", train_images)
        for name, doc in (("train_noisy.json", noisy_train), ("gt_clean.json", val), ("gt_noisy.json", noisy_val)):
            (tmp / name).write_text(json.dumps(doc))
        errors.to_csv(tmp / "injected_errors.csv", index=False)
        timings["generate"] = time.perf_counter() - t0
        _finish_stage(tmp, key, "scenes", timings)

    if "detector" in done["stages"]:
        report(0.95, "Detector trained earlier: reusing it")
        model = detector.load_detector(tmp / "detector.pt")
    else:
        t = time.perf_counter()
        model = detector.train_detector(train_images, noisy_train, steps=train_steps, time_budget_s=train_budget_s,
                                        width=detector_width, seed=seed,
                                        progress=lambda f, m: report(0.1 + 0.85 * f, m))
        timings["train"] = time.perf_counter() - t
        detector.save_detector(model, tmp / "detector.pt")
        _finish_stage(tmp, key, "detector", timings)

    t = time.perf_counter()
    report(0.95, "Running the detector on the evaluation images")
    results = detector.predict(model, detector.load_images(val, tmp / "images"), [im["id"] for im in val["images"]])
    timings["predict"] = time.perf_counter() - t

    map_clean, per_class = detector.average_precision_50(val, results)
    map_noisy, _ = detector.average_precision_50(noisy_val, results)
    (tmp / "predictions.json").write_text(json.dumps(results))
    timings["total"] = sum(timings.get(k, 0.0) for k in ("generate", "train", "predict"))
    names = {c["id"]: c["name"] for c in val["categories"]}
    info = {
        "source": source, "n_train": n_train, "n_val": n_val, "image_size": image_size,
        "objects_per_image": list(objects_per_image), "scale_px": list(scale_px),
        "error_rates": error_rates.as_dict(), "seed": seed,
        "seeds": {"digit_split": seed, "train_scenes": seed + 1, "val_scenes": seed + 2,
                  "train_errors": seed + 3, "val_errors": seed + 4, "detector": seed},
        "n_val_objects": len(val["annotations"]), "n_val_noisy_labels": len(noisy_val["annotations"]),
        "n_predictions": len(results), "injected_errors": errors["error_type"].value_counts().to_dict(),
        "detector": {"model": "CenterNet-style, stride 4", "width": detector_width, "train_steps": model.train_steps,
                     "train_steps_asked": train_steps, "train_budget_s": train_budget_s},
        "map50": map_clean, "map50_vs_noisy_truth": map_noisy,
        "ap50_per_class": {names[k]: v for k, v in per_class.items()},
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }
    (tmp / "case.json").write_text(json.dumps(info, indent=2))
    for scratch in ("train_images.npy", "train_noisy.json", "detector.pt", STAGES_FILE):
        (tmp / scratch).unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    report(1.0, f"Detector mAP@0.5 against the clean truth: {map_clean:.3f}")
    return Case(root=out, map50=map_clean)
