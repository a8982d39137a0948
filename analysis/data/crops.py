"""Crops of boxes cut out of image files: grey thumbnails for classifiers, and images opened with a clear error.

Used by the learning curves' ``crops:<dataset>`` source and by the label-error
crop classifier. Boxes are tables with ``image_id, x, y, w, h``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.core.errors import InputError

#: Crop side in pixels of :func:`crop_pixels`: digits, cells and most small objects stay recognisable at 16 x 16.
CROP_SIDE = 16


def crop_pixels(boxes: pd.DataFrame, image_paths: dict, side: int = CROP_SIDE,
                relative: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Grey ``side`` x ``side`` crops of ``boxes`` (``image_id, x, y, w, h``, COCO xywh in pixels, or fractions
    of the image with ``relative``, as FiftyOne stores them).

    ``image_paths`` maps image ids to files; each image is opened once.
    Returns ``(X, valid)``: ``X`` is ``N x side^2`` with values in [0, 1],
    rows in the order of ``boxes``; ``valid`` is False for boxes smaller than
    a pixel (their rows stay blank). Parts of a box outside the image are black.
    """
    from PIL import Image

    xywh = boxes[["x", "y", "w", "h"]].to_numpy(np.float64)
    X = np.zeros((len(boxes), side * side), np.float32)
    valid = np.zeros(len(boxes), bool)
    rows = pd.Series(np.arange(len(boxes))).groupby(boxes["image_id"].to_numpy(), sort=False).groups
    for image_id, idx in rows.items():
        grey = open_image(image_id, image_paths.get(image_id), "L")
        W, H = grey.size
        for i, (x, y, w, h) in zip(idx, xywh[idx] * ([W, H, W, H] if relative else 1)):
            if w < 1 or h < 1:
                continue
            valid[i] = True
            if x >= 0 and y >= 0 and x + w <= W and y + h <= H:  # inside: resample the exact, sub-pixel box
                crop = grey.resize((side, side), Image.BILINEAR, box=(x, y, x + w, y + h))
            else:
                crop = grey.crop((round(x), round(y), round(x + w), round(y + h))).resize((side, side), Image.BILINEAR)
            X[i] = np.asarray(crop, np.float32).ravel() / 255
    return X, valid


def open_image(image_id, path, mode: str):
    """The image at ``path`` converted to PIL ``mode``; an InputError naming ``image_id`` if there is no file."""
    from PIL import Image

    if path is None or not Path(path).is_file():
        raise InputError(f"image {image_id!r} has no readable file ({path}): check the file, or leave the image "
                         "out (without the crop classifier, for label errors)")
    with Image.open(path) as im:
        return im.convert(mode)
