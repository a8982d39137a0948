"""EXPERIMENT (issue 19), not part of the library: a label-error ranking learnt from each dataset.

Kept beside the quality benchmark so that its result can be reproduced; it
lost to the engine's quick evidence on the tuning case and on both held-out
cases it was frozen for (mean AP, from ``bench_label_errors_quality.py``'s
protocol, one run each on 2 busy shared cores):

=============== ============ ============ ===================
case            this ranker  quick engine nearest-box baseline
=============== ============ ============ ===================
demo (tuning)   0.749        0.772        0.607
glyphs-dense    0.783        0.862        0.730
mnist-weak-mix  0.504        0.612        0.467
=============== ============ ============ ===================

and its trust figure was over-confident (e.g. on mnist-weak-mix, top 100
wrong_class candidates: expected 0.98, measured 0.26). Why, as far as was
found: the dataset's real errors sit in every damaged copy labelled
"correct", at about the rate of the simulated ones, so the classifiers learn
error-like patterns as half correct; cross-fitting by image does not help,
since the pattern, not the image, is what is learnt, and dropping a first
round's suspects from the negatives only recovered part of it. Where the
simulated errors differ from the real ones (a relabel to the class the
detector confuses vs. a uniform one), the real errors' pattern is learnt as
correct outright.

What follows is the frozen method as it was run.

:func:`rank_detection_errors` takes the same inputs as
:func:`analysis.label_errors.find_detection_errors` and returns the same
table. Instead of fixed thresholds and priors it learns, from the dataset and
detector it is given, what each kind of annotation error looks like:

1. **Simulated errors.** ``copies`` copies of the dataset's own ground truth
   are damaged the way annotators err (:func:`simulate_errors`): boxes
   dropped (missing), moved or rescaled (low_iou), relabelled (wrong_class),
   invented on background or on clutter the detector half-sees (spurious),
   and drawn twice (duplicate). The assumptions (rates, how far boxes move,
   which class a relabel picks, where invented boxes go) are drawn afresh for
   every copy, so the classifiers do not learn one generator's habits.
2. **Features** of every candidate, computed the same way on the copies and
   on the real labels (:func:`gt_features`, :func:`pred_features`): IoUs
   with the predictions at several levels and the scores there, the class
   probabilities, the offset and scale of the detector's box, the box's size
   and aspect relative to the dataset, its neighbours (GT and predictions).
3. **One classifier per type** (scikit-learn's
   ``HistGradientBoostingClassifier``) tells the simulated errors of that
   type from the other labels.
4. **Cross-fitting by image.** The dataset's real errors sit unchanged in
   every copy, labelled "correct"; a model that has seen an image would learn
   to trust its real errors. The images are split into ``folds``; the real
   candidates of a fold are scored only by models trained on copies of the
   other folds' images. A second round drops the first round's top suspects
   (real candidates scoring like simulated errors) from the negatives.
5. **Scores as probabilities.** Each type's raw classifier output is
   Platt-calibrated on held-out simulated copies (the fold's own model), then
   moved from the simulated share of errors to the share estimated on the
   real candidates (the EM prior-shift correction of Saerens et al., 2002):
   ``score`` estimates P(this candidate is a real error).

The result's ``attrs["trust"]`` holds, per type, the expected precision of the
top k candidates with an interval (:func:`trust_figures`), and
``attrs["mode"]`` is ``"learnt"``. With too little data to learn from (fewer
than ``min_gt_boxes`` GT boxes, or a type with fewer than
``min_examples`` simulated errors in its training folds) the quick evidence
of :func:`~analysis.label_errors.find_detection_errors` ranks that type
instead, and ``attrs["fallback"]`` says which types and why.

Everything is deterministic for a given ``seed``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.core.boxes import to_xywh, to_xyxy
from analysis.label_errors import engine
from analysis.label_errors.calibration import calibrate_confidence, fit_logistic
from analysis.label_errors.candidates import assemble, boxes_at, candidates
from analysis.label_errors.evidence import class_probabilities
from analysis.label_errors.pairs import overlapping_pairs
from analysis.label_errors.params import ERROR_TYPES, GT_COLUMNS, PRED_COLUMNS, LabelErrorInputError, Params

GT_TYPES = ("low_iou", "wrong_class", "spurious", "duplicate")
#: A GT box is a duplicate candidate only when a box of its class overlaps it at least this much.
DUPLICATE_PAIR_IOU = 0.3
#: A prediction is a missing-label candidate only when no real GT box overlaps it this much.
MISSING_COVER_IOU = 0.5
#: Round 2 drops from the negatives the real rows scoring above this quantile of the held-out simulated errors.
SUSPECT_QUANTILE = 0.2


# --------------------------------------------------------------------------- arrays


@dataclass
class GTBoxes:
    """GT boxes sorted by image code: ``img`` (codes), ``box`` (xyxy), ``cls`` (codes), ``rank`` (annotation order)."""

    img: np.ndarray
    box: np.ndarray
    cls: np.ndarray
    rank: np.ndarray

    def __len__(self):
        return len(self.img)

    def take(self, rows) -> "GTBoxes":
        return GTBoxes(self.img[rows], self.box[rows], self.cls[rows], self.rank[rows])


@dataclass
class PredBoxes:
    """Predictions sorted by image code: ``img``, ``box`` (xyxy), ``cls``, ``score``, ``probs`` (N x K or None)."""

    img: np.ndarray
    box: np.ndarray
    cls: np.ndarray
    score: np.ndarray
    probs: np.ndarray | None

    def __len__(self):
        return len(self.img)

    def take(self, rows) -> "PredBoxes":
        return PredBoxes(self.img[rows], self.box[rows], self.cls[rows], self.score[rows],
                         None if self.probs is None else self.probs[rows])


def _seg_max(keys, values, n, fill=np.nan):
    """Per key 0..n-1 (``keys`` sorted): the largest value; ``fill`` where a key has no value > -inf."""
    out = np.full(n, -np.inf)
    if len(keys):
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        out[keys[starts]] = np.maximum.reduceat(values, starts)
    return np.where(np.isfinite(out), out, fill)


def _seg_argmax(keys, values, n):
    """Per key 0..n-1: the index of the pair holding the largest finite value (first on ties), -1 if none."""
    out = np.full(n, -1, dtype=np.int64)
    ok = np.flatnonzero(np.isfinite(values))
    if len(ok):
        order = ok[np.lexsort((-values[ok], keys[ok]))]
        first = np.r_[True, keys[order][1:] != keys[order][:-1]]
        out[keys[order][first]] = order[first]
    return out


def _seg_sum(keys, values, n):
    return np.bincount(keys, weights=values, minlength=n)


def _masked(values, mask):
    return np.where(mask, values, -np.inf)


def _pick(values, idx, fill=np.nan):
    """``values[idx]`` with ``fill`` where ``idx == -1``."""
    if len(values) == 0:
        return np.full(len(idx), fill)
    return np.where(idx >= 0, values[np.maximum(idx, 0)], fill)


def _areas(box):
    return (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])


# --------------------------------------------------------------------------- features

GT_FEATURES = (
    "same_best_iou", "same_best_iou_score", "same_score_iou30", "same_score_iou50", "same_score_iou70",
    "same_score_iou85", "any_score_iou30", "any_score_iou50", "any_score_iou70", "other_score_iou50",
    "same_max_score_x_iou", "any_max_score_x_iou", "top_iou", "top_score", "top_same_class", "top_class_prob",
    "top_dx", "top_dy", "top_dlogw", "top_dlogh", "top_owned", "score_mass_iou30", "n_pred_iou10",
    "class_prob_weighted", "class_prob_max", "gt_max_iou_any", "gt_max_iou_same", "gt_partner_later",
    "gt_partner_fit_gap", "gt_partner_score_iou50", "log_area_rel", "log_aspect", "n_gt_image", "n_pred_image",
    "image_match_share", "quick_low_iou", "quick_wrong_class", "quick_spurious", "quick_duplicate",
)
PRED_FEATURES = (
    "score", "prob_max", "prob_entropy", "gt_max_iou", "gt_max_iou_same", "gt_max_ioa_pred", "gt_max_ioa_gt",
    "spot_other_score", "spot_n", "spot_other_class_score", "log_area_rel", "log_aspect", "n_gt_image",
    "n_pred_image", "score_rank_image", "nearest_gt_fit", "nearest_gt_top_score", "quick_missing",
)


def _pair_values(G: GTBoxes, P: PredBoxes):
    gi, pi, iou, p_ioa = overlapping_pairs(G.img, G.box, P.img, P.box)
    same = G.cls[gi] == P.cls[pi]
    score = P.score[pi]
    pk = same.astype(np.float64) if P.probs is None else P.probs[pi, G.cls[gi]]
    return gi, pi, iou, p_ioa, same, score, pk


def quick_evidence(G: GTBoxes, P: PredBoxes, params: dict) -> tuple[np.ndarray, np.ndarray]:
    """The quick engine's scores as features: per GT box its ``low_iou, wrong_class, spurious, duplicate``
    scores (len(G) x 4, 0 = no candidate), per prediction its ``missing`` score."""
    gt = pd.DataFrame({"image_id": G.img, "ann_id": np.arange(len(G)), "category_id": G.cls})
    gt[["x", "y", "w", "h"]] = to_xywh(G.box)
    pred = pd.DataFrame({"image_id": P.img, "pred_id": np.arange(len(P)), "category_id": P.cls, "score": P.score})
    pred[["x", "y", "w", "h"]] = to_xywh(P.box)
    probs = None if P.probs is None else pd.DataFrame(P.probs)
    res = engine.find_detection_errors(gt, pred, pred_probs=probs, **{**params, "min_score": 0.0})
    on_gt = np.zeros((len(G), 4))
    for j, t in enumerate(GT_TYPES):
        sub = res[res["error_type"] == t]
        on_gt[sub["ann_id"].to_numpy(np.int64), j] = sub["score"].to_numpy()
    on_pred = np.zeros(len(P))
    sub = res[res["error_type"] == "missing"]
    on_pred[sub["pred_id"].to_numpy(np.int64)] = sub["score"].to_numpy()
    return on_gt, on_pred


def gt_features(G: GTBoxes, P: PredBoxes, median_area: float, quick_gt: np.ndarray) -> tuple[np.ndarray, dict]:
    """Feature matrix (len(G) x len(GT_FEATURES)) of every GT box, and the rows behind the evidence.

    The second value holds, per GT box, ``same_p`` / ``other_p`` / ``near_p``
    (the best same-class prediction, the best other-class one at IoU >= 0.5,
    the most overlapping one; -1 = none), their IoUs, and ``partner`` (the
    most overlapping GT box of the same class, -1 = none) with its IoU.
    """
    n = len(G)
    gi, pi, iou, p_ioa, same, score, pk = _pair_values(G, P)
    f = {}
    same_arg = _seg_argmax(gi, _masked(iou, same), n)
    f["same_best_iou"] = _pick(iou, same_arg, 0.0)
    f["same_best_iou_score"] = _pick(score, same_arg)
    for lvl in (30, 50, 70, 85):
        f[f"same_score_iou{lvl}"] = _seg_max(gi, _masked(score, same & (iou >= lvl / 100)), n)
    for lvl in (30, 50, 70):
        f[f"any_score_iou{lvl}"] = _seg_max(gi, _masked(score, iou >= lvl / 100), n)
    other_arg = _seg_argmax(gi, _masked(score, ~same & (iou >= 0.5)), n)
    f["other_score_iou50"] = _pick(score, other_arg)
    f["same_max_score_x_iou"] = _seg_max(gi, _masked(score * iou, same), n, 0.0)
    f["any_max_score_x_iou"] = _seg_max(gi, score * iou, n, 0.0)
    top = _seg_argmax(gi, _masked(score, iou >= 0.1), n)
    f["top_iou"], f["top_score"] = _pick(iou, top), _pick(score, top)
    f["top_same_class"], f["top_class_prob"] = _pick(same.astype(float), top), _pick(pk, top)
    gw, gh = G.box[:, 2] - G.box[:, 0], G.box[:, 3] - G.box[:, 1]
    tp = _pick(pi, top, -1).astype(np.int64)
    pb = np.where((tp >= 0)[:, None], P.box[np.maximum(tp, 0)] if len(P) else np.nan, np.nan)
    f["top_dx"] = ((pb[:, 0] + pb[:, 2]) - (G.box[:, 0] + G.box[:, 2])) / 2 / gw
    f["top_dy"] = ((pb[:, 1] + pb[:, 3]) - (G.box[:, 1] + G.box[:, 3])) / 2 / gh
    f["top_dlogw"] = np.log((pb[:, 2] - pb[:, 0]) / gw)
    f["top_dlogh"] = np.log((pb[:, 3] - pb[:, 1]) / gh)
    # is this box the one its top prediction overlaps most? (else a neighbour owns that prediction)
    p_order = np.argsort(pi, kind="stable")
    best_g_of_p = _seg_argmax(pi[p_order], iou[p_order], len(P))
    best_g_of_p = np.where(best_g_of_p >= 0, gi[p_order][np.maximum(best_g_of_p, 0)], -1)
    f["top_owned"] = np.where(tp >= 0, _pick(best_g_of_p, tp, -1) == np.arange(n), np.nan)
    f["score_mass_iou30"] = _seg_sum(gi, np.where(iou >= 0.3, score, 0.0), n)
    f["n_pred_iou10"] = _seg_sum(gi, (iou >= 0.1).astype(float), n)
    strong = iou >= 0.5
    mass = _seg_sum(gi, np.where(strong, score, 0.0), n)
    f["class_prob_weighted"] = np.where(mass > 0, _seg_sum(gi, np.where(strong, score * pk, 0.0), n)
                                        / np.maximum(mass, 1e-12), np.nan)
    f["class_prob_max"] = _seg_max(gi, _masked(pk, strong), n)
    # neighbours among the GT boxes (a duplicate's twin, crowding)
    a, b, giou, _ = overlapping_pairs(G.img, G.box, G.img, G.box)
    other = a != b
    a, b, giou = a[other], b[other], giou[other]
    f["gt_max_iou_any"] = _seg_max(a, giou, n, 0.0)
    same_gt = G.cls[a] == G.cls[b]
    partner_pair = _seg_argmax(a, _masked(giou, same_gt), n)
    partner = _pick(b, partner_pair, -1).astype(np.int64)
    f["gt_max_iou_same"] = _pick(giou, partner_pair, 0.0)
    has_partner = partner >= 0
    f["gt_partner_later"] = np.where(has_partner, G.rank > _pick(G.rank, partner, 0), np.nan)
    f["gt_partner_fit_gap"] = np.where(has_partner, f["same_best_iou"] - _pick(f["same_best_iou"], partner), np.nan)
    f["gt_partner_score_iou50"] = np.where(has_partner, _pick(f["same_score_iou50"], partner), np.nan)
    f["log_area_rel"] = np.log(gw * gh / median_area)
    f["log_aspect"] = np.log(gw / gh)
    n_img = int(max(G.img.max(initial=-1), P.img.max(initial=-1))) + 1
    f["n_gt_image"] = np.bincount(G.img, minlength=n_img)[G.img].astype(float)
    f["n_pred_image"] = np.bincount(P.img, minlength=n_img)[G.img].astype(float)
    matched = (f["same_score_iou50"] > -1) & np.isfinite(f["same_score_iou50"])
    f["image_match_share"] = (np.bincount(G.img, weights=matched, minlength=n_img) / np.maximum(
        np.bincount(G.img, minlength=n_img), 1))[G.img]
    for j, t in enumerate(GT_TYPES):
        f[f"quick_{t}"] = quick_gt[:, j]
    X = _clean(np.column_stack([np.asarray(f[k], dtype=np.float64) for k in GT_FEATURES]))
    near = _seg_argmax(gi, iou, n)
    support = {
        "same_p": _pick(pi, same_arg, -1).astype(np.int64), "same_iou": _pick(iou, same_arg),
        "other_p": _pick(pi, other_arg, -1).astype(np.int64), "other_iou": _pick(iou, other_arg),
        "near_p": _pick(pi, near, -1).astype(np.int64), "near_iou": _pick(iou, near, 0.0),
        "partner": partner, "partner_iou": f["gt_max_iou_same"],
    }
    return X, support


def missing_candidates(G: GTBoxes, P: PredBoxes, silenced: np.ndarray) -> np.ndarray:
    """Predictions that may show an unlabelled object: no real GT box overlaps them at IoU >= MISSING_COVER_IOU,
    they lie in no crowd / ignore region, and they score highest among such predictions at their spot (IoU >= 0.5)."""
    gi, pi, iou, _ = overlapping_pairs(G.img, G.box, P.img, P.box)[:4]
    order = np.argsort(pi, kind="stable")
    cover = _seg_max(pi[order], iou[order], len(P), 0.0)
    cand = np.flatnonzero((cover < MISSING_COVER_IOU) & ~silenced)
    if not len(cand):
        return cand
    a, b, piou, _ = overlapping_pairs(P.img[cand], P.box[cand], P.img[cand], P.box[cand], upper_only=True)
    close = piou >= 0.5
    a, b = a[close], b[close]
    s = P.score[cand]
    keep = np.ones(len(cand), dtype=bool)
    # a weaker prediction at a spot is dropped (ties: the later one), in one vectorised pass
    keep[np.where(s[a] >= s[b], b, a)] = False
    return cand[keep]


def pred_features(G: GTBoxes, P: PredBoxes, cand: np.ndarray, median_area: float,
                  gt_X: np.ndarray, quick_missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix (len(cand) x len(PRED_FEATURES)) of the candidate predictions ``cand``, and each one's
    IoU with its most overlapping GT box."""
    n = len(cand)
    C = P.take(cand)
    gi, pi, iou, p_ioa = overlapping_pairs(G.img, G.box, C.img, C.box)
    order = np.argsort(pi, kind="stable")
    gi, pi, iou, p_ioa = gi[order], pi[order], iou[order], p_ioa[order]
    same = G.cls[gi] == C.cls[pi]
    f = {"score": C.score}
    if C.probs is not None:
        pr = np.clip(C.probs, 1e-12, 1)
        f["prob_max"], f["prob_entropy"] = C.probs.max(1), -(pr * np.log(pr)).sum(1)
    else:
        f["prob_max"] = f["prob_entropy"] = np.full(n, np.nan)
    near = _seg_argmax(pi, iou, n)
    f["gt_max_iou"] = _pick(iou, near, 0.0)
    f["gt_max_iou_same"] = _seg_max(pi, _masked(iou, same), n, 0.0)
    f["gt_max_ioa_pred"] = _seg_max(pi, p_ioa, n, 0.0)
    inter = iou * (_areas(G.box)[gi] + _areas(C.box)[pi]) / (1 + iou)
    f["gt_max_ioa_gt"] = _seg_max(pi, inter / _areas(G.box)[gi], n, 0.0)
    # other predictions at the spot (all predictions, not only the candidates)
    a, b, piou, _ = overlapping_pairs(C.img, C.box, P.img, P.box)
    not_self = cand[a] != b
    a, b, piou = a[not_self], b[not_self], piou[not_self]
    spot = piou >= 0.5
    f["spot_other_score"] = _seg_max(a, _masked(P.score[b], spot), n, 0.0)
    f["spot_n"] = _seg_sum(a, (piou >= 0.3).astype(float), n)
    f["spot_other_class_score"] = _seg_max(a, _masked(P.score[b], spot & (P.cls[b] != C.cls[a])), n, 0.0)
    w, h = C.box[:, 2] - C.box[:, 0], C.box[:, 3] - C.box[:, 1]
    f["log_area_rel"], f["log_aspect"] = np.log(w * h / median_area), np.log(w / h)
    n_img = int(max(G.img.max(initial=-1), P.img.max(initial=-1))) + 1
    f["n_gt_image"] = np.bincount(G.img, minlength=n_img)[C.img].astype(float)
    f["n_pred_image"] = np.bincount(P.img, minlength=n_img)[C.img].astype(float)
    # the prediction's rank by score among its image's predictions (0 = the best)
    key = np.lexsort((-P.score, P.img))
    rank = np.empty(len(P))
    starts = np.searchsorted(P.img[key], P.img[key])
    rank[key] = np.arange(len(P)) - starts
    f["score_rank_image"] = rank[cand]
    near_g = _pick(gi, near, -1).astype(np.int64)
    f["nearest_gt_fit"] = np.where(near_g >= 0, _pick(gt_X[:, GT_FEATURES.index("same_best_iou")], near_g), np.nan)
    f["nearest_gt_top_score"] = np.where(near_g >= 0, _pick(gt_X[:, GT_FEATURES.index("top_score")], near_g), np.nan)
    f["quick_missing"] = quick_missing[cand]
    X = _clean(np.column_stack([np.asarray(f[k], dtype=np.float64) for k in PRED_FEATURES]))
    return X, f["gt_max_iou"]


