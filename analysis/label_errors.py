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
independent of the detector, e.g. :func:`analysis.crop_classifier.crop_opinion`
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

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from analysis.boxes import box_iou, to_xyxy
from analysis.errors import InputError

ERROR_TYPES = ("missing", "low_iou", "wrong_class", "spurious", "duplicate")
GT_COLUMNS = ("image_id", "ann_id", "category_id", "x", "y", "w", "h")
PRED_COLUMNS = ("image_id", "pred_id", "category_id", "x", "y", "w", "h", "score")
RESULT_COLUMNS = (
    "error_type", "score", "image_id", "ann_id", "x", "y", "w", "h", "pred_id",
    "iou", "pred_score", "pred_conf", "gt_category_id", "pred_category_id", "other_ann_id",
    "pred_x", "pred_y", "pred_w", "pred_h",
)
#: Pairs of boxes are tested in chunks of about this many (padded) cells, which bounds memory.
_PAIR_CHUNK = 1 << 18
#: The engine works on blocks of images with about this many candidate box pairs (see _pair_blocks).
_BLOCK_CELLS = 1 << 21


class LabelErrorInputError(InputError):
    """The boxes given to the label-error engine are malformed; the message says how."""


@dataclass(frozen=True)
class BoxOpinion:
    """A second opinion on every GT box from a model independent of the detector (rows follow the GT table).

    E.g. :func:`analysis.crop_classifier.crop_opinion`, a CNN that judges each
    box's image crop, trained out of fold on the other images' labels.

    * ``class_probs``: DataFrame, one column per category id: the class of
      the object at the box (rows are normalised).
    * ``object_prob`` (optional): probability that an object is at the box as
      drawn, computed under the prior ``object_prior`` (for a classifier,
      the share of object examples it was trained with).
    * ``box`` (optional): N x 4, the model's estimate of the object's box
      (xywh, the GT's unit; NaN = no estimate).
    * ``pred_object_prob`` (optional): per row of the predictions table,
      the model's probability that an object is at the predicted box.
    * ``drawn_iou`` (optional): N, the model's estimate of each drawn box's
      IoU with its object (NaN = no estimate); default: the IoU of the drawn
      box with ``box``.
    * ``attrs``: free-form facts about the model (recorded with runs).
    """

    class_probs: pd.DataFrame
    object_prob: np.ndarray | None = None
    object_prior: float = 0.5
    box: np.ndarray | None = None
    pred_object_prob: np.ndarray | None = None
    drawn_iou: np.ndarray | None = None
    attrs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Params:
    """Thresholds and priors of the engine (all IoU / ratios / shares are unitless, in [0, 1]).

    ``same_object_iou``, ``good_box_iou``, ``low_iou_iou``, ``support_iou`` and
    ``duplicate_iou`` are ``(lo, hi)`` ramps; ``good_box_iou="auto"`` derives
    it from the data. ``wrong_class_prior`` and ``spurious_prior`` are the
    expected shares of GT boxes with a wrong class and on no object.
    ``duplicate_fit_sd`` (standard deviations, >= 0) is how far apart the fits
    of a duplicate pair's boxes must be to decide which one is flagged: 2, the
    usual two-sided 95% level, so that the detector's own localisation noise
    does not pick the box; 0 trusts any difference.
    """

    same_object_iou: tuple = (0.1, 0.3)
    good_box_iou: tuple | str = (0.5, 0.7)
    low_iou_iou: tuple = (0.5, 0.9)
    support_iou: tuple = (0.0, 0.5)
    duplicate_iou: tuple = (0.5, 0.7)
    wrong_class_prior: float = 0.05
    spurious_prior: float = 0.05
    match_iou: float = 0.5
    crowd_ioa: float = 0.5
    nms_iou: float = 0.5
    min_score: float = 0.05
    calibrate: bool = True
    duplicate_fit_sd: float = 2.0

    def __post_init__(self):
        ramps = {"same_object_iou": self.same_object_iou, "duplicate_iou": self.duplicate_iou,
                 "low_iou_iou": self.low_iou_iou, "support_iou": self.support_iou}
        if self.good_box_iou != "auto":
            ramps["good_box_iou"] = self.good_box_iou
        for name, r in ramps.items():
            if not (isinstance(r, (tuple, list)) and len(r) == 2 and 0 <= r[0] < r[1] <= 1):
                raise LabelErrorInputError(f"{name} must be a pair (lo, hi) with 0 <= lo < hi <= 1, got {r!r}.")
        for name in ("match_iou", "crowd_ioa", "nms_iou", "min_score"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 <= v <= 1):
                raise LabelErrorInputError(f"{name} must be a number in [0, 1], got {v!r}.")
        if not (isinstance(self.duplicate_fit_sd, (int, float)) and 0 <= self.duplicate_fit_sd < float("inf")):
            raise LabelErrorInputError(f"duplicate_fit_sd must be a finite number >= 0, got {self.duplicate_fit_sd!r}.")
        for name in ("wrong_class_prior", "spurious_prior"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 < v < 1):
                raise LabelErrorInputError(f"{name} must be a share strictly between 0 and 1, got {v!r}.")


