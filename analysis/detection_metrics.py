"""Detection quality: COCO-style average precision at one IoU threshold, in numpy."""

from __future__ import annotations

import numpy as np

from analysis.scenes import iou_xywh


def average_precision(gt: dict, results: list[dict], iou_threshold: float = 0.5) -> tuple[float, dict]:
    """Mean AP over categories at ``iou_threshold`` (COCO's 101-point interpolation).

    Args:
        gt: COCO instances (``iscrowd`` boxes are ignored: matching one is
            neither a true nor a false positive).
        results: COCO results (``image_id``, ``category_id``, ``bbox``, ``score``).
    Returns:
        ``(mAP, {category_id: AP})`` over the categories that have GT boxes.
    """
    per_class = {}
    gt_by = {}
    for a in gt["annotations"]:
        gt_by.setdefault((a["category_id"], a["image_id"]), []).append(a)
    for cat in sorted({a["category_id"] for a in gt["annotations"] if not a.get("iscrowd", 0)}):
        dets = sorted((r for r in results if r["category_id"] == cat), key=lambda r: -r["score"])
        n_pos = sum(1 for a in gt["annotations"] if a["category_id"] == cat and not a.get("iscrowd", 0))
        used: dict = {}
        tp = np.zeros(len(dets))
        fp = np.zeros(len(dets))
        for k, r in enumerate(dets):
            anns = gt_by.get((cat, r["image_id"]), [])
            if not anns:
                fp[k] = 1
                continue
            ious = iou_xywh(np.array(r["bbox"]), np.array([a["bbox"] for a in anns]))[0]
            crowd = np.array([bool(a.get("iscrowd", 0)) for a in anns])
            taken = used.setdefault(r["image_id"], np.zeros(len(anns), bool))
            free = np.where(~crowd & ~taken, ious, -1)
            j = int(np.argmax(free))
            if free[j] >= iou_threshold:
                taken[j] = True
                tp[k] = 1
            elif not (crowd & (ious >= iou_threshold)).any():
                fp[k] = 1
        ctp, cfp = np.cumsum(tp), np.cumsum(fp)
        recall = ctp / max(n_pos, 1)
        precision = ctp / np.maximum(ctp + cfp, 1e-12)
        # Make precision monotone, then sample it at 101 recall points.
        precision = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
        points = np.linspace(0, 1, 101)
        idx = np.searchsorted(recall, points, side="left")
        per_class[cat] = float(np.mean([precision[i] if i < len(precision) else 0.0 for i in idx]))
    return (float(np.mean(list(per_class.values()))) if per_class else 0.0), per_class