# --------------------------------------------------------------------------- simulated errors


def _perturbed_boxes(rng, box: np.ndarray, lo: np.ndarray, hi: np.ndarray, edge_share: float):
    """For each xyxy box, a perturbed box whose IoU with it is close to a draw from ``[lo, hi]``.

    Two ways of drawing a box badly, mixed by ``edge_share``: moving one or
    two edges (a box cut short or overreaching), or shifting and rescaling the
    whole box. 48 tries per box; the one closest to the target IoU is kept.
    Returns the boxes and their IoUs with the originals.
    """
    n, k = len(box), 48
    target = rng.uniform(lo, hi)
    w, h = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
    size = np.stack([w, h, w, h], 1)[:, None, :]
    spread = rng.uniform(0.05, 0.6, (n, k, 1))
    shift = rng.normal(0, 1, (n, k, 4)) * spread * size
    edges = rng.random((n, k, 4)) < 0.35  # each edge moves with this chance ...
    by_edge = rng.random((n, k, 1)) < edge_share  # ... in the edge mode; in the other, the box moves as one
    whole = np.concatenate([shift[..., :2], shift[..., :2]], -1) + np.concatenate(
        [-shift[..., 2:], shift[..., 2:]], -1) * 0.5
    moved = np.where(by_edge, np.where(edges, shift, 0.0), whole)
    cand = box[:, None, :] + moved
    cand = np.concatenate([np.minimum(cand[..., :2], cand[..., 2:] - 1e-3 * size[..., :2]),
                           cand[..., 2:]], -1)
    cw, ch = cand[..., 2] - cand[..., 0], cand[..., 3] - cand[..., 1]
    iw = np.clip(np.minimum(cand[..., 2], box[:, None, 2]) - np.maximum(cand[..., 0], box[:, None, 0]), 0, None)
    ih = np.clip(np.minimum(cand[..., 3], box[:, None, 3]) - np.maximum(cand[..., 1], box[:, None, 1]), 0, None)
    inter = iw * ih
    iou = inter / (cw * ch + (w * h)[:, None] - inter)
    ok = (cw > 0.2 * w[:, None]) & (ch > 0.2 * h[:, None])
    gap = np.where(ok, np.abs(iou - target[:, None]), np.inf)
    best = gap.argmin(1)
    return cand[np.arange(n), best], iou[np.arange(n), best]


