"""Reference rankings the label-error benchmark compares against.

Each function takes the engine's GT / prediction tables (pixels, COCO xywh;
see :func:`analysis.label_errors.engine.coco_to_frames`) and returns ``{error_type:
DataFrame}`` with columns ``score`` (higher = more likely an error) and
``ann_id`` (GT-based types) or ``pred_id`` + ``x, y, w, h`` (``missing``),
so that all methods are scored by the same protocol.

* FiftyOne Brain: ``compute_mistakenness`` (which runs ``evaluate_detections``
  at IoU 0.5, class-agnostic): ``missing`` = predictions flagged
  ``possible_missing`` (unmatched, confidence > 0.95) ranked by confidence;
  ``low_iou`` = matched GT ranked by ``mistakenness_loc``; ``wrong_class`` =
  matched GT ranked by ``mistakenness``; ``spurious`` = GT flagged
  ``possible_spurious`` (a flag: all tied). FiftyOne has no duplicate score:
  ``duplicate`` uses ``possible_spurious`` too.
* cleanlab ObjectLab (``cleanlab.object_detection.rank`` subscores, default
  settings; low score = likely issue, so 1 - score is used): ``missing`` =
  overlooked (per predicted box), ``low_iou`` = badloc, ``wrong_class`` =
  swap (per GT box). ObjectLab has no spurious / duplicate subtype:
  ``spurious`` and ``duplicate`` use badloc (a box far from any prediction
  scores as badly located).

When the predictions come with class probabilities (``pred_probs``, one row
per prediction, one column per category id), both anchors get them in their
own input format: FiftyOne Brain as each detection's ``logits`` (log
probabilities; ``use_logits=True``), ObjectLab as one box per class for every
distinct predicted box, scored ``objectness x P(class)`` where objectness is
the prediction's score divided by the probability of its own class (kept down
to the lowest score the detector reported).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _gt_rank(ann_ids, scores) -> pd.DataFrame:
    return pd.DataFrame({"ann_id": ann_ids, "score": np.asarray(scores, dtype=np.float64)})


def brain_rankings(gt: pd.DataFrame, pred: pd.DataFrame, sizes: dict, pred_probs=None) -> dict:
    """Run FiftyOne Brain mistakenness on a temporary dataset built from the tables.

    ``sizes`` maps image id -> (width, height). Images need not exist on disk.
    """
    import fiftyone as fo
    import fiftyone.brain as fob

    import analysis  # noqa: F401  (FiftyOne environment defaults)

    logits = None if pred_probs is None else np.log(np.clip(pred_probs.to_numpy(np.float64), 1e-6, None))
    ds = fo.Dataset()
    try:
        samples = []
        for image_id, (w, h) in sizes.items():
            def dets(table, scored):
                rows = table[table["image_id"] == image_id]
                return fo.Detections(detections=[
                    fo.Detection(label=str(r.category_id),
                                 bounding_box=[r.x / w, r.y / h, r.w / w, r.h / h],
                                 key=int(r.pred_id if scored else r.ann_id),
                                 **({"confidence": float(r.score)} if scored else {}),
                                 **({"logits": logits[r.Index].tolist()} if scored and logits is not None else {}))
                    for r in rows.itertuples()])
            samples.append(fo.Sample(filepath=f"/nonexistent/{image_id}.png",
                                     metadata=fo.ImageMetadata(width=w, height=h),
                                     ground_truth=dets(gt, False), predictions=dets(pred, True)))
        ds.add_samples(samples, progress=False)
        fob.compute_mistakenness(ds, "predictions", label_field="ground_truth", use_logits=logits is not None,
                                 progress=False)
        keys, mist, loc, spur = (sum((v or [] for v in vals), []) for vals in ds.values([
            "ground_truth.detections.key", "ground_truth.detections.mistakenness",
            "ground_truth.detections.mistakenness_loc", "ground_truth.detections.possible_spurious"]))
        pkeys, conf, missing = (sum((v or [] for v in vals), []) for vals in ds.values([
            "predictions.detections.key", "predictions.detections.confidence",
            "predictions.detections.possible_missing"]))
    finally:
        ds.delete()
    keys, mist, loc, spur = np.array(keys), np.array(mist, dtype=float), np.array(loc, dtype=float), np.array(spur)
    matched = ~np.isnan(mist)
    flagged = spur == True  # noqa: E712 (None for matched boxes)
    pflag = np.array(missing) == True  # noqa: E712
    by_id = pred.set_index("pred_id")
    miss_ids = np.array(pkeys)[pflag]
    return {
        "missing": pd.DataFrame({"pred_id": miss_ids, "score": np.array(conf, dtype=float)[pflag],
                                 **{k: by_id.loc[miss_ids, k].to_numpy() for k in "xywh"},
                                 "image_id": by_id.loc[miss_ids, "image_id"].to_numpy()}),
        "low_iou": _gt_rank(keys[matched], loc[matched]),
        "wrong_class": _gt_rank(keys[matched], mist[matched]),
        "spurious": _gt_rank(keys[flagged], np.ones(flagged.sum())),
        "duplicate": _gt_rank(keys[flagged], np.ones(flagged.sum())),
    }


def objectlab_rankings(gt: pd.DataFrame, pred: pd.DataFrame, image_ids, pred_probs=None) -> dict:
    """Run cleanlab ObjectLab's subtype scores (default settings) on the tables."""
    from cleanlab.object_detection import rank

    if pred_probs is not None:
        pred = _per_class_boxes(pred, pred_probs)

    classes = np.sort(pd.unique(pd.concat([gt["category_id"], pred["category_id"]])))
    cls_index = {c: k for k, c in enumerate(classes)}
    gt_by, pred_by = dict(list(gt.groupby("image_id"))), dict(list(pred.groupby("image_id")))
    labels, predictions, gt_order, pred_order = [], [], [], []
    empty = pd.DataFrame(columns=gt.columns)
    for image_id in image_ids:
        g = gt_by.get(image_id, empty)
        labels.append({"bboxes": np.c_[g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"]].astype(float).reshape(-1, 4),
                       "labels": np.array([cls_index[c] for c in g["category_id"]], dtype=int)})
        gt_order.append(g["ann_id"].to_numpy())
        p = pred_by.get(image_id, pred.iloc[:0])
        per_class, ids = [], []
        for c in classes:  # cleanlab concatenates the per-class arrays in class order
            q = p[p["category_id"] == c]
            per_class.append(np.c_[q["x"], q["y"], q["x"] + q["w"], q["y"] + q["h"], q["score"]].astype(float).reshape(-1, 5))
            ids.append(q["pred_id"].to_numpy())
        predictions.append(per_class)
        pred_order.append(np.concatenate(ids))
    overlooked = rank.compute_overlooked_box_scores(labels=labels, predictions=predictions)
    badloc = rank.compute_badloc_box_scores(labels=labels, predictions=predictions)
    swap = rank.compute_swap_box_scores(labels=labels, predictions=predictions)
    ann_ids = np.concatenate(gt_order)
    pred_ids = np.concatenate(pred_order)
    over = np.concatenate(overlooked)
    bad, sw = 1 - np.concatenate(badloc), 1 - np.concatenate(swap)
    keep = ~np.isnan(over)
    by_id = pred.set_index("pred_id")
    miss_ids = pred_ids[keep]
    return {
        "missing": pd.DataFrame({"pred_id": miss_ids, "score": 1 - over[keep],
                                 **{k: by_id.loc[miss_ids, k].to_numpy() for k in "xywh"},
                                 "image_id": by_id.loc[miss_ids, "image_id"].to_numpy()}),
        "low_iou": _gt_rank(ann_ids[~np.isnan(bad)], bad[~np.isnan(bad)]),
        "wrong_class": _gt_rank(ann_ids[~np.isnan(sw)], sw[~np.isnan(sw)]),
        "spurious": _gt_rank(ann_ids[~np.isnan(bad)], bad[~np.isnan(bad)]),
        "duplicate": _gt_rank(ann_ids[~np.isnan(bad)], bad[~np.isnan(bad)]),
    }


def _per_class_boxes(pred: pd.DataFrame, pred_probs: pd.DataFrame) -> pd.DataFrame:
    """One box per class for each distinct predicted box, scored objectness x P(class) (see the module docstring)."""
    probs = pred_probs.to_numpy(np.float64)
    own = probs[np.arange(len(pred)), pred_probs.columns.get_indexer(pred["category_id"])]
    objectness = pred["score"].to_numpy() / np.maximum(own, 1e-6)
    first = ~pred.duplicated(["image_id", "x", "y", "w", "h"]).to_numpy()
    k = len(pred_probs.columns)
    rows = np.repeat(np.flatnonzero(first), k)
    out = pred.iloc[rows][["image_id", "x", "y", "w", "h"]].reset_index(drop=True)
    out["category_id"] = np.tile(pred_probs.columns.to_numpy(), first.sum())
    out["score"] = np.clip(np.repeat(objectness[first], k) * probs[first].ravel(), 0, 1)
    out = out[out["score"] >= pred["score"].min()].reset_index(drop=True)
    out["pred_id"] = np.arange(len(out))
    return out
