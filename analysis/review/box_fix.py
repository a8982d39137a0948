"""A corrected box drawn by a reviewer: from the drawn rectangle (image pixels) to the label's coordinates,
clipped to the image, optionally snapped to the object with OpenCV's GrabCut.

Pixel boxes are corners ``(x0, y0, x1, y1)`` in continuous image coordinates
(pixel ``i`` spans ``[i, i + 1]``); label boxes are FiftyOne's relative
``[x, y, w, h]`` in 0..1. Nothing here reads or writes FiftyOne.
"""

from __future__ import annotations

import numpy as np

from analysis.core.errors import InputError

#: A drawn box smaller than this (pixels, either side) is taken for a click, not a box.
MIN_SIDE_PX = 1.0
#: GrabCut may move each edge out this far (share of the drawn box's side): a drawn box is rough both ways.
SNAP_MARGIN = 0.2
#: GrabCut works on a crop at most this many pixels on its longer side (a large object is snapped on a reduced
#: copy, to a few source pixels: ~0.3 s instead of ~3 s for a 700 px box on 2 cores).
SNAP_SIDE_PX = 400


class BoxFixError(InputError):
    """A drawn box that cannot be used (no area, outside the image); the message says what to do."""


def to_relative(xyxy, width: float, height: float) -> list[float]:
    """Pixel corners to FiftyOne's relative ``[x, y, w, h]``."""
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    return [x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height]


def to_pixels(box, width: float, height: float) -> tuple[float, float, float, float]:
    """FiftyOne's relative ``[x, y, w, h]`` to pixel corners."""
    x, y, w, h = (float(v) for v in box)
    return x * width, y * height, (x + w) * width, (y + h) * height


def clip_box(xyxy, width: float, height: float) -> tuple[tuple[float, float, float, float], str | None]:
    """Corners in any order, clipped to the image: ``(box, note)``, ``note`` saying what was cut (else None).

    Raises :class:`BoxFixError` when the box has no area, or none inside the image.
    """
    x0, x1 = sorted(float(v) for v in (xyxy[0], xyxy[2]))
    y0, y1 = sorted(float(v) for v in (xyxy[1], xyxy[3]))
    if x1 - x0 < MIN_SIDE_PX or y1 - y0 < MIN_SIDE_PX:
        raise BoxFixError(f"The box drawn is {x1 - x0:.1f} x {y1 - y0:.1f} px, too small to be a box: drag from "
                          "one corner of the object to the opposite one.")
    clipped = max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))
    if clipped[2] - clipped[0] < MIN_SIDE_PX or clipped[3] - clipped[1] < MIN_SIDE_PX:
        raise BoxFixError(f"The box drawn lies outside the image ({width:g} x {height:g} px): draw it on the object.")
    if clipped == (x0, y0, x1, y1):
        return clipped, None
    return clipped, (f"The box went past the image edge; it is clipped to the image "
                     f"({x1 - x0:.0f} x {y1 - y0:.0f} px drawn, {clipped[2] - clipped[0]:.0f} x "
                     f"{clipped[3] - clipped[1]:.0f} px kept).")


def drawn_box(xs, ys, width: float, height: float) -> tuple[list[float], str | None]:
    """A box selection's two x and two y values (image pixels) as a relative box, clipped: ``(box, note)``."""
    if len(xs) < 2 or len(ys) < 2:
        raise BoxFixError("No box was drawn: drag a rectangle on the image.")
    (x0, y0, x1, y1), note = clip_box((min(xs), min(ys), max(xs), max(ys)), width, height)
    return to_relative((x0, y0, x1, y1), width, height), note


def check_box(box) -> list[float]:
    """A relative ``[x, y, w, h]`` to store: four numbers, with area, inside 0..1 (a little rounding allowed)."""
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        raise BoxFixError(f"A corrected box is four numbers [x, y, w, h] relative to the image; got {box!r}.") from None
    eps = 1e-6
    if not (w > 0 and h > 0 and x >= -eps and y >= -eps and x + w <= 1 + eps and y + h <= 1 + eps):
        raise BoxFixError(f"A corrected box must have an area and lie inside the image (0..1); got {box!r}.")
    return [x, y, w, h]


def snap(image: np.ndarray, xyxy, *, margin: float = SNAP_MARGIN, iterations: int = 3):
    """The drawn box snapped to the object in it: ``(xyxy or None, note)``.

    GrabCut runs on a crop around the drawn box, initialised with the drawn
    rectangle grown by ``margin`` of its sides (inside: maybe the object;
    outside: background), so that an edge drawn too tight can still move
    out. The result is the tight box of the largest connected foreground
    region. None, with a note, when GrabCut finds no object (nothing that
    stands out from the surroundings, or a region under 5% of the drawn box).
    ``margin`` and ``iterations`` were chosen on the demo (see
    ``tests/benchmarks/bench_review_box.py``).

    ``image``: H x W (x 3) uint8, as read (RGB or grey); ``xyxy``: pixel corners.
    """
    import cv2

    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
    height, width = img.shape[:2]
    x0, y0, x1, y1 = (round(float(v)) for v in xyxy)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None, "The box is too small to snap; it is kept as drawn."
    mx, my = max(1, round(margin * (x1 - x0))), max(1, round(margin * (y1 - y0)))
    # the crop keeps a band of background beyond the grown rectangle, for GrabCut's background model
    cx0, cy0 = max(x0 - 3 * mx, 0), max(y0 - 3 * my, 0)
    cx1, cy1 = min(x1 + 3 * mx, width), min(y1 + 3 * my, height)
    crop = img[cy0:cy1, cx0:cx1]
    f = min(1.0, SNAP_SIDE_PX / max(crop.shape[:2]))
    if f < 1.0:
        crop = cv2.resize(crop, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    crop = np.ascontiguousarray(crop)
    # GrabCut needs some background on every side
    rx0, ry0 = max(round((x0 - mx - cx0) * f), 1), max(round((y0 - my - cy0) * f), 1)
    rx1, ry1 = min(round((x1 + mx - cx0) * f), crop.shape[1] - 1), min(round((y1 + my - cy0) * f), crop.shape[0] - 1)
    mask = np.zeros(crop.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(crop, mask, (rx0, ry0, rx1 - rx0, ry1 - ry0), bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT)
    except cv2.error:  # e.g. a flat crop: no colour model can be fitted
        return None, "Snapping found no object in the box (the image is flat there); it is kept as drawn."
    fg = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n < 2:
        return None, "Snapping found no object in the box; it is kept as drawn."
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    left, top, w, h, area = stats[best]
    if area < 0.05 * (x1 - x0) * (y1 - y0) * f * f:
        return None, "Snapping found no clear object in the box (only specks); it is kept as drawn."
    return (float(cx0 + left / f), float(cy0 + top / f), float(cx0 + (left + w) / f), float(cy0 + (top + h) / f)), None