@dataclass
class SimulatedCopy:
    """A damaged copy of the GT: ``gt`` (image-sorted), ``kind`` (per row: index into ERROR_TYPES, -1 = as
    labelled), ``origin`` (per row: the real GT row it comes from, -1 = added), ``dropped`` (the dropped
    boxes: image codes and xyxy boxes), and the assumptions drawn for it."""

    gt: GTBoxes
    kind: np.ndarray
    origin: np.ndarray
    dropped_img: np.ndarray
    dropped_box: np.ndarray
    assumptions: dict


def simulate_errors(G: GTBoxes, P: PredBoxes, n_classes: int, rng, top_pred_class: np.ndarray) -> SimulatedCopy:
    """Damage a copy of ``G`` with annotation errors of every type, under assumptions drawn from ``rng``.

    Assumptions (drawn per copy): each type's share of the boxes (3-9%;
    spurious boxes 2-6% of the boxes); whether small boxes are missed more
    often; how far a badly drawn box is off (IoU with the original from about
    [0.3-0.45, 0.7-0.85]) and whether edges move or the whole box; whether a
    relabel picks the class the detector confuses the box with
    (``top_pred_class``, -1 where none) or any other class; whether an
    invented box lies on background or on clutter (a weak prediction no box
    explains); how much a duplicate overlaps its twin (IoU from [0.5-0.7,
    0.9-0.97]). Every box suffers at most one error; added boxes (spurious,
    duplicate) get later annotation ranks.
    """
    n = len(G)
    a = {
        "rates": {t: float(rng.uniform(0.05, 0.12)) for t in ("missing", "low_iou", "wrong_class", "duplicate")},
        "spurious_rate": float(rng.uniform(0.02, 0.06)),
        "small_missed_more": bool(rng.random() < 0.5),
        "low_iou_range": (float(rng.uniform(0.3, 0.45)), float(rng.uniform(0.7, 0.85))),
        "edge_share": float(rng.uniform(0.2, 0.8)),
        "confusable_relabel_share": float(rng.uniform(0, 0.5)),
        "clutter_share": float(rng.uniform(0.2, 0.8)),
        "duplicate_range": (float(rng.uniform(0.5, 0.7)), float(rng.uniform(0.9, 0.97))),
    }
    area = _areas(G.box)
    kind = np.full(n, -1, dtype=np.int64)
    free = np.ones(n, dtype=bool)
    for t in ("missing", "low_iou", "wrong_class", "duplicate"):
        m = int(round(a["rates"][t] * n))
        pool = np.flatnonzero(free)
        if m == 0 or not len(pool):
            continue
        weight = (1 / np.sqrt(area[pool])) if (t == "missing" and a["small_missed_more"]) else np.ones(len(pool))
        pick = rng.choice(pool, min(m, len(pool)), replace=False, p=weight / weight.sum())
        kind[pick] = ERROR_TYPES.index(t)
        free[pick] = False
    box, cls = G.box.copy(), G.cls.copy()
    low = np.flatnonzero(kind == ERROR_TYPES.index("low_iou"))
    if len(low):
        lo, hi = a["low_iou_range"]
        box[low], _ = _perturbed_boxes(rng, G.box[low], np.full(len(low), lo), np.full(len(low), hi), a["edge_share"])
    wrong = np.flatnonzero(kind == ERROR_TYPES.index("wrong_class"))
    if len(wrong) and n_classes > 1:
        random_other = (G.cls[wrong] + rng.integers(1, n_classes, len(wrong))) % n_classes
        confusable = top_pred_class[wrong]
        use_conf = (rng.random(len(wrong)) < a["confusable_relabel_share"]) & (confusable >= 0) & (
            confusable != G.cls[wrong])
        cls[wrong] = np.where(use_conf, confusable, random_other)
    else:
        kind[wrong] = -1
    # added boxes: duplicates next to their twins, spurious boxes on background or clutter
    dup = np.flatnonzero(kind == ERROR_TYPES.index("duplicate"))
    kind[dup] = -1  # the twin itself stays correct; the added box is the error
    lo, hi = a["duplicate_range"]
    dup_box, _ = _perturbed_boxes(rng, G.box[dup], np.full(len(dup), lo), np.full(len(dup), hi), a["edge_share"])
    n_spur = int(round(a["spurious_rate"] * n))
    spur_img, spur_box = _invent_boxes(rng, G, P, n_spur, a["clutter_share"])
    keep = kind != ERROR_TYPES.index("missing")
    next_rank = G.rank.max(initial=0) + 1 + np.arange(len(dup) + len(spur_img))
    img = np.r_[G.img[keep], G.img[dup], spur_img]
    order = np.argsort(img, kind="stable")
    new = GTBoxes(img=img[order], box=np.r_[box[keep], dup_box, spur_box].reshape(-1, 4)[order],
                  cls=np.r_[cls[keep], G.cls[dup], rng.integers(0, max(n_classes, 1), len(spur_img))][order],
                  rank=np.r_[G.rank[keep], next_rank][order])
    new_kind = np.r_[kind[keep], np.full(len(dup), ERROR_TYPES.index("duplicate")),
                     np.full(len(spur_img), ERROR_TYPES.index("spurious"))][order]
    origin = np.r_[np.flatnonzero(keep), np.full(len(dup) + len(spur_img), -1)][order]
    dropped = ~keep
    return SimulatedCopy(new, new_kind, origin, G.img[dropped], G.box[dropped], a)


