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
Every score is a probability-like combination of three ingredients, so that
the scores of different types are on one scale and can be ranked together.

1. **Calibrated confidence** ``c``: the probability that a prediction is a real
   object. Raw detector scores are not probabilities (and differ between
   models), so they are recalibrated *on the data itself*: a Platt fit (a
   logistic regression on ``logit(score)``) of "this prediction matches a GT
   box of its class at IoU >= ``match_iou``" against the score. This is what
   makes every threshold adapt to the model: an under-confident detector
   whose correct boxes score 0.3 gets ``c`` near 1 for them. The label noise
   itself (missing boxes make correct predictions look wrong) only lowers
   ``c`` uniformly and does not change the order. Predictions inside crowd
   or ignore regions are left out of the fit; with few predictions the fit is
   shrunk toward the raw score (see :func:`calibrate_confidence`).
2. **IoU terms**, smooth ramps instead of hard cut-offs (``ramp(u; lo, hi)`` is
   0 below ``lo``, 1 above ``hi``, linear between):

   * ``same(u) = ramp(u; *same_object_iou)`` -- probability that a prediction
     and a box overlapping at IoU ``u`` are about the same object;
   * ``good(u) = ramp(u; *good_box_iou)`` -- probability that the box agrees
     with the prediction (the box is drawn well). With ``good_box_iou="auto"``
     the ramp is placed from the detector's own localisation accuracy (see
     :func:`auto_good_box_iou`);
   * ``loc(u) = ramp(u; *low_iou_iou)`` -- the same question for ranking
     badly drawn boxes, over a wider range (0.5 to 0.9), so that a box at
     IoU 0.6 ranks above one at 0.8 instead of both being "fine";
   * ``support(u) = ramp(u; *support_iou)`` -- any overlap is some support
     that an object is at the box (0 to 0.5).
3. **Classes as exclusive hypotheses**: at one spot, a detector often puts
   boxes of several classes ("3" 0.4, "8" 0.3). The evidence of one class is
   its strongest prediction (*max*: boxes of one class are correlated, not
   independent evidence); the evidence that *some* object is there is the
   *sum* over classes of those maxima (capped at 1), since the classes
   exclude each other.
4. **Class probabilities** (optional ``pred_probs``: the detector's class
   distribution for each predicted box, e.g. its softmax). ``P_p(k)`` is the
   probability that the object prediction ``p`` sees is of class ``k``.
   Without ``pred_probs`` it is 1 for predictions of class ``k`` and 0 for the
   others, and the classes of the predictions at a box stand in for it.
5. **Priors**: a GT box is a real object with prior probability ``1 -
   spurious_prior``, and its label is wrong with prior ``wrong_class_prior``
   (a wrong label is any of the other ``K - 1`` classes alike). The detector's
   evidence updates them by Bayes' rule, so that rare, extreme evidence (a
   class probability of 0.001 against 0.05) is not flattened by the
   calibrated confidences it is multiplied with.

For a GT box ``g`` labelled ``k`` (predictions ``p`` of class ``cls(p)``,
IoU ``u``), with ``S_max`` = max within a class, summed over classes, capped at 1:

* ``fits(g) = S_max c_p * good(u)`` -- some object fits the box as drawn;
  ``fit_k(g)`` the same for class ``k`` only;
* ``q_k(g)`` -- the probability that the object at ``g`` is of class ``k``:
  the ``P_p(k)`` of the prediction behind each class's maximum in ``fits``,
  averaged with those maxima as weights;
* ``wrong_class(g) = obj(g) * w(q_k)``, where ``w(q) = r (1 - q) / (r (1 - q) + q)``
  with prior odds ``r = wrong_class_prior / ((1 - wrong_class_prior)(K - 1))``
  is the posterior that the label is wrong, and ``obj(g)`` updates the prior
  ``1 - spurious_prior`` by ``fits(g)`` (odds multiplied by ``fits / (1 - fits)``);
* ``low_iou(g) = moved(g) * (1 - S_max c_p * loc(u))`` with
  ``moved(g) = S_max c_p * same(u) * (1 - loc(u)) * (1 - w(P_p(k)))`` over
  predictions whose most overlapping GT box is ``g``: an object of ``g``'s
  class is there with another box, and nothing fits ``g`` as drawn;
