"""FiftyOne adapter of the label-error engine (:mod:`analysis.label_errors.engine`).

:func:`find_label_errors` reads a ground-truth and a prediction
``Detections`` field in bulk (``values()``), runs
:func:`~analysis.label_errors.engine.find_detection_errors` and writes the results
back onto the labels (``set_values()``), so candidates can be filtered in the
FiftyOne App:

* on GT detections: ``error_type`` (``low_iou``, ``wrong_class``,
  ``spurious``, ``duplicate``), ``error_score`` in [0, 1], ``error_iou`` (the
  evidence IoU) and ``error_match_id`` (the id of the supporting prediction,
  or of the other box of a duplicate pair);
* on predicted detections: ``error_type = "missing"``, ``error_score``,
  ``error_iou`` (IoU with the most overlapping GT box).

A label with several candidate types carries its highest-scoring one; the
full table is returned. Each call first deletes these fields from the whole
dataset, so a re-run (also on another view) replaces the previous results
cleanly, and records a FiftyOne run (``dataset.list_runs()``) under
``run_key`` with the fields, parameters and counts.

FiftyOne boxes are relative ``[x, y, w, h]`` in [0, 1]. IoU does not change
when x and y are scaled by different factors, so the engine runs on relative
boxes; the returned table gives them in pixels where image sizes are known
(``metadata``; computed when missing and the image files are readable).

Command line: ``python -m analysis.label_errors_fo --dataset NAME [--gt-field F]
[--pred-field F] [--min-score S]`` prints as JSON the labels flagged per type
(``by_type``, what the labels carry) and the candidate rows per type
(``candidates_by_type``: a label may be a candidate of several types).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Callable

import numpy as np
import pandas as pd

from analysis.data import fo_store
from analysis.data.detections import check_detections_field, flatten, read_detections_with_layout, without_area
from analysis.label_errors.engine import find_detection_errors
from analysis.label_errors.params import ERROR_TYPES, LabelErrorInputError
from analysis.label_errors.trust import expected_precision

RUN_KEY = "label_errors"
#: Per-label fields written by :func:`find_label_errors`.
LABEL_FIELDS = ("error_type", "error_score", "error_iou", "error_match_id")


def find_label_errors(samples, gt_field: str = "ground_truth", pred_field: str = "predictions", *,
                      run_key: str = RUN_KEY, crop_classifier: bool = False,
                      progress: Callable[[float, str], None] | None = None, **params) -> pd.DataFrame:
    """Find label errors in a FiftyOne dataset or view and write them onto its labels.

    Args:
        samples: a ``fiftyone`` Dataset or DatasetView.
        gt_field: the ground-truth ``Detections`` field; a detection attribute
            ``iscrowd`` or ``ignore`` that is truthy marks a region that never
            raises alarms.
        pred_field: the predicted ``Detections`` field; every detection needs
            a ``confidence``. When every detection also has ``logits`` (one per
            class of ``samples.classes[pred_field]``, or of ``default_classes``),
            their softmax is the engine's ``pred_probs``.
        run_key: the key of the FiftyOne run recorded on the dataset.
        crop_classifier: also judge every box by a CNN of its image crop
            trained out of fold on the labels
            (:func:`analysis.label_errors.crop_classifier.crop_opinion`, the engine's
            ``opinion``): its class, whether an object is there and where;
            helps where the detector confuses classes or places boxes
            loosely. Trains three small models, reading the images twice
            (1-3 minutes for 2,000 boxes on 2 cores).
        progress: ``progress(fraction, message)`` is called while the crop
            classifier reads images, trains and judges (the rest takes
            seconds).
        **params: engine thresholds (see :class:`analysis.label_errors.engine.Params`).

    Boxes with no area (w or h <= 0, or not finite) are left out of the ranking, as no overlap with
    them exists; ``attrs["skipped_without_area"]`` of the result and the recorded run count them.

    Returns:
        The candidate table of :func:`~analysis.label_errors.engine.find_detection_errors`
        with ``image_id`` = sample id and ``ann_id`` / ``pred_id`` /
        ``other_ann_id`` = label ids; ``x, y, w, h`` and ``pred_*`` in pixels
        where the image size is known (NaN otherwise), plus ``filepath``.

    Raises:
        LabelErrorInputError: missing or non-Detections fields, predictions
            without confidence, bad parameters.
        InputError: with ``crop_classifier``, images that cannot be read.
    """
    check_detections_field(samples, gt_field, "ground-truth", LabelErrorInputError)
    check_detections_field(samples, pred_field, "prediction", LabelErrorInputError)
    if len(samples) == 0:
        raise LabelErrorInputError("The dataset (or view) has no samples: there is nothing to check.")
    gt, gt_layout = read_detections_with_layout(samples, gt_field, ["iscrowd", "ignore"])
    # logits may be declared or not (set_values leaves attributes undeclared): read them either way
    pred, pred_layout = read_detections_with_layout(samples, pred_field, ["confidence", "logits"])
    if len(pred) == 0:
        raise LabelErrorInputError(
            f"'{pred_field}' holds no predictions on these {len(samples)} samples: without a model's boxes every "
            "labelled box would look spurious. Choose the field with the model's predictions, or add them.")
    missing_conf = pred["confidence"].isna()
    if missing_conf.any():
        raise LabelErrorInputError(
            f"{int(missing_conf.sum())} detections in '{pred_field}' have no confidence: "
            "predictions need scores to rank errors."
        )
    # boxes with no area are left out (no overlap with them exists) and counted: the run says how many
    no_area = {"ground truth": without_area(gt), "predictions": without_area(pred)}
    gt = gt[~no_area["ground truth"]].reset_index(drop=True)
    pred = pred[~no_area["predictions"]].reset_index(drop=True)
    gt = gt.rename(columns={"label_id": "ann_id"})
    pred = pred.rename(columns={"label_id": "pred_id", "confidence": "score"}).astype({"score": np.float64})
    pred_probs = _class_probs(samples, pred_field, pred.pop("logits"))
    opinion = _crop_opinion(samples, gt, pred, progress) if crop_classifier else None
    result = find_detection_errors(gt, pred, pred_probs=pred_probs, opinion=opinion, **params)
    result.attrs["skipped_without_area"] = {f: int(m.sum()) for f, m in no_area.items()}
    if opinion is not None:  # recorded with the run: how good the second opinion was
        result.attrs["params"]["crop_classifier"] = dict(opinion.attrs)

    # the last run's fields too: its flags must not outlive it when this run compares other fields
    last = last_run(fo_store.dataset_of(samples), run_key) or {}
    _clear(fo_store.dataset_of(samples), [f for f in dict.fromkeys([gt_field, pred_field, last.get("gt_field"),
                                                         last.get("pred_field")]) if f])
    # a label with several candidates carries its strongest (the table is sorted by score)
    on_gt = result.dropna(subset=["ann_id"]).drop_duplicates("ann_id")
    match = on_gt["pred_id"].where(on_gt["error_type"] != "duplicate", on_gt["other_ann_id"])
    missing = result[result["error_type"] == "missing"]
    _write(samples, [
        (gt_field, gt_layout, on_gt["ann_id"], {
            "error_type": on_gt["error_type"].astype(object), "error_score": on_gt["score"],
            "error_iou": on_gt["iou"], "error_match_id": match.astype(object)}),
        (pred_field, pred_layout, missing["pred_id"], {
            "error_type": missing["error_type"].astype(object), "error_score": missing["score"],
            "error_iou": missing["iou"], "error_match_id": missing["ann_id"].astype(object)})])
    # what the labels now carry, per type (a label that is a candidate of several types counts once)
    result.attrs["flagged"] = {t: int(n) for t, n in pd.concat([on_gt, missing])["error_type"].value_counts().items()
                               if n}
    _record_run(samples, run_key, gt_field, pred_field, result)
    return _add_pixels(samples, result)


def _class_probs(samples, pred_field: str, logits: pd.Series) -> pd.DataFrame | None:
    """Softmax of the predictions' ``logits``, one column per class of ``samples.classes[pred_field]``.

    None unless every prediction has logits (then the scores alone are used).
    """
    if not len(logits) or logits.isna().any():
        return None
    names = samples.classes.get(pred_field) or samples.default_classes
    z = np.asarray(logits.tolist(), dtype=np.float64) if len(set(map(len, logits))) == 1 else None
    if not names or z is None or z.shape[1] != len(names):
        raise LabelErrorInputError(
            f"The logits of '{pred_field}' need one value per class of dataset.classes['{pred_field}'] "
            f"({len(names or [])} classes set).")
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return pd.DataFrame(z / z.sum(axis=1, keepdims=True), columns=list(names))


def _clear(dataset, fields) -> None:
    """Unset the per-label error fields wherever a previous run wrote them (one update per field).

    Only the samples holding flagged labels are touched, and the fields stay
    declared (deleting and re-declaring them reloads the schema, which took
    longer than the whole write).
    """
    from pymongo import UpdateMany

    fo_store.bulk_write(dataset, [
        UpdateMany({"$or": [{f"{f}.detections.{name}": {"$exists": True}} for name in LABEL_FIELDS]},
                   {"$unset": {f"{f}.detections.$[].{name}": "" for name in LABEL_FIELDS},
                    "$set": {"last_modified_at": fo_store.now()}})
        for f in fields])


def _python(value):
    """A JSON/BSON-friendly scalar (numpy scalars unwrapped, NaN / NA as None)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _write(samples, writes) -> None:
    """For each ``(field, layout, label_ids, columns)`` of ``writes``, set ``field.detections.<name>`` of the
    labels ``label_ids`` to ``columns[name]`` (``layout``: the sample ids and their label ids, from :func:`~analysis.data.detections.read_detections_with_layout`).

    FiftyOne's ``set_values`` / ``set_label_values`` issue one database update
    per label and per attribute, which dominates the run time on large
    datasets; here each sample holding flagged labels gets ONE update that
    sets every attribute of all its flagged labels in every field (array
    filters on the label ids), sent in bulk through FiftyOne's own bulk
    writer, which also reloads samples held in memory. The fields are declared
    in the schema (once) so the App can filter on them. ``_clear`` has reset
    all other labels.
    """
    import fiftyone as fo
    from bson import ObjectId
    from pymongo import UpdateOne

    dataset = fo_store.dataset_of(samples)
    schema = dataset.get_field_schema(flat=True)
    now = fo_store.now()
    updates, filters = {}, {}  # per sample id: the $set document, the array filters
    for f, (field, layout, label_ids, columns) in enumerate(writes):
        for name, col in columns.items():
            path = f"{field}.detections.{name}"
            if path not in schema:
                dataset.add_sample_field(path, fo.FloatField if col.dtype.kind == "f" else fo.StringField)
        pos = {lid: k for k, lid in enumerate(label_ids)}
        values = {name: [_python(v) for v in col.to_numpy(dtype=object)] for name, col in columns.items()}
        for sid, ids in zip(*layout):
            hits = [(j, pos[lid]) for j, lid in enumerate(ids or []) if lid in pos]
            if not hits:
                continue
            update = updates.setdefault(sid, {"last_modified_at": now})
            for j, k in hits:
                update.update({f"{field}.detections.$[f{f}l{j}].{name}": v[k] for name, v in values.items()
                               if v[k] is not None})
            filters.setdefault(sid, []).extend({f"f{f}l{j}._id": ObjectId(ids[j])} for j, _ in hits)
    if updates:
        fo_store.bulk_write(dataset, [UpdateOne({"_id": ObjectId(sid)}, {"$set": update}, array_filters=filters[sid])
                             for sid, update in updates.items()], list(updates))