def _invent_boxes(rng, G: GTBoxes, P: PredBoxes, n: int, clutter_share: float):
    """``n`` boxes where no GT box is (IoU < 0.05): at weak predictions that no box explains (clutter,
    with share ``clutter_share``) or anywhere in an image's extent of labelled boxes (background);
    sizes of real boxes, a little varied."""
    if n == 0 or len(G) == 0:
        return np.zeros(0, np.int64), np.zeros((0, 4))
    tries = 8
    img = rng.choice(G.img, (n, tries))  # images in proportion to their boxes
    wh = (G.box[:, 2:] - G.box[:, :2])[rng.integers(0, len(G), (n, tries))] * np.exp(
        rng.normal(0, 0.15, (n, tries, 2)))
    # the region boxes are drawn in: the labelled boxes' extent over the dataset (image sizes are unknown)
    lo, hi = G.box[:, :2].min(0), G.box[:, 2:].max(0)
    xy = lo + rng.random((n, tries, 2)) * np.maximum(hi - lo - wh, 0)
    # clutter: predictions that no GT box overlaps at IoU >= 0.3, weaker than the median such one
    gi, pi, iou, _ = overlapping_pairs(G.img, G.box, P.img, P.box)
    order = np.argsort(pi, kind="stable")
    cover = _seg_max(pi[order], iou[order], len(P), 0.0)
    loose = np.flatnonzero(cover < 0.3)
    if len(loose):
        loose = loose[P.score[loose] <= np.median(P.score[loose])]
    on_clutter = (rng.random(n) < clutter_share) & (len(loose) > 0)
    if on_clutter.any():
        at = loose[rng.integers(0, len(loose), (int(on_clutter.sum()), tries))]
        pbox = P.box[at]
        jitter = rng.normal(0, 0.1, pbox.shape[:2] + (2,)) * (pbox[..., 2:] - pbox[..., :2])
        img[on_clutter] = P.img[at]
        xy[on_clutter] = pbox[..., :2] + jitter
        wh[on_clutter] = (pbox[..., 2:] - pbox[..., :2]) * np.exp(rng.normal(0, 0.1, pbox.shape[:2] + (2,)))
    cand = np.concatenate([xy, xy + wh], -1).reshape(-1, 4)
    cimg = img.reshape(-1)
    order = np.argsort(cimg, kind="stable")
    ci, gi2, ciou, _ = overlapping_pairs(cimg[order], cand[order], G.img, G.box)
    worst = _seg_max(ci, ciou, len(cand), 0.0)
    clear = np.empty(len(cand), dtype=bool)
    clear[order] = worst < 0.05
    clear = clear.reshape(n, tries)
    ok = clear.any(1)
    first = clear.argmax(1)
    rows = np.flatnonzero(ok)
    return img[rows, first[rows]], cand.reshape(n, tries, 4)[rows, first[rows]]