def ramp(u, lo: float, hi: float):
    """0 below ``lo``, 1 above ``hi``, linear between (element-wise)."""
    return np.clip((np.asarray(u, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)


# --------------------------------------------------------------------------- inputs


def _frame(df, columns, what: str) -> pd.DataFrame:
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


def _flag(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df.columns:
        return np.zeros(len(df), dtype=bool)
    return df[column].fillna(0).astype(bool).to_numpy()


# --------------------------------------------------------------------------- pairs


def _rows_padded(start, count, k):
    """Row index (m x k) of each image's boxes, padded with -1 past its count."""
    pos = np.arange(k)
    return np.where(pos < count[:, None], start[:, None] + pos, -1)


def _overlapping_pairs(img_a, xa, img_b, xb, *, upper_only=False):
    """All pairs (i, j) with ``img_a[i] == img_b[j]`` whose boxes intersect.

    ``img_a`` / ``img_b`` are sorted integer image codes, ``xa`` / ``xb`` the
    boxes as N x 4 xyxy arrays. Each image's pairs form a dense block, tested
    with broadcast comparisons, so only the intersecting pairs are ever
    indexed: images whose box counts round up to the same powers of two are
    padded to one block shape (at most 2x per side) and tested about
    ``_PAIR_CHUNK`` cells at a time, which bounds memory and keeps the work
    in cache. With ``upper_only`` (a is b) only pairs i < j are built.
    Returns ``ia, ib`` (sorted by ``ia``, then ``ib``), the pairs' IoU, and
    the intersection over the ``b`` box's area.
    """
    n_img = int(max(img_a.max(initial=-1), img_b.max(initial=-1))) + 1
    na, nb = np.bincount(img_a, minlength=n_img), np.bincount(img_b, minlength=n_img)
    start_a, start_b = np.cumsum(na) - na, np.cumsum(nb) - nb
    # images are padded to one block shape per bucket of similar box counts (within 2x)
    busy = np.flatnonzero((na > int(upper_only)) & (nb > 0))
    bucket = np.frexp(na[busy])[1] * 64 + np.frexp(nb[busy])[1]
    busy = busy[np.argsort(bucket, kind="stable")]
    bounds = np.flatnonzero(np.diff(np.sort(bucket))) + 1
    out = []
    for imgs in np.split(busy, bounds):
        if not len(imgs):
            continue
        ka, kb = int(na[imgs].max()), int(nb[imgs].max())
        tri = np.triu(np.ones((ka, kb), dtype=bool), 1) if upper_only else None
        step = max(1, _PAIR_CHUNK // (ka * kb))
        for lo in range(0, len(imgs), step):
            part = imgs[lo:lo + step]
            ra, rb = _rows_padded(start_a[part], na[part], ka), _rows_padded(start_b[part], nb[part], kb)
            a, b = np.take(xa, np.maximum(ra, 0), axis=0), np.take(xb, np.maximum(rb, 0), axis=0)
            a[ra < 0], b[rb < 0] = np.nan, np.nan  # padding: NaN compares false, so it pairs with nothing
            a4, b4 = a[:, :, None, :], b[:, None, :, :]
            hit = ((a4[..., 0] < b4[..., 2]) & (b4[..., 0] < a4[..., 2])
                   & (a4[..., 1] < b4[..., 3]) & (b4[..., 1] < a4[..., 3]))
            if tri is not None:
                hit &= tri
            cell = np.flatnonzero(hit)  # (image, i, j) flattened: i over ka, j over kb
            sa, sb = cell // kb, cell // (ka * kb) * kb + cell % kb
            ca, cb = np.take(a.reshape(-1, 4), sa, axis=0), np.take(b.reshape(-1, 4), sb, axis=0)
            inter = ((np.minimum(ca[:, 2], cb[:, 2]) - np.maximum(ca[:, 0], cb[:, 0]))
                     * (np.minimum(ca[:, 3], cb[:, 3]) - np.maximum(ca[:, 1], cb[:, 1])))
            keep = inter > 0  # x + w can round to x for boxes far thinner than their coordinates
            if not keep.all():
                sa, sb, ca, cb, inter = sa[keep], sb[keep], ca[keep], cb[keep], inter[keep]
            area_a = (ca[:, 2] - ca[:, 0]) * (ca[:, 3] - ca[:, 1])
            area_b = (cb[:, 2] - cb[:, 0]) * (cb[:, 3] - cb[:, 1])
            out.append((ra.ravel()[sa], rb.ravel()[sb], inter / (area_a + area_b - inter), inter / area_b))
    if not out:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    ia, ib, iou, ioa_b = (np.concatenate(c) for c in zip(*out))
    if np.any(ia[1:] < ia[:-1]):  # buckets interleave: one stable merge of their sorted runs
        o = np.argsort(ia, kind="stable")
        ia, ib, iou, ioa_b = ia[o], ib[o], iou[o], ioa_b[o]
    return ia, ib, iou, ioa_b


class _Runs:
    """Pairs sorted into runs of equal keys: per run, the largest value and the first pair holding it.

    Sorted ``keys`` (as ``ia`` from :func:`_overlapping_pairs`) skip the sort.
    """

    def __init__(self, keys: np.ndarray):
        self.order = None if np.all(keys[1:] >= keys[:-1]) else np.argsort(keys, kind="stable")
        k = keys if self.order is None else keys[self.order]
        self.starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]]) if len(k) else np.zeros(0, np.int64)
        self.keys = k[self.starts]
        self.lens = np.diff(np.r_[self.starts, len(k)])
        self.run = np.repeat(np.arange(len(self.starts)), self.lens)  # each sorted pair's run

    def top(self, values: np.ndarray):
        """The values in run order, and each run's largest value."""
        v = values if self.order is None else values[self.order]
        return v, (np.maximum.reduceat(v, self.starts) if len(v) else np.zeros(0))

    def first_of_top(self, v: np.ndarray, top: np.ndarray) -> np.ndarray:
        """For each run whose top is positive: the position (in ``v``) of the first pair holding it."""
        # NaN equals nothing, so runs without a positive top have no hits
        hits = np.flatnonzero(v == np.repeat(np.where(top > 0, top, np.nan), self.lens))
        run = self.run[hits]
        return hits[np.r_[True, run[1:] != run[:-1]]] if len(hits) else hits

    def pairs(self, positions: np.ndarray) -> np.ndarray:
        """Pair indices (input order) of positions in run order."""
        return positions if self.order is None else self.order[positions]


class _ClassGroups:
    """Pairs grouped by (group, class): per group, the sum over classes of each class's max.

    One sort of the pairs by ``group * n_classes + class`` serves every value array.
    """

    def __init__(self, group: np.ndarray, cls: np.ndarray, n: int):
        self.n = n
        n_cls = int(cls.max(initial=0)) + 1
        self.runs = _Runs(group.astype(np.int64) * n_cls + cls)
        self.group = self.runs.keys // n_cls

    def sum_of_max(self, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Per group: the sum over classes of each class's largest value.

        With ``weights`` (one per pair), each class's largest positive value is
        multiplied by the weight of the pair that holds it (the first, on ties).
        """
        v, top = self.runs.top(values)
        if weights is not None:
            top[top > 0] *= weights[self.runs.pairs(self.runs.first_of_top(v, top))]
        return np.bincount(self.group, weights=top, minlength=self.n).astype(np.float64)


class _Groups:
    """Pairs grouped by one of their sides (groups 0..n-1), for per-group max / argmax in O(n)."""

    def __init__(self, keys: np.ndarray, n: int):
        self.n = n
        self.runs = _Runs(keys)

    def max(self, values: np.ndarray) -> np.ndarray:
        """Per group: the largest positive value (0 if none)."""
        best = np.zeros(self.n)
        _, top = self.runs.top(values)
        ok = top > 0
        best[self.runs.keys[ok]] = top[ok]
        return best

    def argmax(self, values: np.ndarray):
        """Per group: the largest positive value (0 if none) and its pair index (-1 if none)."""
        best = np.zeros(self.n)
        arg = np.full(self.n, -1, dtype=np.int64)
        v, top = self.runs.top(values)
        ok = top > 0
        best[self.runs.keys[ok]] = top[ok]
        arg[self.runs.keys[ok]] = self.runs.pairs(self.runs.first_of_top(v, top))
        return best, arg


# --------------------------------------------------------------------------- calibration


def calibrate_confidence(scores: np.ndarray, is_match: np.ndarray, prior_n: int = 100,
                         fit_on: np.ndarray | None = None) -> np.ndarray:
    """Platt-calibrate detector scores into P(prediction is a real object).

    Fits ``P(match) = sigmoid(a * logit(score) + b)`` by logistic regression on
    the predictions' match outcomes (``is_match``: matched a GT box of its
    class), on the predictions ``fit_on`` (a boolean mask; default all), and
    returns the calibrated score of every prediction. Scores outside [0, 1]
    are used as they are instead of their logit. The slope is kept
    non-negative (a higher score never means a lower probability). With few
    fitted predictions the fit is unreliable, so it is shrunk toward the
    detector's own (clipped) score with weight ``n / (n + prior_n)``; with
    only one outcome present the clipped score is returned.
    """
    scores = np.asarray(scores, dtype=np.float64)
    fit_on = np.ones(len(scores), dtype=bool) if fit_on is None else np.asarray(fit_on, dtype=bool)
    is_match = np.asarray(is_match, dtype=bool)[fit_on]
    if len(is_match) == 0 or is_match.all() or not is_match.any():
        return np.clip(scores, 0, 1)
    in_unit = scores.min() >= 0 and scores.max() <= 1
    z = np.log(np.clip(scores, 1e-6, 1 - 1e-6) / np.clip(1 - scores, 1e-6, 1)) if in_unit else scores
    z_fit = z[fit_on]
    # two parameters need far fewer points than millions of boxes
    sub = np.random.default_rng(0).choice(len(z_fit), 200_000, replace=False) if len(z_fit) > 200_000 else slice(None)
    a, b = _fit_logistic(z_fit[sub, None], is_match[sub].astype(np.float64))
    fitted = np.full(len(z), is_match.mean()) if a <= 0 else 1.0 / (1.0 + np.exp(-(a * z + b)))
    w = len(z_fit) / (len(z_fit) + prior_n)
    return w * fitted + (1 - w) * np.clip(scores, 0, 1)


def _fit_logistic(z: np.ndarray, y: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Maximum-likelihood weights of ``P(y) = sigmoid(z @ w[:-1] + w[-1])`` by Newton's method.

    ``z`` is N x F (one column per covariate); the intercept is ``w[-1]``.
    A tiny ridge (1e-6) keeps it finite when the classes separate.
    """
    X = np.column_stack([z, np.ones(len(z))])
    w = np.zeros(X.shape[1])
    for _ in range(iterations):
        q = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -30, 30)))
        grad = X.T @ (q - y) + 1e-6 * w
        hess = (X * (q * (1 - q))[:, None]).T @ X + 1e-6 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def detector_miss_rate(unseen: np.ndarray, geometry: np.ndarray, spurious_prior: float,
                       prior_n: int = 100) -> np.ndarray:
    """Share of the real objects shaped like each GT box that the detector misses.

    ``unseen`` flags the GT boxes that the predictions leave unseen, and
    ``geometry`` (N x F) describes each box (the engine uses log area and
    log aspect ratio: detectors miss small and thin objects more often). A
    logistic regression of ``unseen`` on the standardised geometry gives
    ``P(unseen | shape)``; spurious boxes (share ``spurious_prior``) are
    unseen by nature, so the miss rate of real boxes is ``(P(unseen) -
    spurious_prior) / (1 - spurious_prior)``, clipped to [0, 1]. With few
    boxes the fit is unreliable, so it is shrunk toward 0 (a detector that
    sees every object) with weight ``n / (n + prior_n)``, as in
    :func:`calibrate_confidence`. Returns one rate per box, in [0, 1].
    """
    unseen = np.asarray(unseen, dtype=bool)
    geometry = np.asarray(geometry, dtype=np.float64)
    geometry = geometry[:, None] if geometry.ndim == 1 else geometry
    n = len(unseen)
    if n == 0 or not unseen.any():
        return np.zeros(n)
    if unseen.all():
        share = np.ones(n)
    else:
        z = (geometry - geometry.mean(0)) / np.maximum(geometry.std(0), 1e-12)
        sub = np.random.default_rng(0).choice(n, 200_000, replace=False) if n > 200_000 else slice(None)
        w = _fit_logistic(z[sub], unseen[sub].astype(np.float64))
        share = 1.0 / (1.0 + np.exp(-np.clip(z @ w[:-1] + w[-1], -30, 30)))
    miss = np.clip((share - spurious_prior) / (1 - spurious_prior), 0.0, 1.0)
    return miss * n / (n + prior_n)


