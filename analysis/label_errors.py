"""Mine label errors in object-detection ground truth from a model's predictions.

Given ground-truth (GT) boxes and a detector's predicted boxes with
confidences, :func:`find_detection_errors` returns a ranked table of error
candidates. Each row has a type, a score in [0, 1] (higher = more likely a
real error), the GT annotation it concerns (if any), the prediction that
supports it (if any) and the evidence (IoU, confidences, classes).

Types
-----
``missing``      a confident prediction that no GT box covers (an object nobody labelled).
``low_iou``      a GT box whose prediction of the same object overlaps it clearly but
                 not well enough (the box is drawn badly).
``wrong_class``  a GT box that a confident prediction of another class covers well.
``spurious``     a GT box that no prediction supports (nothing is there).
``duplicate``    a second GT box of the same class on one object.

How the score is built
----------------------
Every score is a probability-like product of three ingredients, so that the
scores of different types are on one scale and can be ranked together.

1. **Calibrated confidence** ``c``: the probability that a prediction is a real
   object. Raw detector scores are not probabilities (and differ between
   models), so they are recalibrated *on the data itself*: a Platt fit (a
   logistic regression on ``logit(score)``) of "this prediction matches a GT
   box of its class at IoU >= ``match_iou``" against the score. This is what
   makes every threshold adapt to the model: an under-confident detector
   whose correct boxes score 0.3 gets ``c`` near 1 for them. The label noise
   itself (missing boxes make correct predictions look wrong) only lowers
   ``c`` uniformly and does not change the order. Predictions inside crowd
   or ignore regions are left out of the fit.
2. **IoU terms**, smooth ramps instead of hard cut-offs (``ramp(u; lo, hi)`` is
   0 below ``lo``, 1 above ``hi``, linear between):

   * ``same(u) = ramp(u; *same_object_iou)`` -- probability that a prediction
     and a box overlapping at IoU ``u`` are about the same object;
   * ``good(u) = ramp(u; *good_box_iou)`` -- probability that the box agrees
     with the prediction (the box is drawn well). With ``good_box_iou="auto"``
     the ramp is placed from the detector's own localisation accuracy (see
     :func:`auto_good_box_iou`).
3. **Class agreement**: support for a GT box counts only predictions of its
   class; predictions of other classes are evidence for ``wrong_class``.

Evidence is aggregated with a *max* (the strongest single prediction), not a
noisy-OR: many weak, correlated boxes around one object are not independent
evidence. For a GT box ``g`` of class ``k`` (predictions ``p`` with IoU ``u``):

* ``confirmed(g) = max_{p of class k} c_p * good(u)``
* ``low_iou(g) = max_{p of class k whose best GT of class k is g} c_p * same(u) * (1 - good(u))
  * (1 - confirmed(g))`` -- an object is there, the box does not fit it, and
  no prediction confirms the box as drawn;
* ``wrong_class(g) = max_{p of another class} c_p * good(u) * (1 - confirmed(g))``;
* ``spurious(g) = 1 - max_{p, any class} c_p * same(u)`` -- the probability that
  no prediction sees an object there;
* ``duplicate(g) = ramp(IoU(g, h); *duplicate_iou) * (1 - own(g))`` for another
  GT box ``h`` of class ``k``, flagged on the one of the two with the weaker
  *own* support ``own(g) = max_{p whose best GT of class k is g} c_p * good(u)``
  (on a tie, the later annotation): if the detector sees two objects, each box
  has its own prediction and nothing is flagged.

For a prediction ``p``: ``missing(p) = c_p * (1 - max_g same(IoU(p, g)))`` over
GT boxes of any class (a box of another class on the object is a
``wrong_class`` matter, not a missing label), and 0 when ``p`` lies inside a
crowd / ignore region (intersection over the prediction's area >=
``crowd_ioa``). Of several ``missing`` candidates on one spot (IoU >=
``nms_iou``, any class) only the highest-scoring one is kept.

Crowd (``iscrowd``) and ignore boxes are never candidates themselves, do not
count as missing-label coverage targets for calibration, and silence any
prediction inside them.

Boxes are COCO ``[x, y, w, h]`` in any consistent unit (pixels, or fractions
of the image): only IoUs and intersection ratios are used, so scaling all
coordinates changes nothing.

Command line (COCO files in, ranked CSV out)::

    python -m analysis.label_errors --gt GT.json --pred PRED.json --out OUT.csv
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import InputError

ERROR_TYPES = ("missing", "low_iou", "wrong_class", "spurious", "duplicate")
GT_COLUMNS = ("image_id", "ann_id", "category_id", "x", "y", "w", "h")
PRED_COLUMNS = ("image_id", "pred_id", "category_id", "x", "y", "w", "h", "score")
RESULT_COLUMNS = (
    "error_type", "score", "image_id", "ann_id", "pred_id", "x", "y", "w", "h",
    "iou", "pred_score", "pred_conf", "gt_category_id", "pred_category_id", "other_ann_id",
    "pred_x", "pred_y", "pred_w", "pred_h",
)
#: Pairs of boxes are generated in chunks of about this many, which bounds memory.
_PAIR_CHUNK = 4_000_000


class LabelErrorInputError(InputError):
    """The boxes given to the label-error engine are malformed; the message says how."""


@dataclass(frozen=True)
class Params:
    """Thresholds of the engine (all IoU / ratios are unitless, in [0, 1]).

    ``same_object_iou``, ``good_box_iou`` and ``duplicate_iou`` are ``(lo, hi)``
    ramps; ``good_box_iou="auto"`` derives it from the data.
    """

    same_object_iou: tuple = (0.1, 0.3)
    good_box_iou: tuple | str = (0.5, 0.7)
    duplicate_iou: tuple = (0.5, 0.7)
    match_iou: float = 0.5
    crowd_ioa: float = 0.5
    nms_iou: float = 0.5
    min_score: float = 0.1
    calibrate: bool = True

    def __post_init__(self):
        ramps = {"same_object_iou": self.same_object_iou, "duplicate_iou": self.duplicate_iou}
        if self.good_box_iou != "auto":
            ramps["good_box_iou"] = self.good_box_iou
        for name, r in ramps.items():
            if not (isinstance(r, (tuple, list)) and len(r) == 2 and 0 <= r[0] < r[1] <= 1):
                raise LabelErrorInputError(f"{name} must be a pair (lo, hi) with 0 <= lo < hi <= 1, got {r!r}.")
        for name in ("match_iou", "crowd_ioa", "nms_iou", "min_score"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 <= v <= 1):
                raise LabelErrorInputError(f"{name} must be a number in [0, 1], got {v!r}.")


def ramp(u, lo: float, hi: float):
    """0 below ``lo``, 1 above ``hi``, linear between (element-wise)."""
    return np.clip((np.asarray(u, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a[i]`` and ``b[i]`` (both N x 4, xywh, same unit)."""
    inter, area_a, area_b = _intersections(_xyxy(a), _xyxy(b))
    return inter / (area_a + area_b - inter)


