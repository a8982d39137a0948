"""Evidence per box pair: the best-fitting predictions, class probabilities, the posterior that a label
is wrong, and how a second opinion (the crop classifier) joins the detector's evidence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.label_errors.candidates import take
from analysis.label_errors.pairs import ClassGroups
from analysis.label_errors.params import BoxOpinion, LabelErrorInputError, Params, ramp


def best_matches(b, p: Params) -> dict:
    """Pass 1 on a block: each box's best real match of its class, and the predictions in crowd / ignore regions."""
    match_iou = np.where(b.sel, b.iou, 0.0)
    best_iou_g, g_pair = b.by_gt.argmax(match_iou)
    best_iou_p, p_pair = b.by_pred.argmax(match_iou)
    silenced = np.zeros(b.by_pred.n, dtype=bool)
    silenced[b.pi[~b.real & (b.p_ioa >= p.crowd_ioa)]] = True
    return {"best_iou_g": best_iou_g, "best_p": take(b.pi + b.p.start, g_pair, -1),
            "best_iou_p": best_iou_p, "best_g": take(b.gi + b.g.start, p_pair, -1), "silenced": silenced}


def block_evidence(b, conf, silenced, best_g, good_ramp, probs, odds: float, p: Params) -> dict:
    """Pass 2 on a block: the detector's evidence on each box, summed over its pairs.

    Per GT box: the sums over classes of each class's best pair (see
    :class:`ClassGroups`) behind ``wrong_class`` (``fit_total``, and
    ``class_fit`` weighted by the probability of the box's class), ``low_iou``
    (``moved``, ``fit_as_drawn``) and ``spurious`` (``support``), the fits
    used for duplicates, and the prediction and IoU behind each type
    (``*_p``, ``*_iou``). Per prediction: ``covered`` and ``nearest`` (the
    IoU of its nearest real GT box).
    """
    gi, iou, real, sel = b.gi, b.iou, b.real, b.sel
    c = conf[b.p][b.pi]
    same = ramp(iou, *p.same_object_iou)
    good = ramp(iou, *good_ramp)
    # Classes are exclusive hypotheses about one object: evidence is the best
    # prediction of each class (max: boxes of one class are correlated), summed
    # over classes (a detector unsure between "3" and "8" still sees an object).
    fit_pairs = np.where(real, c * good, 0.0)
    by_cls = ClassGroups(gi, b.pred_cls, b.by_gt.n)
    # a box's own support: predictions of its class whose best GT box of that class it is
    own = best_g[b.p][b.pi] == gi + b.g.start
    pk = (b.gt_cls == b.pred_cls).astype(np.float64) if probs is None else probs[b.p][b.pi, b.gt_cls]
    loc = ramp(iou, *p.low_iou_iou)
    _, nearest_pair = b.by_pred.argmax(np.where(real, iou, 0.0))
    nearest_g = np.zeros(len(gi), dtype=bool)
    nearest_g[nearest_pair[nearest_pair >= 0]] = True
    # P(the prediction's object is of class k): with class probabilities, the
    # complement of the wrong-label posterior for that prediction alone; without, unknown (1)
    k_right = 1.0 if probs is None else 1 - wrong_label_posterior(pk, odds)
    # a prediction inside a crowd / ignore region may be any of its unlabelled objects: no evidence of a moved box
    moved_pairs = np.where(real & nearest_g & ~silenced[b.p][b.pi], c * same * (1 - loc) * k_right, 0.0)
    support_pairs = np.where(real, c * ramp(iou, *p.support_iou), 0.0)
    out = {
        "fit_total": by_cls.sum_of_max(fit_pairs),
        "class_fit": by_cls.sum_of_max(fit_pairs, pk),
        "moved": by_cls.sum_of_max(moved_pairs),
        "fit_as_drawn": by_cls.sum_of_max(np.where(real, c * loc, 0.0)),
        "support": by_cls.sum_of_max(support_pairs),
        "label_fit": b.by_gt.max(np.where(sel, fit_pairs, 0.0)),
        "own_support": b.by_gt.max(np.where(sel & own, c * good, 0.0)),
        "covered": b.by_pred.max(np.where(real, same, 0.0)),
        "nearest": take(iou, nearest_pair, 0.0),
    }
    for name, values in (("other", np.where(sel, 0.0, fit_pairs)), ("moved", moved_pairs),
                         ("support", support_pairs)):
        _, pair = b.by_gt.argmax(values)
        out[f"{name}_p"], out[f"{name}_iou"] = take(b.pi + b.p.start, pair, -1), take(iou, pair, np.nan)
    return out