def localisation_noise(best_iou: np.ndarray, conf: np.ndarray) -> tuple[float, float] | None:
    """The detector's localisation error on well-drawn boxes: ``(m, s)``, or None with too few of them.

    ``best_iou`` is each GT box's IoU with its best same-class prediction and
    ``conf`` that prediction's calibrated confidence. Among confident (c >=
    0.5), clearly matching (IoU >= 0.5) pairs -- mostly well-drawn boxes -- the
    error ``e = 1 - IoU`` has median ``m`` and robust standard deviation ``s``
    (1.4826 x the median absolute deviation, at least 0.02 so that a perfect
    detector still has some tolerance). None with fewer than 20 such pairs.
    """
    e = 1 - best_iou[(conf >= 0.5) & (best_iou >= 0.5)]
    if len(e) < 20:
        return None
    m = float(np.median(e))
    return m, max(float(np.median(np.abs(e - m))) * 1.4826, 0.02)


def auto_good_box_iou(best_iou: np.ndarray, conf: np.ndarray) -> tuple[float, float]:
    """Place the ``good_box_iou`` ramp from the detector's localisation accuracy.

    With the detector's localisation error ``m`` and its spread ``s`` (see
    :func:`localisation_noise`, same inputs), the ramp runs from ``1 - (m +
    6s)`` (0: far outside what this detector does on good boxes) to ``1 - (m
    + 2s)`` (1), bounded to [0.3, 0.9]. Falls back to (0.5, 0.7) with fewer
    than 20 such pairs.
    """
    noise = localisation_noise(best_iou, conf)
    if noise is None:
        return (0.5, 0.7)
    m, s = noise
    hi = float(np.clip(1 - (m + 2 * s), 0.35, 0.9))
    lo = float(np.clip(1 - (m + 6 * s), 0.3, hi - 0.05))
    return (lo, hi)