* ``spurious(g) = 1 - obj_s(g)``, where ``obj_s`` updates the prior ``1 -
  spurious_prior`` by the support ``s(g) = S_max c_p * support(u)`` --
  nothing of any class overlaps ``g`` (a box with a weak detection scores
  low, as most labelled boxes are real). No support is weak evidence where
  the detector misses real objects of ``g``'s shape: with ``m(g)`` its miss
  rate there (:func:`detector_miss_rate`: a logistic regression, on log
  area and log aspect ratio, of "unseen" = ``s < spurious_prior``, where the
  support alone leaves a box likelier spurious than real; the spurious share
  removed; shrunk toward 0 with few boxes), the evidence odds are ``(1 - m)
  s / (1 - s) + m`` (a missed object gives the evidence of no object). A box
  with no prediction near it scores ``spurious_prior / (spurious_prior + (1
  - spurious_prior) m)``: 1 where the detector misses nothing, less where it
  often misses boxes of that shape (e.g. small or thin ones);
* ``duplicate(g) = ramp(IoU(g, h); *duplicate_iou) * (1 - own(g) * own(h))``
  for another GT box ``h`` of class ``k``, where ``own(g) = max c_p * good(u)``
  over predictions of class ``k`` whose best GT box of class ``k`` is ``g``:
  unless each box has a prediction of its own (two objects detected), the
  pair is one object. The box flagged is the one the predictions fit worse
  (``fit_k``), unless the two boxes' IoUs with their best predictions of
  class ``k`` differ by at most ``duplicate_fit_sd`` standard deviations of
  the detector's localisation noise (estimated as for ``good_box_iou="auto"``,
  see :func:`localisation_noise`): such a difference is the detector's noise,
  not evidence of the better box, and the later annotation (larger id, the
  one added second) is flagged, as when both fit equally.