def _xyxy(xywh: np.ndarray) -> np.ndarray:
    xywh = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def _intersections(a: np.ndarray, b: np.ndarray):
    """Intersection areas and areas of row-aligned xyxy boxes."""
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter, area_a, area_b


# --------------------------------------------------------------------------- inputs


def _frame(df, columns, what: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise LabelErrorInputError(f"{what} must be a pandas DataFrame, got {type(df).__name__}.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise LabelErrorInputError(f"{what} lacks columns {', '.join(missing)} (needs {', '.join(columns)}).")
    numeric = [c for c in columns if c not in ("image_id", "ann_id", "pred_id")]
    try:
        values = df[numeric].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise LabelErrorInputError(f"{what}: columns {', '.join(numeric)} must be numeric.") from None
    bad = ~np.isfinite(values).all(axis=1) | (df["w"].to_numpy(float) <= 0) | (df["h"].to_numpy(float) <= 0)
    if bad.any():
        raise LabelErrorInputError(
            f"{what}: {int(bad.sum())} rows have missing, infinite or non-positive box values "
            f"(e.g. row {df.index[np.flatnonzero(bad)[0]]!r}); boxes need finite x, y and w, h > 0."
        )
    return df


def _flag(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df.columns:
        return np.zeros(len(df), dtype=bool)
    return df[column].fillna(0).astype(bool).to_numpy()


# --------------------------------------------------------------------------- pairs


def _overlapping_pairs(img_a, box_a, img_b, box_b, *, upper_only=False):
    """All pairs (i, j) with ``img_a[i] == img_b[j]`` whose boxes intersect.

    ``img_a`` and ``img_b`` must be sorted integer codes. The pairs are built
    in chunks with numpy (no per-image loop) and filtered on positive
    intersection, so memory stays bounded by ``_PAIR_CHUNK``. With
    ``upper_only`` (a == b) only pairs i < j are kept. Returns ``ia, ib``
    (pairs sorted by ``ia``) and the intersection / areas of each pair.
    """
    n_img = int(max(img_a.max(initial=-1), img_b.max(initial=-1))) + 1
    nb = np.bincount(img_b, minlength=n_img)
    start_b = np.concatenate([[0], np.cumsum(nb)[:-1]])
    reps = nb[img_a]
    ends = np.cumsum(reps)
    xa, xb = _xyxy(box_a), _xyxy(box_b)
    out = []
    lo = 0
    while lo < len(img_a):
        # the largest block of a-rows whose pairs fit in one chunk (at least one row)
        base = ends[lo - 1] if lo else 0
        hi = max(lo + 1, int(np.searchsorted(ends, base + _PAIR_CHUNK, side="right")))
        r = reps[lo:hi]
        ia = np.repeat(np.arange(lo, hi), r)
        offset = np.arange(len(ia)) - np.repeat(np.cumsum(r) - r, r)
        ib = start_b[img_a[ia]] + offset
        if upper_only:
            keep = ib > ia
            ia, ib = ia[keep], ib[keep]
        inter, area_a, area_b = _intersections(xa[ia], xb[ib])
        keep = inter > 0
        out.append((ia[keep], ib[keep], inter[keep], area_a[keep], area_b[keep]))
        lo = hi
    if not out:
        empty = np.zeros(0)
        return np.zeros(0, np.int64), np.zeros(0, np.int64), empty, empty, empty
    return tuple(np.concatenate(parts) for parts in zip(*out))


def _group_argmax(values: np.ndarray, groups: np.ndarray, n: int):
    """Per group ``0..n-1``: the max of ``values`` and the index reaching it.

    Empty groups get max 0 and index -1. ``groups`` need not be sorted.
    """
    best = np.zeros(n)
    arg = np.full(n, -1, dtype=np.int64)
    if len(values) == 0:
        return best, arg
    order = np.lexsort((-values, groups))  # by group, largest value first
    g = groups[order]
    first = np.r_[True, g[1:] != g[:-1]]
    arg[g[first]] = order[first]
    best[g[first]] = values[order[first]]
    return best, arg


# --------------------------------------------------------------------------- calibration


def calibrate_confidence(scores: np.ndarray, is_match: np.ndarray, prior_n: int = 100) -> np.ndarray:
    """Platt-calibrate detector scores into P(prediction is a real object).

    Fits ``P(match) = sigmoid(a * logit(score) + b)`` by logistic regression on
    the predictions' match outcomes (``is_match``: matched a GT box of its
    class). Scores outside [0, 1] are used as they are instead of their logit.
    The slope is kept non-negative (a higher score never means a lower
    probability). With few predictions the fit is unreliable, so it is shrunk
    toward the detector's own (clipped) score with weight ``n / (n +
    prior_n)``; with only one outcome present the clipped score is returned.
    """
    scores = np.asarray(scores, dtype=np.float64)
    is_match = np.asarray(is_match, dtype=bool)
    if len(scores) == 0:
        return scores
    if is_match.all() or not is_match.any():
        return np.clip(scores, 0, 1)
    in_unit = scores.min() >= 0 and scores.max() <= 1
    z = np.log(np.clip(scores, 1e-6, 1 - 1e-6) / np.clip(1 - scores, 1e-6, 1)) if in_unit else scores
    from sklearn.linear_model import LogisticRegression

    # A fixed-size subsample keeps the fit fast on millions of boxes; two
    # parameters need far fewer points than that.
    fit_idx = np.random.default_rng(0).permutation(len(z))[:200_000]
    model = LogisticRegression(C=1e4).fit(z[fit_idx, None], is_match[fit_idx])
    a, b = float(model.coef_[0, 0]), float(model.intercept_[0])
    fitted = np.full(len(z), is_match.mean()) if a <= 0 else 1.0 / (1.0 + np.exp(-(a * z + b)))
    w = len(z) / (len(z) + prior_n)
    return w * fitted + (1 - w) * np.clip(scores, 0, 1)


def auto_good_box_iou(best_iou: np.ndarray, conf: np.ndarray) -> tuple[float, float]:
    """Place the ``good_box_iou`` ramp from the detector's localisation accuracy.

    ``best_iou`` is each GT box's IoU with its best same-class prediction and
    ``conf`` that prediction's calibrated confidence. Among confident (c >=
    0.5), clearly matching (IoU >= 0.5) pairs -- mostly well-drawn boxes -- the
    localisation error ``e = 1 - IoU`` has median ``m`` and median absolute
    deviation ``s``. The ramp runs from ``1 - (m + 6s)`` (0: far outside what
    this detector does on good boxes) to ``1 - (m + 2s)`` (1), bounded to
    [0.3, 0.9]. Falls back to (0.5, 0.7) with fewer than 20 such pairs.
    """
    e = 1 - best_iou[(conf >= 0.5) & (best_iou >= 0.5)]
    if len(e) < 20:
        return (0.5, 0.7)
    m = float(np.median(e))
    s = max(float(np.median(np.abs(e - m))) * 1.4826, 0.02)
    hi = float(np.clip(1 - (m + 2 * s), 0.35, 0.9))
    lo = float(np.clip(1 - (m + 6 * s), 0.3, hi - 0.05))
    return (lo, hi)


# --------------------------------------------------------------------------- engine


def find_detection_errors(gt: pd.DataFrame, pred: pd.DataFrame, **params) -> pd.DataFrame:
    """Rank label-error candidates of detection ground truth (see the module docstring).

    Args:
        gt: one row per GT box: ``image_id, ann_id, category_id, x, y, w, h``
            (COCO xywh, any unit consistent with ``pred``), optional boolean
            ``iscrowd`` and ``ignore`` (regions: never flagged, and they
            silence predictions inside them).
        pred: one row per predicted box: ``image_id, pred_id, category_id, x,
            y, w, h, score`` (score: detector confidence, higher = surer).
        **params: thresholds, see :class:`Params` (e.g. ``min_score=0.1``,
            ``good_box_iou="auto"``).

    Returns:
        DataFrame with columns :data:`RESULT_COLUMNS`, one row per candidate
        with ``score >= min_score``, sorted by score (descending). ``x, y, w,
        h`` is the GT box (the predicted box for ``missing``); ``iou`` the
        evidence IoU (GT-prediction; GT-GT for ``duplicate``); ``pred_score``
        the raw and ``pred_conf`` the calibrated confidence of the supporting
        prediction; ``other_ann_id`` the other box of a duplicate pair.
        ``attrs["params"]`` holds the parameters used (with the resolved
        ``good_box_iou``).

    Raises:
        LabelErrorInputError: missing columns, non-numeric or invalid boxes,
            unknown parameters.
    """
    unknown = set(params) - set(Params.__dataclass_fields__)
    if unknown:
        raise LabelErrorInputError(
            f"Unknown parameter(s) {', '.join(sorted(unknown))}; known: {', '.join(Params.__dataclass_fields__)}."
        )
    p = Params(**params)
    gt = _frame(gt, GT_COLUMNS, "Ground truth")
    pred = _frame(pred, PRED_COLUMNS, "Predictions")

    # Integer image codes shared by both tables; rows sorted by them so that
    # the same-image pairs can be generated block-wise.
    codes, _ = pd.factorize(pd.concat([gt["image_id"], pred["image_id"]], ignore_index=True))
    g_img_all, p_img_all = codes[: len(gt)], codes[len(gt):]
    g_order = np.argsort(g_img_all, kind="stable")
    p_order = np.argsort(p_img_all, kind="stable")
    g_img, p_img = g_img_all[g_order], p_img_all[p_order]
    g_box = gt[["x", "y", "w", "h"]].to_numpy(np.float64)[g_order]
    p_box = pred[["x", "y", "w", "h"]].to_numpy(np.float64)[p_order]
    g_cat = gt["category_id"].to_numpy()[g_order]
    p_cat = pred["category_id"].to_numpy()[p_order]
    p_raw = pred["score"].to_numpy(np.float64)[p_order]
    region = (_flag(gt, "iscrowd") | _flag(gt, "ignore"))[g_order]
    n_g, n_p = len(gt), len(pred)

    gi, pi, inter, g_area, p_area = _overlapping_pairs(g_img, g_box, p_img, p_box)
    iou = inter / (g_area + p_area - inter)
    same_cls = g_cat[gi] == p_cat[pi]
    in_region = region[gi]
    real = ~in_region

    # Calibration outcome: the prediction matches a real GT box of its class.
    _, best_same = _group_argmax(np.where(same_cls & real, iou, -1.0), pi, n_p)
    matched = np.zeros(n_p, dtype=bool)
    ok = best_same >= 0
    matched[ok] = iou[best_same[ok]] >= p.match_iou
    silenced = np.zeros(n_p, dtype=bool)  # inside a crowd / ignore region
    silenced[pi[in_region & (inter / p_area >= p.crowd_ioa)]] = True
    fit = ~silenced
    conf = np.zeros(n_p)
    if p.calibrate:
        conf[fit] = calibrate_confidence(p_raw[fit], matched[fit])
        conf[~fit] = 0.0
    else:
        conf = np.clip(p_raw, 0, 1)
    c = conf[pi]

    same = ramp(iou, *p.same_object_iou)
    sel = same_cls & real
    if p.good_box_iou == "auto":
        best_iou_g, arg = _group_argmax(np.where(sel, iou, -1.0), gi, n_g)
        has = arg >= 0
        good_ramp = auto_good_box_iou(best_iou_g[has], c[arg[has]])
    else:
        good_ramp = tuple(p.good_box_iou)
    good = ramp(iou, *good_ramp)

    # "own" predictions of a GT box: those whose best real same-class GT it is
    own = np.zeros(len(gi), dtype=bool)
    own[best_same[best_same >= 0]] = True

    confirmed, _ = _group_argmax(np.where(sel, c * good, 0.0), gi, n_g)
    own_support, _ = _group_argmax(np.where(sel & own, c * good, 0.0), gi, n_g)
    mid, mid_arg = _group_argmax(np.where(sel & own, c * same * (1 - good), 0.0), gi, n_g)
    other, other_arg = _group_argmax(np.where(~same_cls & real, c * good, 0.0), gi, n_g)
    seen, seen_arg = _group_argmax(np.where(real, c * same, 0.0), gi, n_g)

    frames = []
    gt_rows = np.flatnonzero(~region)
    for kind, score, arg in (
        ("low_iou", mid * (1 - confirmed), mid_arg),
        ("wrong_class", other * (1 - confirmed), other_arg),
        ("spurious", 1 - seen, seen_arg),
    ):
        rows = gt_rows[score[gt_rows] >= p.min_score]
        frames.append(_gt_candidates(kind, score[rows], rows, arg[rows], gi, pi, iou))

    frames.append(_duplicates(g_img, g_box, g_cat, region, own_support, p))
    frames.append(_missing(pi, iou, real, same, silenced, conf, p_img, p_box, p))

    out = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else None
    result = _assemble(out, gt, pred, g_order, p_order, g_box, p_box, g_cat, p_cat, p_raw, conf)
    result.attrs["params"] = {**p.__dict__, "good_box_iou": tuple(good_ramp)}
    return result


def _gt_candidates(kind, score, rows, arg, gi, pi, iou) -> pd.DataFrame:
    """Candidate rows about GT boxes ``rows`` (sorted positions), evidence pair ``arg``."""
    return pd.DataFrame({"error_type": kind, "score": score, "g": rows, "p": _take(pi, arg, -1),
                         "iou": _take(iou, arg, np.nan), "other_g": -1})


def _duplicates(g_img, g_box, g_cat, region, own_support, p: Params) -> pd.DataFrame:
    """Same-class GT pairs overlapping like one object; flag the weaker-supported box."""
    a, b, inter, area_a, area_b = _overlapping_pairs(g_img, g_box, g_img, g_box, upper_only=True)
    keep = (g_cat[a] == g_cat[b]) & ~region[a] & ~region[b]
    a, b = a[keep], b[keep]
    iou = inter[keep] / (area_a[keep] + area_b[keep] - inter[keep])
    # b > a: b is the later row within the image; on a tie it is the one flagged
    flag_a = own_support[a] < own_support[b]
    flagged = np.where(flag_a, a, b)
    partner = np.where(flag_a, b, a)
    score = ramp(iou, *p.duplicate_iou) * (1 - own_support[flagged])
    best, arg = _group_argmax(score, flagged, len(g_img))
    rows = np.flatnonzero(best >= p.min_score)
    rows = rows[best[rows] > 0]
    return pd.DataFrame({
        "error_type": "duplicate", "score": best[rows], "g": rows, "p": -1,
        "iou": iou[arg[rows]], "other_g": partner[arg[rows]],
    })


def _missing(pi, iou, real, same, silenced, conf, p_img, p_box, p: Params) -> pd.DataFrame:
    """Confident predictions no real GT box covers, one per spot (vectorised NMS)."""
    n_p = len(conf)
    covered, _ = _group_argmax(np.where(real, same, 0.0), pi, n_p)
    nearest, _ = _group_argmax(np.where(real, iou, 0.0), pi, n_p)
    score = np.where(silenced, 0.0, conf * (1 - covered))
    cand = np.flatnonzero(score >= p.min_score)
    cand = cand[score[cand] > 0]
    # a candidate is dropped if a higher-scoring candidate covers the same spot
    a, b, inter, area_a, area_b = _overlapping_pairs(p_img[cand], p_box[cand], p_img[cand], p_box[cand],
                                                     upper_only=True)
    overlap = inter / (area_a + area_b - inter) >= p.nms_iou
    a, b = a[overlap], b[overlap]
    sa, sb = score[cand[a]], score[cand[b]]
    loser = np.where((sa > sb) | ((sa == sb) & (cand[a] < cand[b])), b, a)
    keep = np.ones(len(cand), dtype=bool)
    keep[loser] = False
    cand = cand[keep]
    # evidence: IoU with the most overlapping real GT box (0 when none touches it)
    return pd.DataFrame({"error_type": "missing", "score": score[cand], "g": -1, "p": cand,
                         "iou": nearest[cand], "other_g": -1})


def _take(values: np.ndarray, idx: np.ndarray, fill=None) -> np.ndarray:
    """``values[idx]`` where ``idx >= 0`` and ``fill`` where ``idx == -1`` (object array for None)."""
    out = np.full(len(idx), fill, dtype=object if fill is None else np.asarray(fill).dtype)
    has = idx >= 0
    if has.any():
        out[has] = values[idx[has]]
    return out


def _assemble(out, gt, pred, g_order, p_order, g_box, p_box, g_cat, p_cat, p_raw, conf) -> pd.DataFrame:
    """Turn internal candidate rows (positions in the image-sorted arrays) into the public table."""
    if out is None:
        return pd.DataFrame({c: pd.Series(dtype=object if c.endswith("id") or c == "error_type" else float)
                             for c in RESULT_COLUMNS})
    g, pp, og = (out[k].to_numpy() for k in ("g", "p", "other_g"))
    ann_ids = gt["ann_id"].to_numpy()[g_order]
    img = np.where(g >= 0, _take(gt["image_id"].to_numpy()[g_order], g),
                   _take(pred["image_id"].to_numpy()[p_order], pp))
    box = np.where((g >= 0)[:, None], np.stack([_take(g_box[:, k], g, np.nan) for k in range(4)], 1),
                   np.stack([_take(p_box[:, k], pp, np.nan) for k in range(4)], 1))
    res = pd.DataFrame({
        "error_type": out["error_type"].to_numpy(),
        "score": out["score"].to_numpy(np.float64),
        "image_id": img,
        "ann_id": _take(ann_ids, g),
        "pred_id": _take(pred["pred_id"].to_numpy()[p_order], pp),
        "x": box[:, 0], "y": box[:, 1], "w": box[:, 2], "h": box[:, 3],
        "iou": out["iou"].to_numpy(np.float64),
        "pred_score": _take(p_raw, pp, np.nan),
        "pred_conf": _take(conf, pp, np.nan),
        "gt_category_id": _take(g_cat, g),
        "pred_category_id": _take(p_cat, pp),
        "other_ann_id": _take(ann_ids, og),
        **{f"pred_{k}": _take(p_box[:, i], pp, np.nan) for i, k in enumerate("xywh")},
    })
    return res.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- COCO files and CLI


def coco_to_frames(instances: dict, results: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    """GT and prediction tables for :func:`find_detection_errors` from parsed COCO dicts.

    ``instances`` is COCO instances JSON (``iscrowd`` and an optional
    ``ignore`` flag are kept), ``results`` a COCO results list; both are
    validated with :mod:`analysis.coco` first (raises its ``InputError``).
    Prediction ids are the positions in ``results`` (COCO results have none).
    """
    from analysis import coco

    instances, _ = coco.check_instances(instances)
    results, _ = coco.check_results(results, instances)
    anns = instances["annotations"]
    gt = pd.DataFrame({
        "image_id": [a["image_id"] for a in anns],
        "ann_id": [a.get("id") for a in anns],
        "category_id": [a["category_id"] for a in anns],
        "iscrowd": [bool(a.get("iscrowd", 0)) for a in anns],
        "ignore": [bool(a.get("ignore", 0)) for a in anns],
    })
    gt[["x", "y", "w", "h"]] = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
    if gt["ann_id"].isna().any() or gt["ann_id"].duplicated().any():
        raise LabelErrorInputError("Every ground-truth annotation needs a unique 'id'.")
    pred = pd.DataFrame({
        "image_id": [r["image_id"] for r in results],
        "pred_id": np.arange(len(results)),
        "category_id": [r["category_id"] for r in results],
        "score": np.array([r["score"] for r in results], dtype=np.float64),
    })
    pred[["x", "y", "w", "h"]] = np.array([r["bbox"] for r in results], dtype=np.float64).reshape(-1, 4)
    # boxes clipped to the image edge can collapse to zero size: nothing to compare
    gt = gt[(gt["w"] > 0) & (gt["h"] > 0)]
    pred = pred[(pred["w"] > 0) & (pred["h"] > 0)]
    return gt.reset_index(drop=True), pred.reset_index(drop=True)


def run_files(gt_path, pred_path, **params) -> pd.DataFrame:
    """Load a COCO instances file and a COCO results file and rank their label errors."""
    from analysis.coco import load_json

    instances = load_json(gt_path, "Ground-truth file")
    results = load_json(pred_path, "Predictions file")
    gt, pred = coco_to_frames(instances, results)
    return find_detection_errors(gt, pred, **params)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.label_errors",
        description="Rank likely label errors in COCO ground truth using a model's COCO predictions.",
    )
    parser.add_argument("--gt", required=True, help="COCO instances JSON (the labels to check)")
    parser.add_argument("--pred", required=True, help="COCO results JSON (predictions with scores)")
    parser.add_argument("--out", required=True, help="CSV to write, ranked by score")
    parser.add_argument("--min-score", type=float, default=Params.min_score,
                        help="drop candidates scoring below this (default %(default)s)")
    parser.add_argument("--good-box-iou", default=None,
                        help="'auto' or LO,HI: IoU ramp for a well-drawn box (default 0.5,0.7)")
    args = parser.parse_args(argv)
    params = {"min_score": args.min_score}
    try:
        if args.good_box_iou:
            params["good_box_iou"] = (args.good_box_iou if args.good_box_iou == "auto"
                                      else tuple(float(v) for v in args.good_box_iou.split(",")))
        result = run_files(args.gt, args.pred, **params)
        result.to_csv(args.out, index=False)
    except ValueError as e:  # InputError and malformed --good-box-iou
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write {args.out}: {e.strerror or e}", file=sys.stderr)
        return 2
    counts = result["error_type"].value_counts()
    print(f"{len(result)} candidates written to {args.out} "
          + "(" + ", ".join(f"{t}: {counts.get(t, 0)}" for t in ERROR_TYPES) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