def missing_hits(C: PredBoxes, dropped_img: np.ndarray, dropped_box: np.ndarray) -> np.ndarray:
    """Which candidate predictions ``C`` show a dropped box (IoU >= 0.5)."""
    if not len(dropped_img) or not len(C):
        return np.zeros(len(C), dtype=bool)
    order = np.argsort(dropped_img, kind="stable")
    ci, _, iou, _ = overlapping_pairs(C.img, C.box, dropped_img[order], dropped_box[order])
    return _seg_max(ci, iou, len(C), 0.0) >= 0.5


# --------------------------------------------------------------------------- learning


def _clean(X: np.ndarray) -> np.ndarray:
    """Features as the classifiers take them: non-finite values are missing (NaN), an all-missing column 0."""
    X = np.where(np.isfinite(X), X, np.nan)
    X[:, np.isnan(X).all(0)] = 0.0
    return X


def _classifier(seed: int, monotone=None):
    from sklearn.ensemble import HistGradientBoostingClassifier

    # no early stopping and no subsampling: the same data give the same model
    return HistGradientBoostingClassifier(max_iter=100, learning_rate=0.06, max_leaf_nodes=15,
                                          min_samples_leaf=40,
                                          l2_regularization=1.0, early_stopping=False, random_state=seed,
                                          monotonic_cst=monotone)