For a prediction ``p``: ``missing(p) = object(p) * (1 - max_g same(IoU(p, g)))``
over GT boxes of any class (a box of another class on the object is a
``wrong_class`` matter, not a missing label), where ``object(p)`` sums the best
confidence of each class among the predictions overlapping ``p`` at IoU >=
``nms_iou`` (the spot); only the spot's highest-scoring prediction is kept,
and predictions inside a crowd / ignore region (intersection over the
prediction's area >= ``crowd_ioa``) score 0.

Candidates scoring below ``min_score`` are dropped. The default thresholds
and priors were chosen on one benchmark case ("demo" in
``tests/benchmarks/bench_label_errors_quality.py``) and checked on the others;
the ranking is insensitive to ``wrong_class_prior`` between 0.05 and 0.2.

Crowd (``iscrowd``) and ignore boxes are never candidates themselves, do not
count as missing-label coverage targets for calibration, and silence any
prediction inside them: it is no missing label, is left out of the
calibration fit, and is no evidence that a box there was moved (it may be
any of the region's unlabelled objects). It still supports, or contradicts
the class of, the real boxes it fits (COCO labels some people inside a crowd
region one by one).

Boxes are COCO ``[x, y, w, h]`` in any consistent unit (pixels, or fractions
of the image): only IoUs and intersection ratios are used, so scaling all
coordinates changes nothing.

**A second opinion from the images** (optional ``opinion``, a
:class:`BoxOpinion`): a weak detector confuses classes and places boxes
loosely, and then cannot tell a label error from its own mistake. A model
independent of the detector, e.g. :func:`analysis.label_errors.crop_classifier.crop_opinion`
(a CNN that judges each box's crop, each image by a model trained on the
other images' labels), adds what it sees at every GT box and prediction:

* class probabilities ``r``: its posterior that the label is wrong,
  ``w(r_k)``, is independent evidence: the posterior odds of a wrong label
  are ``odds(w(q_k)) * odds(w(r_k)) / prior odds`` (naive Bayes; the prior
  counted once);
* the probability ``o(g)`` that an object is at the box, computed under its
  training share of objects ``o_0``: ``spurious`` odds are multiplied by the
  likelihood ratio ``odds(1 - o(g)) / odds(1 - o_0)``;
* its estimate ``v(g)`` of the drawn box's IoU with the object (default:
  the IoU of the drawn box with its own box ``b(g)`` for the object):
  ``low_iou(g)`` is multiplied by ``1 - loc(v(g))``, the probability that
  it too sees the object elsewhere (both witnesses must agree; a product,
  not odds, since the detector's ``low_iou`` saturates near 1 and would
  drown the second witness; not times ``o(g)``, which is lower exactly
  where a badly drawn box shows less of its object);
* the probability that an object is at each prediction: ``missing(p)`` is
  multiplied by it in the same way.

Command line (COCO files in, ranked CSV out; ``--images DIR`` adds the crop
classifier's opinion)::

    python -m analysis.label_errors --gt GT.json --pred PRED.json --out OUT.csv [--images DIR]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.core.boxes import box_iou, to_xyxy
from analysis.label_errors.calibration import (
    auto_good_box_iou,
    calibrate_confidence,
    detector_miss_rate,
    localisation_noise,
)
from analysis.label_errors.candidates import assemble, boxes_at, candidates, duplicates, missing_labels
from analysis.label_errors.evidence import (
    best_matches,
    block_evidence,
    class_probabilities,
    combine_independent,
    second_opinion,
    with_prior,
    wrong_label_posterior,
)
from analysis.label_errors.pairs import pair_blocks, per_box
from analysis.label_errors.params import GT_COLUMNS, PRED_COLUMNS, BoxOpinion, LabelErrorInputError, Params, ramp


def frame_of(df, columns, what: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise LabelErrorInputError(f"{what} must be a pandas DataFrame, got {type(df).__name__}.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise LabelErrorInputError(f"{what} lacks columns {', '.join(missing)} (needs {', '.join(columns)}).")
    numeric = [c for c in columns if c not in ("image_id", "ann_id", "pred_id", "category_id")]
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


def flag(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df.columns:
        return np.zeros(len(df), dtype=bool)
    return df[column].fillna(0).astype(bool).to_numpy()


def find_detection_errors(gt: pd.DataFrame, pred: pd.DataFrame, pred_probs: pd.DataFrame | None = None,
                          opinion: BoxOpinion | None = None, **params) -> pd.DataFrame:
    """Rank label-error candidates of detection ground truth (see the module docstring).

    Args:
        gt: one row per GT box: ``image_id, ann_id, category_id, x, y, w, h``
            (COCO xywh, any unit consistent with ``pred``), optional boolean
            ``iscrowd`` and ``ignore`` (regions: never flagged, and they
            silence predictions inside them).
        pred: one row per predicted box: ``image_id, pred_id, category_id, x,
            y, w, h, score`` (score: detector confidence, higher = surer).
        pred_probs: optional class probabilities of the predictions: one row
            per row of ``pred`` (same order), one column per category id
            (every category of ``gt`` and ``pred`` needs one; more are allowed
            and each row is normalised over all of them).
        opinion: optional :class:`BoxOpinion`, a second opinion on each GT
            box from a model independent of the detector, e.g.
            :func:`analysis.label_errors.crop_classifier.crop_opinion`. Its evidence on the
            class, on whether an object is there and on where it is are
            combined with the detector's (see the module docstring).
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
    gt = frame_of(gt, GT_COLUMNS, "Ground truth")
    pred = frame_of(pred, PRED_COLUMNS, "Predictions")

    # Integer image codes shared by both tables; rows sorted by them so that
    # the same-image pairs can be generated block-wise.
    codes, images = pd.factorize(pd.concat([gt["image_id"], pred["image_id"]], ignore_index=True))
    g_order = np.argsort(codes[: len(gt)], kind="stable")
    p_order = np.argsort(codes[len(gt):], kind="stable")
    g_img, p_img = codes[: len(gt)][g_order], codes[len(gt):][p_order]
    g_box, p_box = to_xyxy(boxes_at(gt, g_order)), to_xyxy(boxes_at(pred, p_order))
    # classes may be ids or names; integer codes make the comparisons cheap
    cat_codes, categories = pd.factorize(pd.concat([gt["category_id"], pred["category_id"]], ignore_index=True))
    g_cls, p_cls = cat_codes[: len(gt)][g_order], cat_codes[len(gt):][p_order]
    probs = None if pred_probs is None else class_probabilities(pred_probs, len(pred), categories)[p_order]
    second = None if opinion is None else second_opinion(opinion, len(gt), len(pred), categories, g_order, p_order)
    g_cat = gt["category_id"].to_numpy()[g_order]
    p_cat = pred["category_id"].to_numpy()[p_order]
    p_raw = pred["score"].to_numpy(np.float64)[p_order]
    region = (flag(gt, "iscrowd") | flag(gt, "ignore"))[g_order]
    n_g = len(gt)

    real_g = ~region
    odds = p.wrong_class_prior / ((1 - p.wrong_class_prior) * max(1, len(categories) - 1))

    def blocks():
        return pair_blocks(g_img, g_box, p_img, p_box, real_g, g_cls, p_cls)

    # Pass 1: each box's best real match of its class. Calibration outcome: the prediction matches one.
    first = per_box(blocks(), lambda b: best_matches(b, p))
    # Inside a crowd / ignore region a prediction's outcome says nothing about calibration (the objects there
    # are unlabelled) and it is no missing label; it still supports the real boxes labelled there.
    silenced = first["silenced"]
    if p.calibrate:
        conf = calibrate_confidence(p_raw, first["best_iou_p"] >= p.match_iou, fit_on=~silenced)
    else:
        conf = np.clip(p_raw, 0, 1)
    best_iou_g, best_p = first["best_iou_g"], first["best_p"]
    has = best_p >= 0
    if p.good_box_iou == "auto":
        good_ramp = auto_good_box_iou(best_iou_g[has], conf[best_p[has]])
    else:
        good_ramp = tuple(p.good_box_iou)
    # Pass 2, with the calibrated confidences: the detector's evidence on every box.
    ev = per_box(blocks(), lambda b: block_evidence(b, conf, silenced, first["best_g"], good_ramp, probs, odds, p))

    # wrong_class: P(object fits g) x P(label k is wrong | the detector's class evidence)
    fit_total = ev["fit_total"]
    q_k = ev["class_fit"] / np.maximum(fit_total, 1e-300)
    label_wrong = wrong_label_posterior(q_k, odds)
    if second is not None:  # a second, independent opinion: its likelihood ratio multiplies the odds
        label_wrong = combine_independent(label_wrong, wrong_label_posterior(second["probs"][np.arange(n_g), g_cls], odds),
                                           p.wrong_class_prior)
    wrong_class = np.where(fit_total > 0, with_prior(np.minimum(1.0, fit_total), 1 - p.spurious_prior)
                           * label_wrong, 0.0)

    # low_iou: an object of g's class, nearest to g, whose box differs; and nothing fits g as drawn
    low_iou = np.minimum(1.0, ev["moved"]) * (1 - np.minimum(1.0, ev["fit_as_drawn"]))
    if second is not None and (second["drawn_iou"] is not None or second["box"] is not None):
        # the second opinion must also see the drawn box fit its object badly: both witnesses, taken as
        # independent, see the object moved (a box it has no estimate for keeps the detector's score). Not
        # times its objectness at the drawn box: a badly drawn box shows less of its object, so that would
        # doubt exactly the boxes sought (the detector's evidence already says an object is there).
        drawn_iou = second["drawn_iou"]
        if drawn_iou is None:
            drawn_iou = box_iou(boxes_at(gt, g_order), second["box"])
        seen = np.isfinite(drawn_iou)
        low_iou[seen] *= 1 - ramp(drawn_iou[seen], *p.low_iou_iou)

    # spurious: nothing of any class overlaps g (continuous support, no cut-off); a GT box is
    # a real object with prior 1 - spurious_prior, so weak support already makes it likely
    support = np.minimum(1.0, ev["support"])
    # ... unless the detector misses real objects of this shape: then no support is weak evidence.
    # "Unseen": support below spurious_prior, where it alone leaves the box likelier spurious than real.
    log_w, log_h = np.log(g_box[:, 2] - g_box[:, 0]), np.log(g_box[:, 3] - g_box[:, 1])
    recall = np.ones(n_g)
    recall[~region] = 1 - detector_miss_rate(support[~region] < p.spurious_prior,
                                             np.column_stack([log_w + log_h, log_w - log_h])[~region],
                                             p.spurious_prior)
    spurious = 1 - with_prior(support, 1 - p.spurious_prior, recall)
    if second is not None and second["object_given"]:
        spurious = combine_independent(spurious, 1 - second["object"], 1 - second["object_prior"])

    frames = []
    gt_rows = np.flatnonzero(~region)
    for kind, score, evidence in (
        ("low_iou", low_iou, "moved"),
        ("wrong_class", wrong_class, "other"),
        ("spurious", spurious, "support"),
    ):
        rows = gt_rows[(score[gt_rows] >= p.min_score) & (score[gt_rows] > 0)]
        frames.append(candidates(kind, score[rows], g=rows, p=ev[f"{evidence}_p"][rows],
                                  iou=ev[f"{evidence}_iou"][rows]))
    ann_rank = gt["ann_id"].rank(method="first").to_numpy()[g_order]
    noise = localisation_noise(best_iou_g[has], conf[best_p[has]])
    # fits closer than duplicate_fit_sd noise deviations are a tie (unknown noise: only equal fits)
    tie_iou = 0.0 if noise is None else p.duplicate_fit_sd * noise[1]
    frames.append(duplicates(g_img, g_box, g_cls, region, ev["label_fit"], best_iou_g, tie_iou,
                              ev["own_support"], ann_rank, p))
    # missing: nothing real of any class covers the prediction; a second opinion must also
    # see an object there (both witnesses, as for low_iou)
    uncovered = (1 - ev["covered"]) * (1.0 if second is None else second["pred_object"])
    frames.append(missing_labels(np.where(silenced, 0.0, conf), uncovered, ev["nearest"], p_cls, p_img, p_box, p))

    result = assemble(frames, gt, pred, images, g_img, p_img, g_order, p_order,
                       g_cat, p_cat, p_raw, conf)
    result.attrs["params"] = {**p.__dict__, "good_box_iou": tuple(good_ramp)}
    return result
