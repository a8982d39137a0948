"""The label-error engine's contract: error types, input and result columns, its input error, the second
opinion's shape (:class:`BoxOpinion`), every threshold (:class:`Params`) and the soft IoU ramp they use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.core.errors import InputError

ERROR_TYPES = ("missing", "low_iou", "wrong_class", "spurious", "duplicate")


GT_COLUMNS = ("image_id", "ann_id", "category_id", "x", "y", "w", "h")


PRED_COLUMNS = ("image_id", "pred_id", "category_id", "x", "y", "w", "h", "score")


RESULT_COLUMNS = (
    "error_type", "score", "image_id", "ann_id", "x", "y", "w", "h", "pred_id",
    "iou", "pred_score", "pred_conf", "gt_category_id", "pred_category_id", "other_ann_id",
    "pred_x", "pred_y", "pred_w", "pred_h",
)


class LabelErrorInputError(InputError):
    """The boxes given to the label-error engine are malformed; the message says how."""


@dataclass(frozen=True)
class BoxOpinion:
    """A second opinion on every GT box from a model independent of the detector (rows follow the GT table).

    E.g. :func:`analysis.label_errors.crop_classifier.crop_opinion`, a CNN that judges each
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
