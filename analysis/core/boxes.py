"""Box geometry shared by the label-error engine, the crop classifier, the detector and the synthetic scenes.

Boxes are arrays of shape (N, 4): COCO ``xywh`` (left, top, width, height)
or corners ``xyxy`` (left, top, right, bottom), in any unit the same for all
boxes compared.
"""

from __future__ import annotations

import numpy as np


def to_xyxy(xywh) -> np.ndarray:
    """Corners ``(x0, y0, x1, y1)`` of ``xywh`` boxes, as float64 (N x 4)."""
    xywh = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def to_xywh(xyxy: np.ndarray) -> np.ndarray:
    """``(x, y, w, h)`` of corner boxes (N x 4)."""
    return np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)


def box_iou(a, b) -> np.ndarray:
    """IoU of boxes ``a[i]`` and ``b[i]`` (both N x 4, xywh, same unit): shape (N,)."""
    a, b = to_xyxy(a), to_xyxy(b)
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a + area_b - inter)


def iou_xywh(a, b) -> np.ndarray:
    """IoU between every box of ``a`` (N x 4) and every box of ``b`` (M x 4), both xywh: shape (N, M)."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    iw = np.minimum(a[:, None, 0] + a[:, None, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, None, 0], b[:, 0])
    ih = np.minimum(a[:, None, 1] + a[:, None, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, None, 1], b[:, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + b[:, 2] * b[:, 3] - inter
    return inter / np.where(union > 0, union, 1.0)