# --------------------------------------------------------------------------- engine


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
            :func:`analysis.crop_classifier.crop_opinion`. Its evidence on the
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
    gt = _frame(gt, GT_COLUMNS, "Ground truth")
    pred = _frame(pred, PRED_COLUMNS, "Predictions")

    # Integer image codes shared by both tables; rows sorted by them so that
    # the same-image pairs can be generated block-wise.
    codes, images = pd.factorize(pd.concat([gt["image_id"], pred["image_id"]], ignore_index=True))
    g_order = np.argsort(codes[: len(gt)], kind="stable")
    p_order = np.argsort(codes[len(gt):], kind="stable")
    g_img, p_img = codes[: len(gt)][g_order], codes[len(gt):][p_order]
    g_box, p_box = to_xyxy(_boxes_at(gt, g_order)), to_xyxy(_boxes_at(pred, p_order))
    # classes may be ids or names; integer codes make the comparisons cheap
    cat_codes, categories = pd.factorize(pd.concat([gt["category_id"], pred["category_id"]], ignore_index=True))
    g_cls, p_cls = cat_codes[: len(gt)][g_order], cat_codes[len(gt):][p_order]
    probs = None if pred_probs is None else _probs(pred_probs, len(pred), categories)[p_order]
    second = None if opinion is None else _second_opinion(opinion, len(gt), len(pred), categories, g_order, p_order)
    g_cat = gt["category_id"].to_numpy()[g_order]
    p_cat = pred["category_id"].to_numpy()[p_order]
    p_raw = pred["score"].to_numpy(np.float64)[p_order]
    region = (_flag(gt, "iscrowd") | _flag(gt, "ignore"))[g_order]
    n_g, n_p = len(gt), len(pred)

    real_g = ~region
    odds = p.wrong_class_prior / ((1 - p.wrong_class_prior) * max(1, len(categories) - 1))

    def blocks():
        return _pair_blocks(g_img, g_box, p_img, p_box, real_g, g_cls, p_cls)

    # Pass 1: each box's best real match of its class. Calibration outcome: the prediction matches one.
    first = _per_box(blocks(), lambda b: _best_matches(b, p))
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
    ev = _per_box(blocks(), lambda b: _block_evidence(b, conf, silenced, first["best_g"], good_ramp, probs, odds, p))

    # wrong_class: P(object fits g) x P(label k is wrong | the detector's class evidence)
    fit_total = ev["fit_total"]
    q_k = ev["class_fit"] / np.maximum(fit_total, 1e-300)
    label_wrong = _label_wrong(q_k, odds)
    if second is not None:  # a second, independent opinion: its likelihood ratio multiplies the odds
        label_wrong = _combine_independent(label_wrong, _label_wrong(second["probs"][np.arange(n_g), g_cls], odds),
                                           p.wrong_class_prior)
    wrong_class = np.where(fit_total > 0, _with_prior(np.minimum(1.0, fit_total), 1 - p.spurious_prior)
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
            drawn_iou = box_iou(_boxes_at(gt, g_order), second["box"])
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
    spurious = 1 - _with_prior(support, 1 - p.spurious_prior, recall)
    if second is not None and second["object_given"]:
        spurious = _combine_independent(spurious, 1 - second["object"], 1 - second["object_prior"])

    frames = []
    gt_rows = np.flatnonzero(~region)
    for kind, score, evidence in (
        ("low_iou", low_iou, "moved"),
        ("wrong_class", wrong_class, "other"),
        ("spurious", spurious, "support"),
    ):
        rows = gt_rows[(score[gt_rows] >= p.min_score) & (score[gt_rows] > 0)]
        frames.append(_candidates(kind, score[rows], g=rows, p=ev[f"{evidence}_p"][rows],
                                  iou=ev[f"{evidence}_iou"][rows]))
    ann_rank = gt["ann_id"].rank(method="first").to_numpy()[g_order]
    noise = localisation_noise(best_iou_g[has], conf[best_p[has]])
    # fits closer than duplicate_fit_sd noise deviations are a tie (unknown noise: only equal fits)
    tie_iou = 0.0 if noise is None else p.duplicate_fit_sd * noise[1]
    frames.append(_duplicates(g_img, g_box, g_cls, region, ev["label_fit"], best_iou_g, tie_iou,
                              ev["own_support"], ann_rank, p))
    # missing: nothing real of any class covers the prediction; a second opinion must also
    # see an object there (both witnesses, as for low_iou)
    uncovered = (1 - ev["covered"]) * (1.0 if second is None else second["pred_object"])
    frames.append(_missing(np.where(silenced, 0.0, conf), uncovered, ev["nearest"], p_cls, p_img, p_box, p))

    result = _assemble(frames, gt, pred, images, g_img, p_img, g_order, p_order,
                       g_cat, p_cat, p_raw, conf)
    result.attrs["params"] = {**p.__dict__, "good_box_iou": tuple(good_ramp)}
    return result


def _pair_blocks(g_img, g_box, p_img, p_box, real_g, g_cls, p_cls):
    """The images in blocks of about ``_BLOCK_CELLS`` candidate pairs, each with its intersecting pairs.

    A box's pairs all lie in its image's block, so per-box reductions over a
    block are complete, while every per-pair array stays block-sized (in
    cache, and no large temporaries). Yields namespaces: ``g, p`` (slices of
    the image-sorted GT / prediction rows), ``gi, pi`` (each pair's rows,
    relative to those slices), ``iou, p_ioa`` (see :func:`_overlapping_pairs`),
    ``real`` (the GT box is no crowd / ignore region), ``gt_cls, pred_cls``,
    ``sel`` (real and of one class) and ``by_gt, by_pred`` (:class:`_Groups`).
    """
    n_img = int(max(g_img.max(initial=-1), p_img.max(initial=-1))) + 1
    cells = np.bincount(g_img, minlength=n_img) * np.bincount(p_img, minlength=n_img)
    block = (np.cumsum(cells) - cells) // _BLOCK_CELLS
    edges = np.r_[0, np.flatnonzero(np.diff(block)) + 1, n_img]
    g_edges, p_edges = np.searchsorted(g_img, edges), np.searchsorted(p_img, edges)
    for k in range(len(edges) - 1):
        g, q = slice(g_edges[k], g_edges[k + 1]), slice(p_edges[k], p_edges[k + 1])
        gi, pi, iou, p_ioa = _overlapping_pairs(g_img[g] - edges[k], g_box[g], p_img[q] - edges[k], p_box[q])
        real, gt_cls, pred_cls = real_g[g][gi], g_cls[g][gi], p_cls[q][pi]
        yield SimpleNamespace(g=g, p=q, gi=gi, pi=pi, iou=iou, p_ioa=p_ioa, real=real, gt_cls=gt_cls,
                              pred_cls=pred_cls, sel=(gt_cls == pred_cls) & real,
                              by_gt=_Groups(gi, g.stop - g.start), by_pred=_Groups(pi, q.stop - q.start))


def _per_box(blocks, evidence) -> dict:
    """``evidence(block)`` on every block of :func:`_pair_blocks`, its per-box arrays joined in row order."""
    parts = [evidence(b) for b in blocks]
    return {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}


def _best_matches(b, p: Params) -> dict:
    """Pass 1 on a block: each box's best real match of its class, and the predictions in crowd / ignore regions."""
    match_iou = np.where(b.sel, b.iou, 0.0)
    best_iou_g, g_pair = b.by_gt.argmax(match_iou)
    best_iou_p, p_pair = b.by_pred.argmax(match_iou)
    silenced = np.zeros(b.by_pred.n, dtype=bool)
    silenced[b.pi[~b.real & (b.p_ioa >= p.crowd_ioa)]] = True
    return {"best_iou_g": best_iou_g, "best_p": _take(b.pi + b.p.start, g_pair, -1),
            "best_iou_p": best_iou_p, "best_g": _take(b.gi + b.g.start, p_pair, -1), "silenced": silenced}


def _block_evidence(b, conf, silenced, best_g, good_ramp, probs, odds: float, p: Params) -> dict:
    """Pass 2 on a block: the detector's evidence on each box, summed over its pairs.

    Per GT box: the sums over classes of each class's best pair (see
    :class:`_ClassGroups`) behind ``wrong_class`` (``fit_total``, and
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
    by_cls = _ClassGroups(gi, b.pred_cls, b.by_gt.n)
    # a box's own support: predictions of its class whose best GT box of that class it is
    own = best_g[b.p][b.pi] == gi + b.g.start
    pk = (b.gt_cls == b.pred_cls).astype(np.float64) if probs is None else probs[b.p][b.pi, b.gt_cls]
    loc = ramp(iou, *p.low_iou_iou)
    _, nearest_pair = b.by_pred.argmax(np.where(real, iou, 0.0))
    nearest_g = np.zeros(len(gi), dtype=bool)
    nearest_g[nearest_pair[nearest_pair >= 0]] = True
    # P(the prediction's object is of class k): with class probabilities, the
    # complement of the wrong-label posterior for that prediction alone; without, unknown (1)
    k_right = 1.0 if probs is None else 1 - _label_wrong(pk, odds)
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
        "nearest": _take(iou, nearest_pair, 0.0),
    }
    for name, values in (("other", np.where(sel, 0.0, fit_pairs)), ("moved", moved_pairs),
                         ("support", support_pairs)):
        _, pair = b.by_gt.argmax(values)
        out[f"{name}_p"], out[f"{name}_iou"] = _take(b.pi + b.p.start, pair, -1), _take(iou, pair, np.nan)
    return out


def _label_wrong(q_k: np.ndarray, odds: float) -> np.ndarray:
    """Posterior that a label k is wrong when the detector gives class k probability ``q_k``.

    ``odds`` are the prior odds of one particular wrong class against the
    label: ``r (1 - q) / (r (1 - q) + q)``.
    """
    return odds * (1 - q_k) / np.maximum(odds * (1 - q_k) + q_k, 1e-300)


def _combine_independent(post_a: np.ndarray, post_b: np.ndarray, prior: float) -> np.ndarray:
    """Posterior of a hypothesis from two posteriors computed from independent evidence and the same ``prior``.

    Posterior odds = odds_a x odds_b / prior odds (the prior counted once).
    """
    def odds(q):
        q = np.clip(q, 1e-12, 1 - 1e-12)
        return q / (1 - q)
    o = odds(post_a) * odds(post_b) / odds(prior)
    return o / (1 + o)


def _with_prior(prob: np.ndarray, prior: float, recall=1.0) -> np.ndarray:
    """Bayes' update of ``prior`` by evidence ``prob`` obtained under even odds: posterior odds = prior odds x prob odds.

    ``recall`` (scalar or per element, in [0, 1]) is the chance that the
    evidence was gathered at all: a detector that missed a real object gives
    evidence distributed as for no object, so the likelihood ratio becomes
    ``recall * prob odds + (1 - recall)`` (1 - recall = uninformative).
    """
    evidence = recall * prob / np.maximum(1 - prob, 1e-12) + (1 - recall)
    return prior * evidence / np.maximum(prior * evidence + 1 - prior, 1e-300)


def _second_opinion(opinion: BoxOpinion, n_g: int, n_p: int, categories, g_order: np.ndarray,
                    p_order: np.ndarray) -> dict:
    """``opinion``'s arrays checked and in the engine's (image-sorted) GT and prediction order."""
    if not isinstance(opinion, BoxOpinion):
        raise LabelErrorInputError(f"opinion must be a BoxOpinion, got {type(opinion).__name__}.")
    out = {"probs": _probs(opinion.class_probs, n_g, categories, "opinion.class_probs", "GT box")[g_order],
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


def _probs(table, n_rows: int, categories, name: str = "pred_probs", row: str = "prediction") -> np.ndarray:
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


def _duplicates(g_img, g_box, g_cls, region, label_fit, fit_iou, tie_iou, own_support, ann_rank,
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
    a, b, iou, _ = _overlapping_pairs(group, g_box[rows], group, g_box[rows], upper_only=True)
    a, b = rows[a], rows[b]  # a < b: rows ascend within a group
    by_rows = np.lexsort((b, a))  # ties below go to the first pair in row order
    a, b = a[by_rows], b[by_rows]
    iou = iou[by_rows]
    tie = (label_fit[a] == label_fit[b]) | (np.abs(fit_iou[a] - fit_iou[b]) <= tie_iou)
    flag_a = np.where(tie, ann_rank[a] > ann_rank[b], label_fit[a] < label_fit[b])
    flagged = np.where(flag_a, a, b)
    partner = np.where(flag_a, b, a)
    score = ramp(iou, *p.duplicate_iou) * (1 - own_support[a] * own_support[b])
    best, arg = _Groups(flagged, len(g_img)).argmax(score)
    rows = np.flatnonzero((best >= p.min_score) & (arg >= 0))
    return _candidates("duplicate", best[rows], g=rows, iou=iou[arg[rows]], other_g=partner[arg[rows]])


def _missing(conf, uncovered, nearest, p_cls, p_img, p_box, p: Params) -> dict:
    """``missing`` candidates: P(object at the prediction) x P(no GT box covers it), one per spot.

    Predictions overlapping at IoU >= ``nms_iou`` are one spot; the object
    probability of a spot sums the best confidence of each class there
    (classes are exclusive hypotheses), and only the spot's highest-scoring
    prediction is kept (one vectorised pass: a dropped box still drops others
    it overlaps). Predictions scoring below 1% alone are not considered.
    """
    cand = np.flatnonzero(conf * uncovered >= 0.01)
    a, b, iou, _ = _overlapping_pairs(p_img[cand], p_box[cand], p_img[cand], p_box[cand], upper_only=True)
    close = iou >= p.nms_iou
    a, b = a[close], b[close]
    selves = np.arange(len(cand))
    group, member = np.r_[a, b, selves], np.r_[b, a, selves]
    spot = np.minimum(1.0, _ClassGroups(group, p_cls[cand[member]], len(cand)).sum_of_max(conf[cand[member]]))
    score = spot * uncovered[cand]
    keep = np.ones(len(cand), dtype=bool)
    keep[np.where(score[a] >= score[b], b, a)] = False
    keep &= (score >= p.min_score) & (score > 0)
    # evidence: IoU with the most overlapping real GT box (0 when none touches it)
    return _candidates("missing", score[keep], p=cand[keep], iou=nearest[cand[keep]])


def _take(values: np.ndarray, idx: np.ndarray, fill=None):
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


def _boxes_at(table: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """``x, y, w, h`` of ``table``'s rows at positions ``rows`` (N x 4, as given), NaN where ``rows == -1``."""
    out = np.full((len(rows), 4), np.nan)
    has = rows >= 0
    for i, column in enumerate("xywh"):
        out[has, i] = table[column].to_numpy(np.float64)[rows[has]]
    return out


def _candidates(kind: str, score, g=-1, p=-1, iou=np.nan, other_g=-1) -> dict:
    """Internal candidate columns (positions in the image-sorted arrays, -1 = none)."""
    n = len(score)
    return {"type": np.full(n, ERROR_TYPES.index(kind), dtype=np.int8), "score": np.asarray(score, np.float64),
            **{k: np.broadcast_to(v, n) for k, v in (("g", g), ("p", p), ("iou", iou), ("other_g", other_g))}}


def _assemble(frames, gt, pred, images, g_img, p_img, g_order, p_order,
              g_cat, p_cat, p_raw, conf) -> pd.DataFrame:
    """Turn internal candidate columns into the public table, sorted by score."""
    cols = {k: np.concatenate([f[k] for f in frames]) for k in frames[0]}
    order = np.argsort(-cols["score"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    g, pp, og = cols["g"], cols["p"], cols["other_g"]
    on_gt = g >= 0
    # the boxes as given (x + w - x need not give w back in floating point)
    g_xywh, p_xywh = _boxes_at(gt, _take(g_order, g, -1)), _boxes_at(pred, _take(p_order, pp, -1))
    ann_ids = gt["ann_id"].to_numpy()[g_order]
    img_code = np.where(on_gt, _take(g_img, g, -1), _take(p_img, pp, -1))
    return pd.DataFrame({
        "error_type": pd.Categorical.from_codes(cols["type"], categories=list(ERROR_TYPES)),
        "score": cols["score"],
        "image_id": images.take(img_code) if len(img_code) else images[:0],
        "ann_id": _take(ann_ids, g),
        # the CLI's contract columns come first, in its order: readers may take them by position
        **{k: np.where(on_gt, g_xywh[:, i], p_xywh[:, i]) for i, k in enumerate("xywh")},
        "pred_id": _take(pred["pred_id"].to_numpy()[p_order], pp),
        "iou": cols["iou"],
        "pred_score": _take(p_raw, pp, np.nan),
        "pred_conf": _take(conf, pp, np.nan),
        "gt_category_id": _take(g_cat, g),
        "pred_category_id": _take(p_cat, pp),
        "other_ann_id": _take(ann_ids, og),
        **{f"pred_{k}": p_xywh[:, i] for i, k in enumerate("xywh")},
    })


# --------------------------------------------------------------------------- COCO files and CLI


def coco_to_frames(instances: dict, results: list, *, skip_invalid: bool = False):
    """GT, prediction and class-probability tables for :func:`find_detection_errors` from parsed COCO dicts.

    ``instances`` is COCO instances JSON (``iscrowd`` and an optional
    ``ignore`` flag are kept), ``results`` a COCO results list; both are
    validated with :mod:`analysis.coco` first (raises its ``InputError``;
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
    from analysis import coco

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
    return gt, pred, _class_probs(results, sorted(c["id"] for c in instances["categories"]))


def _class_probs(results: list, category_ids: list) -> pd.DataFrame | None:
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
    (:func:`analysis.crop_classifier.crop_opinion`).
    """
    from analysis.coco import load_json

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
        from analysis.crop_classifier import crop_opinion

        paths = {im["id"]: Path(images) / im.get("file_name", "") for im in instances.get("images", [])}
        opinion = crop_opinion(gt, paths, pred)
    return find_detection_errors(gt, pred, pred_probs=pred_probs, opinion=opinion, **params)


def _good_box_iou(text: str):
    """``--good-box-iou``: ``auto`` or two IoUs ``lo,hi``."""
    try:
        return text if text == "auto" else tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--good-box-iou takes 'auto' or two IoUs like 0.5,0.9, got {text!r}") from None


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
    parser.add_argument("--images", default=None,
                        help="folder of the images (COCO file_name relative to it): also judge every box by a "
                             "CNN of its crop (class, object or not, where), trained out of fold on the labels")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="drop invalid annotations / predictions instead of stopping")
    args = parser.parse_args(argv)
    params = {"min_score": args.min_score}
    try:
        if args.good_box_iou:
            params["good_box_iou"] = _good_box_iou(args.good_box_iou)
        result = run_files(args.gt, args.pred, skip_invalid=args.skip_invalid, images=args.images, **params)
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
    # run the importable module's main, so that its classes (BoxOpinion) are the ones other modules import
    from analysis.label_errors import main as module_main

    sys.exit(module_main())