def _record_run(samples, run_key, gt_field, pred_field, result) -> None:
    """Record the run (fields, parameters, counts, time) with FiftyOne's custom runs API."""
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in result.attrs["params"].items()}
    counts = {t: int((result["error_type"] == t).sum()) for t in ERROR_TYPES}
    config = samples.init_run(method="label_errors", gt_field=gt_field, pred_field=pred_field,
                              label_fields=list(LABEL_FIELDS), params=params,
                              skipped_without_area=result.attrs["skipped_without_area"])
    samples.register_run(run_key, config, overwrite=True)
    results = samples.init_run_results(run_key, counts=counts, n_candidates=len(result),
                                       flagged=result.attrs["flagged"],
                                       finished_at=dt.datetime.now(dt.timezone.utc).isoformat())
    samples.save_run_results(run_key, results, overwrite=True)


def _crop_opinion(samples, gt: pd.DataFrame, pred: pd.DataFrame, progress=None):
    """The crop classifier's out-of-fold opinion on the boxes ``gt`` and ``pred`` (relative boxes)."""
    from analysis.label_errors.crop_classifier import crop_opinion

    ids, paths = samples.values(["id", "filepath"])
    return crop_opinion(gt, dict(zip(ids, paths)), pred, relative=True, progress=progress)


