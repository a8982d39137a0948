"""One-to-one matching of truth and predicted boxes, shared by the human-in-the-loop and pre-labelling measurements.

Boxes come as tables with ``image_id``, ``category_id`` and ``x, y, w, h``
(any unit, the same for both tables), as read from FiftyOne by
:func:`analysis.data.detections.read_detections`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.core.boxes import box_iou
from analysis.core.errors import InputError

BOX = ["x", "y", "w", "h"]


def box_pairs(gt: pd.DataFrame, pred: pd.DataFrame) -> pd.DataFrame:
    """Every (truth, prediction) pair in the same image whose boxes overlap.

    Output columns: ``g`` and ``p`` (row positions in ``gt`` and ``pred``),
    ``iou`` (> 0) and ``same_class`` (bool).
    """
    a = pd.DataFrame({"image_id": gt["image_id"].to_numpy(), "g": np.arange(len(gt))})
    b = pd.DataFrame({"image_id": pred["image_id"].to_numpy(), "p": np.arange(len(pred))})
    pairs = a.merge(b, on="image_id")[["g", "p"]]
    g, p = pairs["g"].to_numpy(), pairs["p"].to_numpy()
    iou = box_iou(gt[BOX].to_numpy(float)[g], pred[BOX].to_numpy(float)[p])
    same = gt["category_id"].to_numpy()[g] == pred["category_id"].to_numpy()[p]
    keep = iou > 0
    return pd.DataFrame({"g": g[keep], "p": p[keep], "iou": iou[keep], "same_class": same[keep]})


def greedy_match(g: np.ndarray, p: np.ndarray, n_gt: int, n_pred: int) -> tuple[np.ndarray, np.ndarray]:
    """Match pairs one-to-one in the order given: a pair is taken when neither box is taken yet.

    Inputs: pair arrays ``g``, ``p`` in priority order. Output: for each truth
    box the matched prediction's position (-1: none) and for each prediction
    the matched truth box's position (-1: none).
    """
    gt_match, pred_match = np.full(n_gt, -1), np.full(n_pred, -1)
    for gi, pj in zip(g.tolist(), p.tolist()):
        if gt_match[gi] < 0 and pred_match[pj] < 0:
            gt_match[gi], pred_match[pj] = pj, gi
    return gt_match, pred_match


def check_boxes(gt: pd.DataFrame, pred: pd.DataFrame, score: str | None = None) -> None:
    """Refuse tables without the needed columns, or predictions without scores, with a one-line message."""
    for table, what, cols in ((gt, "truth", ["image_id", "category_id", *BOX]),
                              (pred, "prediction", ["image_id", "category_id", *BOX] + ([score] if score else []))):
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise InputError(f"The {what} boxes lack the columns {', '.join(missing)}.")
    if score and pred[score].isna().any():
        raise InputError(f"{int(pred[score].isna().sum())} predicted boxes have no confidence.")
