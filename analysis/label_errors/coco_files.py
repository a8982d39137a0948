"""COCO files in, candidate table out: parsed COCO instances and results become the engine's tables
(validated by :mod:`analysis.data.coco`), and :func:`run_files` ranks a pair of files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.label_errors.engine import find_detection_errors
from analysis.label_errors.params import LabelErrorInputError


def coco_to_frames(instances: dict, results: list, *, skip_invalid: bool = False):
    """GT, prediction and class-probability tables for :func:`find_detection_errors` from parsed COCO dicts.

    ``instances`` is COCO instances JSON (``iscrowd`` and an optional
    ``ignore`` flag are kept), ``results`` a COCO results list; both are
    validated with :mod:`analysis.data.coco` first (raises its ``InputError``;
    ``skip_invalid`` drops bad entries instead), which clips predicted boxes
    that reach past the image edge.
    Prediction ids are the positions in ``results`` (COCO results have none).

    A result may carry ``class_probs``: the detector's class probabilities for
    the box, one per category of ``instances`` in ascending id order. When
    every result has them they come back as ``pred_probs`` (rows as ``pred``,
    one column per category id); otherwise ``pred_probs`` is None.

    Returns:
        ``(gt, pred, pred_probs)``.
    """
    from analysis.data import coco

    instances, _ = coco.check_instances(instances, skip_invalid=skip_invalid)
    results, _ = coco.check_results(results, instances, skip_invalid=skip_invalid)
    anns = instances["annotations"]
    # explicit dtypes: an empty list would otherwise make float columns, and ids like 1.0 in the output
    gt = pd.DataFrame({
        "image_id": pd.Series([a["image_id"] for a in anns], dtype="int64"),
        "ann_id": pd.Series([a.get("id") for a in anns], dtype="Int64"),
        "category_id": pd.Series([a["category_id"] for a in anns], dtype="int64"),
        "iscrowd": pd.Series([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool),
        "ignore": pd.Series([bool(a.get("ignore", 0)) for a in anns], dtype=bool),
    })
    gt[["x", "y", "w", "h"]] = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
    if gt["ann_id"].isna().any() or gt["ann_id"].duplicated().any():
        raise LabelErrorInputError("Every ground-truth annotation needs a unique 'id'.")
    pred = pd.DataFrame({
        "image_id": pd.Series([r["image_id"] for r in results], dtype="int64"),
        "pred_id": np.arange(len(results)),
        "category_id": pd.Series([r["category_id"] for r in results], dtype="int64"),
        "score": np.array([r["score"] for r in results], dtype=np.float64),
    })
    pred[["x", "y", "w", "h"]] = np.array([r["bbox"] for r in results], dtype=np.float64).reshape(-1, 4)
    return gt, pred, class_probs_table(results, sorted(c["id"] for c in instances["categories"]))


def class_probs_table(results: list, category_ids: list) -> pd.DataFrame | None:
    """The results' ``class_probs`` as a table (None when any result lacks them)."""
    if not results or any(r.get("class_probs") is None for r in results):
        return None
    try:
        probs = np.array([r["class_probs"] for r in results], dtype=np.float64)
    except (TypeError, ValueError):
        probs = None
    if probs is None or probs.shape != (len(results), len(category_ids)):
        raise LabelErrorInputError(
            f"Every 'class_probs' must be a list of {len(category_ids)} numbers (one per category, in "
            "ascending category id order).")
    return pd.DataFrame(probs, columns=category_ids)


def run_files(gt_path, pred_path, *, skip_invalid: bool = False, images=None, **params) -> pd.DataFrame:
    """Load a COCO instances file and a COCO results file and rank their label errors.

    With ``images`` (the folder the instances' ``file_name`` are relative to),
    each box is also judged by a CNN of its crop
    (:func:`analysis.label_errors.crop_classifier.crop_opinion`).
    """
    from analysis.data.coco import load_json

    instances = load_json(gt_path, "Ground-truth file")
    results = load_json(pred_path, "Predictions file")
    gt, pred, pred_probs = coco_to_frames(instances, results, skip_invalid=skip_invalid)
    if len(pred) == 0:
        raise LabelErrorInputError(
            f"The predictions file {Path(pred_path).name} holds no predictions for these images: without a "
            "model's boxes every labelled box would look spurious. Run the model on the images and pass its "
            "COCO results.")
    opinion = None
    if images is not None:
        from analysis.label_errors.crop_classifier import crop_opinion

        paths = {im["id"]: Path(images) / im.get("file_name", "") for im in instances.get("images", [])}
        opinion = crop_opinion(gt, paths, pred)
    return find_detection_errors(gt, pred, pred_probs=pred_probs, opinion=opinion, **params)