@dataclass
class _Rows:
    """Training rows of one type: features, labels, image fold, and the real row each came from (-1 = added)."""

    X: np.ndarray
    y: np.ndarray
    fold: np.ndarray
    origin: np.ndarray


def _cross_fit(train: _Rows, real_X: np.ndarray, real_fold: np.ndarray, folds: int, seed: int,
               exclude: np.ndarray | None, monotone=None):
    """Raw scores of the real rows (each by the model of its fold, trained on the other folds' copies) and
    of the copies' rows (held out the same way). ``exclude``: real rows not to use as negatives."""
    real_raw = np.full(len(real_X), np.nan)
    held_raw = np.full(len(train.y), np.nan)
    use = np.ones(len(train.y), dtype=bool)
    if exclude is not None and exclude.any():
        use &= ~(~train.y & (train.origin >= 0) & exclude[np.maximum(train.origin, 0)])
    for k in range(folds):
        fit = use & (train.fold != k)
        model = _classifier(seed + k, monotone).fit(train.X[fit], train.y[fit])
        mine = real_fold == k
        if mine.any():
            real_raw[mine] = model.predict_proba(real_X[mine])[:, 1]
        held = train.fold == k
        if held.any():
            held_raw[held] = model.predict_proba(train.X[held])[:, 1]
    return real_raw, held_raw, use


def _average_precision(score, y) -> float:
    """Average precision of ``score`` against labels ``y`` (ties as one threshold, as scikit-learn)."""
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, score)) if y.any() else 0.0