def _add_pixels(samples, result: pd.DataFrame) -> pd.DataFrame:
    """Scale relative boxes to pixels with ``metadata`` (computed if missing) and add ``filepath``."""
    if samples.count("metadata.width") < len(samples):
        try:
            samples.compute_metadata(skip_failures=True)
        except Exception:  # noqa: BLE001 - unreadable images only leave the pixel boxes unknown
            pass
    ids, paths, widths, heights = samples.values(["id", "filepath", "metadata.width", "metadata.height"])
    info = pd.DataFrame({"filepath": paths, "W": pd.array(widths, dtype="Float64"),
                         "H": pd.array(heights, dtype="Float64")}, index=pd.Index(ids, name="image_id"))
    info = info.reindex(result["image_id"].to_numpy())
    W, H = info["W"].to_numpy(np.float64, na_value=np.nan), info["H"].to_numpy(np.float64, na_value=np.nan)
    out = result.copy()
    for prefix in ("", "pred_"):
        for k, scale in (("x", W), ("y", H), ("w", W), ("h", H)):
            out[prefix + k] = out[prefix + k].to_numpy(np.float64) * scale
    out["filepath"] = info["filepath"].to_numpy()
    out.attrs = result.attrs
    return out


def last_run(dataset, run_key: str = RUN_KEY) -> dict | None:
    """The recorded run under ``run_key``: ``{"gt_field", "pred_field", "finished_at", "min_score",
    "skipped_without_area"}`` (``finished_at`` a UTC ``datetime``, ``min_score`` the lowest score kept,
    ``skipped_without_area`` the boxes left out for having no area: ``{"ground truth": n, "predictions": n}``),
    or None when there is none."""
    if run_key not in dataset.list_runs():
        return None
    info = dataset.get_run_info(run_key)
    return {"gt_field": info.config.gt_field, "pred_field": info.config.pred_field, "finished_at": info.timestamp,
            "min_score": info.config.params.get("min_score"),
            # runs recorded before the count existed left nothing out silently: they refused such boxes
            "skipped_without_area": getattr(info.config, "skipped_without_area", None) or {}}


