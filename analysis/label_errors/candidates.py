"""Turning evidence into ranked candidates: duplicates, missing labels (one per spot), and the
assembly of the result table in the contract's column order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.label_errors.pairs import ClassGroups, Groups, overlapping_pairs
from analysis.label_errors.params import ERROR_TYPES, Params, ramp


def duplicates(g_img, g_box, g_cls, region, label_fit, fit_iou, tie_iou, own_support, ann_rank,
                p: Params) -> dict:
    """Same-class GT pairs overlapping like one object.

    Score: ``ramp(IoU; duplicate_iou) * (1 - own(a) * own(b))`` -- unless each
    box has a prediction of its own (two objects detected), the pair is one
    object. The box flagged is the one the predictions fit worse
    (``label_fit``); when both fit equally (e.g. both well), or their best
    same-class IoUs (``fit_iou``) differ by at most ``tie_iou`` (the
    detector's noise), the later annotation (larger id).
    """
    # only real boxes of one class in one image can be one object twice: pair within those groups
    rows = np.flatnonzero(~region)
    key = g_img[rows].astype(np.int64) * (int(g_cls.max(initial=0)) + 1) + g_cls[rows]
    rows = rows[np.argsort(key, kind="stable")]
    key = np.sort(key)
    group = np.cumsum(np.diff(key, prepend=key[:1]) != 0)
    a, b, iou, _ = overlapping_pairs(group, g_box[rows], group, g_box[rows], upper_only=True)
    a, b = rows[a], rows[b]  # a < b: rows ascend within a group
    by_rows = np.lexsort((b, a))  # ties below go to the first pair in row order
    a, b = a[by_rows], b[by_rows]
    iou = iou[by_rows]
    tie = (label_fit[a] == label_fit[b]) | (np.abs(fit_iou[a] - fit_iou[b]) <= tie_iou)
    flag_a = np.where(tie, ann_rank[a] > ann_rank[b], label_fit[a] < label_fit[b])
    flagged = np.where(flag_a, a, b)
    partner = np.where(flag_a, b, a)
    score = ramp(iou, *p.duplicate_iou) * (1 - own_support[a] * own_support[b])
    best, arg = Groups(flagged, len(g_img)).argmax(score)
    rows = np.flatnonzero((best >= p.min_score) & (arg >= 0))
    return candidates("duplicate", best[rows], g=rows, iou=iou[arg[rows]], other_g=partner[arg[rows]])


def missing_labels(conf, uncovered, nearest, p_cls, p_img, p_box, p: Params) -> dict:
    """``missing`` candidates: P(object at the prediction) x P(no GT box covers it), one per spot.

    Predictions overlapping at IoU >= ``nms_iou`` are one spot; the object
    probability of a spot sums the best confidence of each class there
    (classes are exclusive hypotheses), and only the spot's highest-scoring
    prediction is kept (one vectorised pass: a dropped box still drops others
    it overlaps). Predictions scoring below 1% alone are not considered.
    """
    cand = np.flatnonzero(conf * uncovered >= 0.01)
    a, b, iou, _ = overlapping_pairs(p_img[cand], p_box[cand], p_img[cand], p_box[cand], upper_only=True)
    close = iou >= p.nms_iou
    a, b = a[close], b[close]
    selves = np.arange(len(cand))
    group, member = np.r_[a, b, selves], np.r_[b, a, selves]
    spot = np.minimum(1.0, ClassGroups(group, p_cls[cand[member]], len(cand)).sum_of_max(conf[cand[member]]))
    score = spot * uncovered[cand]
    keep = np.ones(len(cand), dtype=bool)
    keep[np.where(score[a] >= score[b], b, a)] = False
    keep &= (score >= p.min_score) & (score > 0)
    # evidence: IoU with the most overlapping real GT box (0 when none touches it)
    return candidates("missing", score[keep], p=cand[keep], iou=nearest[cand[keep]])


def take(values: np.ndarray, idx: np.ndarray, fill=None):
    """``values[idx]``, with ``fill`` where ``idx == -1``.

    With ``fill=None`` the gaps are missing values: a nullable ``Int64`` array
    for integer ids, NaN for floats, None for anything else.
    """
    has = idx >= 0
    if len(values) == 0:
        values = np.zeros(1, dtype=values.dtype)
    taken = values[np.where(has, idx, 0)]
    if fill is not None:
        return np.where(has, taken, fill)
    if taken.dtype.kind in "iu":
        return pd.arrays.IntegerArray(taken.astype(np.int64), ~has)
    if taken.dtype.kind == "f":
        return np.where(has, taken, np.nan)
    return np.where(has, taken.astype(object), None)


def boxes_at(table: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """``x, y, w, h`` of ``table``'s rows at positions ``rows`` (N x 4, as given), NaN where ``rows == -1``."""
    out = np.full((len(rows), 4), np.nan)
    has = rows >= 0
    for i, column in enumerate("xywh"):
        out[has, i] = table[column].to_numpy(np.float64)[rows[has]]
    return out


def candidates(kind: str, score, g=-1, p=-1, iou=np.nan, other_g=-1) -> dict:
    """Internal candidate columns (positions in the image-sorted arrays, -1 = none)."""
    n = len(score)
    return {"type": np.full(n, ERROR_TYPES.index(kind), dtype=np.int8), "score": np.asarray(score, np.float64),
            **{k: np.broadcast_to(v, n) for k, v in (("g", g), ("p", p), ("iou", iou), ("other_g", other_g))}}


def assemble(frames, gt, pred, images, g_img, p_img, g_order, p_order,
              g_cat, p_cat, p_raw, conf) -> pd.DataFrame:
    """Turn internal candidate columns into the public table, sorted by score."""
    cols = {k: np.concatenate([f[k] for f in frames]) for k in frames[0]}
    order = np.argsort(-cols["score"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    g, pp, og = cols["g"], cols["p"], cols["other_g"]
    on_gt = g >= 0
    # the boxes as given (x + w - x need not give w back in floating point)
    g_xywh, p_xywh = boxes_at(gt, take(g_order, g, -1)), boxes_at(pred, take(p_order, pp, -1))
    ann_ids = gt["ann_id"].to_numpy()[g_order]
    img_code = np.where(on_gt, take(g_img, g, -1), take(p_img, pp, -1))
    return pd.DataFrame({
        "error_type": pd.Categorical.from_codes(cols["type"], categories=list(ERROR_TYPES)),
        "score": cols["score"],
        "image_id": images.take(img_code) if len(img_code) else images[:0],
        "ann_id": take(ann_ids, g),
        # the CLI's contract columns come first, in its order: readers may take them by position
        **{k: np.where(on_gt, g_xywh[:, i], p_xywh[:, i]) for i, k in enumerate("xywh")},
        "pred_id": take(pred["pred_id"].to_numpy()[p_order], pp),
        "iou": cols["iou"],
        "pred_score": take(p_raw, pp, np.nan),
        "pred_conf": take(conf, pp, np.nan),
        "gt_category_id": take(g_cat, g),
        "pred_category_id": take(p_cat, pp),
        "other_ann_id": take(ann_ids, og),
        **{f"pred_{k}": p_xywh[:, i] for i, k in enumerate("xywh")},
    })