def _logit(q):
    q = np.clip(q, 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def _calibrated(real_raw, held_raw, held_y, held_use):
    """Platt map of raw scores to P(simulated error) on the held-out copies, moved to the real share of errors.

    Returns the real rows' probabilities, the estimated real share and the held-out simulated share.
    """
    z, y = _logit(held_raw[held_use]), held_y[held_use].astype(float)
    a, b = fit_logistic(z[:, None], y)
    a = max(a, 1e-6)  # a higher raw score never means a lower probability
    q = 1 / (1 + np.exp(-(a * _logit(real_raw) + b)))
    rho = float(y.mean())
    # EM for the share of errors among the real candidates (Saerens, Latinne & Decaestecker 2002)
    pi = rho
    for _ in range(200):
        r = (pi / rho) * q
        post = r / (r + ((1 - pi) / (1 - rho)) * (1 - q))
        new = float(post.mean()) if len(post) else pi
        if abs(new - pi) < 1e-7:
            break
        pi = min(max(new, 1e-6), 1 - 1e-6)
    r = (pi / rho) * q
    return r / (r + ((1 - pi) / (1 - rho)) * (1 - q)), pi, rho


def trust_figures(posterior: np.ndarray, ks=(10, 50, 100, 200)) -> list[dict]:
    """Expected precision of the top k candidates of one type from their calibrated posteriors.

    For each k up to the number of candidates: the mean posterior of the top k
    (the expected share of real errors) and a 95% interval for the share a
    reviewer would find, treating each candidate as an independent Bernoulli
    draw with its posterior (normal approximation, clipped to [0, 1]).
    """
    q = np.sort(np.asarray(posterior, dtype=np.float64))[::-1]
    out = []
    for k in ks:
        if k > len(q) and k != ks[0]:
            break
        top = q[:k]
        if not len(top):
            break
        mean = float(top.mean())
        half = 1.96 * float(np.sqrt((top * (1 - top)).sum())) / len(top)
        out.append({"k": int(len(top)), "precision": mean, "low": max(0.0, mean - half),
                    "high": min(1.0, mean + half)})
    return out


TRUST_ASSUMES = ("the dataset's real errors look like the simulated ones (boxes dropped, moved, relabelled, "
                 "invented, drawn twice) and the scores, calibrated on held-out simulated copies, carry over")


def rank_detection_errors(gt: pd.DataFrame, pred: pd.DataFrame, pred_probs: pd.DataFrame | None = None, *,
                          seed: int = 0, copies: int = 4, folds: int = 3, max_train_boxes: int = 40_000,
                          min_gt_boxes: int = 30, min_examples: int = 30, **params) -> pd.DataFrame:
    """Rank label-error candidates with classifiers learnt from this dataset (see the module docstring).

    Inputs and result as :func:`analysis.label_errors.find_detection_errors`
    (``**params`` are its parameters; ``min_score`` drops candidates whose
    probability is lower). ``copies`` damaged copies of the GT train the
    classifiers, on at most ``max_train_boxes`` GT boxes' worth of images
    (drawn by ``seed``); ``folds`` image folds are cross-fitted.

    ``attrs``: ``params``; ``mode`` (``"learnt"``, or ``"quick"`` when nothing
    could be learnt); ``fallback`` (type -> reason, for types ranked by the
    quick evidence); ``trust`` (type -> list of ``{k, precision, low, high}``),
    ``expected_errors`` (type -> estimated count among the candidates),
    ``trust_assumes`` and ``seconds``.
    """
    t0 = time.perf_counter()
    unknown = set(params) - set(Params.__dataclass_fields__)
    if unknown:
        raise LabelErrorInputError(
            f"Unknown parameter(s) {', '.join(sorted(unknown))}; known: {', '.join(Params.__dataclass_fields__)}.")
    p = Params(**params)
    gt = engine.frame_of(gt, GT_COLUMNS, "Ground truth")
    pred = engine.frame_of(pred, PRED_COLUMNS, "Predictions")

    def quick():
        return engine.find_detection_errors(gt, pred, pred_probs=pred_probs, **params)

    n_real = int((~(engine.flag(gt, "iscrowd") | engine.flag(gt, "ignore"))).sum())
    if n_real < min_gt_boxes or len(pred) == 0:
        reason = (f"{n_real} GT boxes (fewer than {min_gt_boxes}) are too few to learn from" if len(pred) else
                  "there are no predictions to learn from")
        return _quick_only(quick(), reason, t0)

    codes, images = pd.factorize(pd.concat([gt["image_id"], pred["image_id"]], ignore_index=True))
    g_order = np.argsort(codes[: len(gt)], kind="stable")
    p_order = np.argsort(codes[len(gt):], kind="stable")
    g_img, p_img = codes[: len(gt)][g_order], codes[len(gt):][p_order]
    cat_codes, categories = pd.factorize(pd.concat([gt["category_id"], pred["category_id"]], ignore_index=True))
    g_cls, p_cls = cat_codes[: len(gt)][g_order], cat_codes[len(gt):][p_order]
    probs = None if pred_probs is None else class_probabilities(pred_probs, len(pred), categories)[p_order]
    g_box = to_xyxy(boxes_at(gt, g_order))
    p_box = to_xyxy(boxes_at(pred, p_order))
    p_raw = pred["score"].to_numpy(np.float64)[p_order]
    region = (engine.flag(gt, "iscrowd") | engine.flag(gt, "ignore"))[g_order]
    rank = gt["ann_id"].rank(method="first").to_numpy()[g_order] if "ann_id" in gt else np.arange(len(gt))
    real_rows = np.flatnonzero(~region)
    G = GTBoxes(g_img[real_rows], g_box[real_rows], g_cls[real_rows], rank[real_rows])
    P = PredBoxes(p_img, p_box, p_cls, p_raw, probs)
    n_cls = len(categories)
    # predictions inside crowd / ignore regions: no missing labels (the engine's rule)
    silenced = np.zeros(len(P), dtype=bool)
    if region.any():
        ri = np.flatnonzero(region)
        _, pi, _, p_ioa = overlapping_pairs(g_img[ri], g_box[ri], p_img, p_box)
        silenced[pi[p_ioa >= p.crowd_ioa]] = True
    median_area = float(np.median(_areas(G.box)))

    # the real candidates
    engine_params = dict(params)
    real_qg, real_qp = quick_evidence(G, P, engine_params)
    real_gX, real_sup = gt_features(G, P, median_area, real_qg)
    real_cand = missing_candidates(G, P, silenced)
    real_pX, real_nearest = pred_features(G, P, real_cand, median_area, real_gX, real_qp)
    confusable = _confusable_class(G, P, real_sup)

    # image folds, and the images whose copies train the classifiers
    rng = np.random.default_rng(seed)
    n_img = len(images)
    fold_of = rng.permutation(n_img) % folds
    train_img = np.ones(n_img, dtype=bool)
    if len(G) > max_train_boxes:
        per_img = np.bincount(G.img, minlength=n_img)
        order = rng.permutation(n_img)
        train_img[:] = False
        train_img[order[np.cumsum(per_img[order]) <= max_train_boxes]] = True
    g_sub, p_sub = np.flatnonzero(train_img[G.img]), np.flatnonzero(train_img[P.img])
    Gs, Ps = G.take(g_sub), P.take(p_sub)
    gt_rows, miss_rows, sims = [], [], []
    for _ in range(copies):
        sim = simulate_errors(Gs, Ps, n_cls, rng, confusable[g_sub])
        qg, qp = quick_evidence(sim.gt, Ps, engine_params)
        X, sup = gt_features(sim.gt, Ps, median_area, qg)
        gt_rows.append((X, sim.kind, fold_of[sim.gt.img], np.where(sim.origin >= 0, g_sub[np.maximum(sim.origin, 0)],
                                                                      -1), sup["partner_iou"]))
        cand = missing_candidates(sim.gt, Ps, silenced[p_sub])
        pX, _ = pred_features(sim.gt, Ps, cand, median_area, X, qp)
        hit = missing_hits(Ps.take(cand), sim.dropped_img, sim.dropped_box)
        miss_rows.append((pX, hit, fold_of[Ps.img[cand]], p_sub[cand]))
        sims.append(sim.assumptions)
    gX = np.concatenate([r[0] for r in gt_rows])
    g_kind = np.concatenate([r[1] for r in gt_rows])
    g_fold = np.concatenate([r[2] for r in gt_rows])
    g_origin = np.concatenate([r[3] for r in gt_rows])
    g_partner = np.concatenate([r[4] for r in gt_rows])
    train = {t: _Rows(gX, g_kind == ERROR_TYPES.index(t), g_fold, g_origin) for t in GT_TYPES}
    dup_rows = g_partner >= DUPLICATE_PAIR_IOU
    d = train["duplicate"]
    train["duplicate"] = _Rows(d.X[dup_rows], d.y[dup_rows], d.fold[dup_rows], d.origin[dup_rows])
    train["missing"] = _Rows(*(np.concatenate([r[i] for r in miss_rows]) for i in range(4)))
    real = {t: (real_gX, fold_of[G.img]) for t in GT_TYPES}
    real_dup = real_sup["partner_iou"] >= DUPLICATE_PAIR_IOU
    real["duplicate"] = (real_gX[real_dup], fold_of[G.img[real_dup]])
    real["missing"] = (real_pX, fold_of[P.img[real_cand]])
    # the real rows' indices in the arrays the training rows' origins refer to (G rows, P rows)
    real_index = {t: np.arange(len(G)) for t in GT_TYPES}
    real_index["duplicate"] = np.flatnonzero(real_dup)
    real_index["missing"] = real_cand

    scores, trust, expected, fallback, learnt_info = {}, {}, {}, {}, {}
    for t in ERROR_TYPES:
        rows = train[t]
        X_real, f_real = real[t]
        few = min((int(rows.y[rows.fold != k].sum()) for k in range(folds)), default=0)
        if few < min_examples or len(X_real) == 0 or rows.y.all():
            fallback[t] = (f"{few} simulated {t} errors per training fold (fewer than {min_examples})"
                           if few < min_examples else f"no {t} candidates")
            continue
        names = PRED_FEATURES if t == "missing" else GT_FEATURES
        # more of the quick engine's evidence for this type never makes an error less likely
        monotone = [int(n == f"quick_{t}") for n in names]
        raw1, held1, _ = _cross_fit(rows, X_real, f_real, folds, seed, None, monotone)
        # round 2: real rows that score like simulated errors are no trustworthy negatives (a real error scores
        # like a held-out simulated one: the cut keeps 80% of those above it)
        cut = np.quantile(held1[rows.y], SUSPECT_QUANTILE)
        suspects = np.zeros(len(G) if t != "missing" else len(P), dtype=bool)
        suspects[real_index[t][raw1 >= cut]] = True
        raw, held, use = _cross_fit(rows, X_real, f_real, folds, seed, suspects, monotone)
        # which ranks the held-out simulated errors better here: the learnt model or the quick evidence alone?
        qi = names.index(f"quick_{t}")
        ap_learnt = _average_precision(held[use], rows.y[use])
        ap_quick = _average_precision(rows.X[use, qi], rows.y[use])
        chosen = "learnt" if ap_learnt >= ap_quick else "quick"
        if chosen == "quick":
            raw, held = X_real[:, qi], rows.X[:, qi]
        post, share, sim_share = _calibrated(raw, held, rows.y, use)
        scores[t] = post
        trust[t] = trust_figures(post)
        expected[t] = float(post.sum())
        learnt_info[t] = {"simulated_errors": int(rows.y.sum()), "training_rows": int(len(rows.y)),
                          "suspects_dropped": int(suspects.sum()), "ranked_by": chosen,
                          "heldout_ap": {"learnt": ap_learnt, "quick": ap_quick}, "real_share": share,
                          "simulated_share": sim_share}

    frames = []
    for t in GT_TYPES:
        if t not in scores:
            continue
        s = scores[t]
        idx = real_index[t]
        keep = s >= p.min_score
        g = real_rows[idx[keep]]
        if t == "duplicate":
            sup_p = np.full(int(keep.sum()), -1)
            frames.append(candidates(t, s[keep], g=g, p=sup_p, iou=real_sup["partner_iou"][idx[keep]],
                                         other_g=real_rows[np.maximum(real_sup["partner"][idx[keep]], 0)]))
            continue
        evidence = {"low_iou": "same", "wrong_class": "other", "spurious": "near"}[t]
        frames.append(candidates(t, s[keep], g=g, p=real_sup[f"{evidence}_p"][idx[keep]],
                                     iou=real_sup[f"{evidence}_iou"][idx[keep]]))
    if "missing" in scores:
        s = scores["missing"]
        keep = s >= p.min_score
        frames.append(candidates("missing", s[keep], p=real_cand[keep], iou=real_nearest[keep]))
    # the calibrated confidence column, as the quick engine reports it
    gi, pi, iou, _ = overlapping_pairs(G.img, G.box, P.img, P.box)
    order = np.argsort(pi, kind="stable")
    match = _seg_max(pi[order], _masked(iou[order], (G.cls[gi] == P.cls[pi])[order]), len(P), 0.0) >= p.match_iou
    conf = calibrate_confidence(p_raw, match, fit_on=~silenced) if p.calibrate else np.clip(p_raw, 0, 1)
    quick_params = {**p.__dict__}
    if frames:
        result = assemble(frames, gt, pred, images, g_img, p_img, g_order, p_order,
                              gt["category_id"].to_numpy()[g_order], pred["category_id"].to_numpy()[p_order],
                              p_raw, conf)
    if fallback or not frames:
        quick_result = quick()
        if not frames:
            result = quick_result.iloc[:0]
        quick_params = quick_result.attrs["params"]
        result = pd.concat([result, quick_result[quick_result["error_type"].isin(list(fallback))]],
                           ignore_index=True)
        result = result.sort_values("score", ascending=False, kind="stable", ignore_index=True)
        result["error_type"] = pd.Categorical(result["error_type"], categories=list(ERROR_TYPES))
    result.attrs.update({
        "params": {**quick_params, "seed": seed, "copies": copies, "folds": folds},
        "mode": "learnt", "fallback": fallback, "trust": trust, "expected_errors": expected,
        "trust_assumes": TRUST_ASSUMES, "learnt": learnt_info, "simulations": sims,
        "seconds": time.perf_counter() - t0,
    })
    return result


def _confusable_class(G: GTBoxes, P: PredBoxes, sup: dict) -> np.ndarray:
    """Per GT box, the class the detector most believes in besides the box's own (-1 where it sees nothing)."""
    out = np.full(len(G), -1, dtype=np.int64)
    if P.probs is not None:
        near = sup["near_p"]
        has = near >= 0
        pr = P.probs[near[has]].copy()
        pr[np.arange(len(pr)), G.cls[has]] = -1
        out[has] = pr.argmax(1)
    else:
        other = sup["other_p"]
        out[other >= 0] = P.cls[other[other >= 0]]
    return out


def _quick_only(quick: pd.DataFrame, reason: str, t0: float) -> pd.DataFrame:
    quick.attrs.update({"mode": "quick", "fallback": {t: reason for t in ERROR_TYPES}, "trust": {},
                        "expected_errors": {}, "trust_assumes": TRUST_ASSUMES, "seconds": time.perf_counter() - t0})
    return quick