def wrong_label_posterior(q_k: np.ndarray, odds: float) -> np.ndarray:
    """Posterior that a label k is wrong when the detector gives class k probability ``q_k``.

    ``odds`` are the prior odds of one particular wrong class against the
    label: ``r (1 - q) / (r (1 - q) + q)``.
    """
    return odds * (1 - q_k) / np.maximum(odds * (1 - q_k) + q_k, 1e-300)


def combine_independent(post_a: np.ndarray, post_b: np.ndarray, prior: float) -> np.ndarray:
    """Posterior of a hypothesis from two posteriors computed from independent evidence and the same ``prior``.

    Posterior odds = odds_a x odds_b / prior odds (the prior counted once).
    """
    def odds(q):
        q = np.clip(q, 1e-12, 1 - 1e-12)
        return q / (1 - q)
    o = odds(post_a) * odds(post_b) / odds(prior)
    return o / (1 + o)


def with_prior(prob: np.ndarray, prior: float, recall=1.0) -> np.ndarray:
    """Bayes' update of ``prior`` by evidence ``prob`` obtained under even odds: posterior odds = prior odds x prob odds.

    ``recall`` (scalar or per element, in [0, 1]) is the chance that the
    evidence was gathered at all: a detector that missed a real object gives
    evidence distributed as for no object, so the likelihood ratio becomes
    ``recall * prob odds + (1 - recall)`` (1 - recall = uninformative).
    """
    evidence = recall * prob / np.maximum(1 - prob, 1e-12) + (1 - recall)
    return prior * evidence / np.maximum(prior * evidence + 1 - prior, 1e-300)


def second_opinion(opinion: BoxOpinion, n_g: int, n_p: int, categories, g_order: np.ndarray,
                    p_order: np.ndarray) -> dict:
    """``opinion``'s arrays checked and in the engine's (image-sorted) GT and prediction order."""
    if not isinstance(opinion, BoxOpinion):
        raise LabelErrorInputError(f"opinion must be a BoxOpinion, got {type(opinion).__name__}.")
    out = {"probs": class_probabilities(opinion.class_probs, n_g, categories, "opinion.class_probs", "GT box")[g_order],
           "object_given": opinion.object_prob is not None, "object": np.ones(n_g), "box": None, "drawn_iou": None,
           "pred_object": np.ones(n_p),
           "object_prior": float(opinion.object_prior)}
    if not 0 < out["object_prior"] < 1:
        raise LabelErrorInputError(f"opinion.object_prior must be strictly between 0 and 1, got {opinion.object_prior!r}.")
    for name, key, shape, order in (("object_prob", "object", (n_g,), g_order), ("box", "box", (n_g, 4), g_order),
                                    ("pred_object_prob", "pred_object", (n_p,), p_order),
                                    ("drawn_iou", "drawn_iou", (n_g,), g_order)):
        value = getattr(opinion, name)
        if value is None:
            continue
        value = np.asarray(value, np.float64)
        if value.shape != shape:
            raise LabelErrorInputError(f"opinion.{name} must have shape {shape} (one row per "
                                       f"{'prediction' if name.startswith('pred') else 'GT box'}), got {value.shape}.")
        estimate = name in ("box", "drawn_iou")  # NaN: no estimate
        if name != "box" and not (((value >= 0) & (value <= 1)) | (estimate & np.isnan(value))).all():
            raise LabelErrorInputError(f"opinion.{name} must be {'IoUs' if estimate else 'probabilities'} in [0, 1].")
        out[key] = value[order]
    return out


def class_probabilities(table, n_rows: int, categories, name: str = "pred_probs", row: str = "prediction") -> np.ndarray:
    """Class probabilities ``table`` (``name``, one row per ``row``) as an ``n_rows x len(categories)`` array,
    each row divided by its sum over ALL its columns."""
    if not isinstance(table, pd.DataFrame) or len(table) != n_rows:
        raise LabelErrorInputError(
            f"{name} must be a DataFrame with one row per {row} ({n_rows}) and one column per "
            f"category id, got {type(table).__name__} with {len(getattr(table, 'index', ()))} rows.")
    absent = [c for c in categories if c not in table.columns]
    if absent:
        raise LabelErrorInputError(f"{name} has no column for categories {', '.join(map(str, absent[:5]))}.")
    try:
        values = table.to_numpy(np.float64)
    except (TypeError, ValueError):
        raise LabelErrorInputError(f"{name} must hold numbers.") from None
    if not np.isfinite(values).all() or (values < 0).any() or (values.sum(1) <= 0).any():
        raise LabelErrorInputError(f"{name} must be finite, non-negative and positive in every row.")
    return (values / values.sum(1, keepdims=True))[:, table.columns.get_indexer(categories)]
