"""The embedded demo: a synthetic detection dataset with known label errors and real predictions.

Scenes are composed from real handwritten MNIST digits (see
:mod:`analysis.demo.scenes`); the ground truth carries injected annotation errors;
predictions come from a small CenterNet-style detector trained on CPU on the
noisy labels of a separate training split (:mod:`analysis.demo.detector`). The
dataset is built once, on first use, and kept as a persistent FiftyOne dataset.

Fields of the FiftyOne dataset:

* ``ground_truth`` -- the noisy labels a user would have; each detection has
  ``injected_error`` (``low_iou``, ``wrong_class``, ``spurious``,
  ``duplicate`` or ``None``) and ``coco_id``.
* ``clean_ground_truth`` -- the true boxes; those deleted from the noisy
  labels have ``injected_error = "missing"``.
* ``predictions`` -- the detector's boxes with ``confidence``.
* ``dataset.info["demo"]`` -- build parameters, timings and the detector's
  mAP@0.5 against the clean truth.

Command line: ``python -m analysis.demo [--fast] [--rebuild]``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
from filelock import FileLock

from analysis.core import jobs
from analysis.core.errors import InputError
from analysis.core.files import data_home
from analysis.data import datasets, importers

DEMO_NAME = "demo-digits"
SYNTHETIC_NOTE = (
    "Synthetic data: scenes composed from real handwritten MNIST digits on cluttered backgrounds, "
    "with known annotation errors injected into the ground truth and predictions from a small "
    "detector trained here on CPU. Use it to try the dashboard; load your own data for real decisions."
)


def is_ready(name: str = DEMO_NAME) -> bool:
    """Whether the demo dataset exists (imports are atomic, so existing means complete)."""
    return name in datasets.list_datasets()


#: The demo's sizes: ``small`` is the app's default (the first useful dataset, fast), ``full`` the larger one
#: (the label-error benchmarks' ``demo`` case), ``fast`` a seconds-scale variant for tests.
SIZES = ("small", "full", "fast")
#: The background job that builds the demo (one per dataset name; see :mod:`analysis.core.jobs`).
JOB_PREFIX = "demo-build-"


def case_params(size: str) -> dict:
    """:func:`analysis.demo.case.build_case` arguments of a demo size (see :data:`SIZES`)."""
    from analysis.demo.case import BENCHMARK_CASES, FAST_CASE, SMALL_CASE

    if size not in SIZES:
        raise InputError(f"Unknown demo size {size!r}: choose one of {', '.join(SIZES)}.")
    return {"small": SMALL_CASE, "full": BENCHMARK_CASES["demo"], "fast": FAST_CASE}[size]


def ensure_demo(progress=None, *, size: str = "small", rebuild: bool = False, name: str = DEMO_NAME):
    """Return the demo dataset, building it first if needed.

    A build writes the case files under ``data_home()/demo/<size>`` and
    imports them; a build that was killed part way resumes after its last
    finished stage (scenes, detector). A file lock makes concurrent callers
    wait for one build instead of doing two. ``progress(fraction, message)``
    reports the stages. The app runs this as a background job
    (:func:`start_build`), so that it survives a closed tab.
    """
    from analysis.demo.case import build_case

    params = case_params(size)
    with FileLock(str(data_home() / "demo.lock")):
        if is_ready(name) and not rebuild:
            return datasets.load(name)
        case_dir = data_home() / "demo" / size
        if rebuild or not (case_dir / "case.json").is_file():
            build_case(case_dir, **params, progress=(lambda f, m: progress(0.85 * f, m)) if progress else None)
        import_case(name, case_dir, if_exists="overwrite",
                    progress=(lambda f, m: progress(0.85 + 0.15 * f, m)) if progress else None)
        ds = datasets.load(name)
        ds.info["demo_size"] = size
        ds.save()
        return ds


def build_demo(progress=None, *, size: str = "small", rebuild: bool = False, name: str = DEMO_NAME) -> dict:
    """:func:`ensure_demo` as a job: returns ``{"dataset", "size", "images", "map50"}`` (JSON-able)."""
    ds = ensure_demo(progress, size=size, rebuild=rebuild, name=name)
    return {"dataset": ds.name, "size": size, "images": len(ds), "map50": ds.info["demo"]["map50"]}


def start_build(size: str | None = None, *, rebuild: bool = False, name: str = DEMO_NAME):
    """Start building the demo in the background, once (other sessions see the same job); returns its status.

    ``size`` defaults to ``LABELDASH_DEMO_SIZE`` or ``small``.
    """
    size = size or os.environ.get("LABELDASH_DEMO_SIZE") or "small"
    case_params(size)  # an unknown size is refused here, not in the worker
    key = JOB_PREFIX + name
    state = jobs.status(key).state
    # an interrupted build resumes (after its last finished stage); a failed one waits for rebuild=True
    if state == "interrupted" or (state != "running" and (rebuild or (state == "done" and not is_ready(name)))):
        jobs.forget(key)
    return jobs.start(key, "analysis.demo.dataset:build_demo", size=size, rebuild=rebuild, name=name)


def build_status(name: str = DEMO_NAME):
    """The demo build job's :class:`~analysis.core.jobs.JobStatus`."""
    return jobs.status(JOB_PREFIX + name)


def import_case(name: str, case_dir: str | Path, *, if_exists: str = "error", progress=None):
    """Import a built case folder (see :func:`analysis.demo.case.build_case`) as dataset ``name``.

    Adds the clean truth and marks every injected error on the labels, so the
    error ranking can be measured against them in FiftyOne too.
    """
    case_dir = Path(case_dir)
    info = json.loads((case_dir / "case.json").read_text())
    instances, results, notes = importers.check_coco_files(
        case_dir / "images", case_dir / "gt_noisy.json", case_dir / "predictions.json")
    clean = json.loads((case_dir / "gt_clean.json").read_text())
    errors = pd.read_csv(case_dir / "injected_errors.csv")

    def build(tmp):
        import fiftyone.utils.coco as fouc

        importers.add_coco(tmp, case_dir / "images", instances, results, progress=progress)
        if progress:
            progress(0.9, "Recording the injected errors")
        fouc.add_coco_labels(tmp, datasets.CLEAN_FIELD, clean["annotations"], clean["categories"],
                             coco_id_field="coco_id", include_annotation_id=True)
        noisy_type = errors.dropna(subset=["ann_id"]).set_index(errors["ann_id"].dropna().astype(int))["error_type"]
        missing = set(errors.loc[errors["error_type"] == "missing", "true_ann_id"].astype(int))
        _mark(tmp, datasets.GT_FIELD, noisy_type.to_dict())
        _mark(tmp, datasets.CLEAN_FIELD, dict.fromkeys(missing, "missing"))
        tmp.info["demo"] = info
        tmp.info["synthetic_note"] = SYNTHETIC_NOTE
        tmp.save()
        return notes

    return datasets.publish(name, build, if_exists, progress)


def _mark(dataset, field: str, error_by_ann_id: dict) -> None:
    """Set ``injected_error`` on the detections of ``field`` from their ``coco_id``."""
    ann_ids = dataset.values(f"{field}.detections.coco_id")
    marks = [[error_by_ann_id.get(a) for a in (ids or [])] for ids in ann_ids]
    dataset.set_values(f"{field}.detections.injected_error", marks)