def load_candidates(dataset, run_key: str = RUN_KEY) -> pd.DataFrame:
    """Read the candidates written by :func:`find_label_errors` back, in bulk.

    Returns one row per flagged label, sorted by score: ``sample_id,
    filepath, label_field, label_id, label, error_type, error_score,
    error_iou, error_match_id`` and the label's relative box ``x, y, w, h``
    (FiftyOne convention, [0, 1]). Empty (with these columns) when no run
    has been recorded under ``run_key``.
    """
    columns = ["sample_id", "filepath", "label_field", "label_id", "label", "error_type", "error_score",
               "error_iou", "error_match_id", "x", "y", "w", "h"]
    if run_key not in dataset.list_runs():
        return pd.DataFrame(columns=columns)
    config = dataset.get_run_info(run_key).config
    frames = []
    for field in (config.gt_field, config.pred_field):
        if f"{field}.detections.error_type" not in dataset.get_field_schema(flat=True):
            continue
        names = ["id", "label", "bounding_box", *LABEL_FIELDS]
        from fiftyone import ViewField as F

        # only the flagged labels travel (server-side filter)
        view = dataset.filter_labels(field, F("error_type") != None)  # noqa: E711 (a query expression)
        sample_ids, paths, *nested = view.values(["id", "filepath", *(f"{field}.detections.{n}" for n in names)])
        flat = {}
        for name, values in zip(names, nested):
            flat[name], counts = flatten(values)
        table = pd.DataFrame({
            "sample_id": np.repeat(np.asarray(sample_ids, dtype=object), counts),
            "filepath": np.repeat(np.asarray(paths, dtype=object), counts),
            "label_field": field, "label_id": flat["id"], "label": flat["label"],
            **{n: flat[n] for n in LABEL_FIELDS},
        })
        table[["x", "y", "w", "h"]] = np.asarray(flat["bounding_box"], dtype=np.float64).reshape(-1, 4)
        frames.append(table)
    if not frames:
        return pd.DataFrame(columns=columns)
    out = pd.concat(frames, ignore_index=True)[columns].astype({"error_score": np.float64, "error_iou": np.float64})
    return out.sort_values("error_score", ascending=False, kind="stable").reset_index(drop=True)


def main(argv=None) -> int:
    """CLI: find label errors in a FiftyOne dataset, write them onto its labels, print counts as JSON."""
    parser = argparse.ArgumentParser(prog="python -m analysis.label_errors_fo",
                                     description="Find label errors in a FiftyOne dataset and write them onto "
                                                 "its labels (replacing earlier results).")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--gt-field", default="ground_truth")
    parser.add_argument("--pred-field", default="predictions")
    parser.add_argument("--min-score", type=float, help="drop candidates scoring below this (default: the engine's)")
    parser.add_argument("--crop-classifier", action="store_true",
                        help="also judge each box's class by a classifier of its image crop (reads every image)")
    args = parser.parse_args(argv)
    from analysis.core.errors import InputError
    from analysis.data import datasets

    params = {} if args.min_score is None else {"min_score": args.min_score}
    try:
        datasets.connect()
        result = find_label_errors(datasets.load(args.dataset), args.gt_field, args.pred_field,
                                   crop_classifier=args.crop_classifier, **params)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # by_type: what the labels carry (as the App and the page show them); candidates: the rows of the full
    # ranked table, where one label may be a candidate of several types
    flagged = result.attrs["flagged"]
    candidates = {t: int(n) for t, n in result["error_type"].value_counts().items() if n}
    # the precision of each type's top k if the scores are probabilities (an assumption; see trust.py)
    expected = {t: {str(k): round(e, 4) for k, e in zip(g["k"], g["expected"])}
                for t, g in expected_precision(result, score="score").groupby("error_type", sort=False)}
    print(json.dumps({"dataset": args.dataset, "labels_flagged": sum(flagged.values()), "by_type": flagged,
                      "candidates": len(result), "candidates_by_type": candidates,
                      "expected_precision_top_k": expected,
                      "skipped_without_area": result.attrs["skipped_without_area"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
