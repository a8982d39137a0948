"""A second opinion on each ground-truth box's class: a classifier of the box's image crop.

The label-error engine (:mod:`analysis.label_errors`) judges a box's class by
the detector's predictions at the box. A weak detector confuses classes and
then cannot tell a wrong label from its own mistake. :func:`crop_class_probs`
gives independent evidence from the labels themselves: every GT box is cut
out of its image (grey, ``side`` x ``side`` pixels, each crop standardised
to zero mean and unit variance so contrast does not matter) and a
multinomial logistic regression on the pixels predicts its class. Its
regularisation is chosen from :data:`C_GRID` by the out-of-fold log loss,
since a few thousand crops of 256 pixels are easily overfitted and
overconfident probabilities would pass a classifier's errors off as label
errors. Each box
is predicted by a model fitted on the other folds only (cross-validation),
so a wrong label cannot teach the model to agree with itself; the few wrong
labels among the training folds only blur it a little. This is the
out-of-sample ``pred_probs`` that cleanlab's ``find_label_issues`` asks for,
computed on crops; pass it to ``find_detection_errors(..., gt_probs=...)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import InputError

#: Crop side in pixels: digits, cells and most small objects stay recognisable at 16 x 16.
CROP_SIDE = 16
#: Inverse regularisation strengths tried; the one with the least out-of-fold log loss is used.
C_GRID = (0.01, 0.1, 1.0)


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
        path = image_paths.get(image_id)
        if path is None or not Path(path).is_file():
            raise InputError(f"image {image_id!r} of the ground truth has no readable file ({path}): check the "
                             "file, or run without the crop classifier")
        with Image.open(path) as im:
            grey = im.convert("L")
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


def crop_class_probs(gt: pd.DataFrame, image_paths: dict, side: int = CROP_SIDE, folds: int = 5,
                     random_state: int = 0, relative: bool = False) -> pd.DataFrame:
    """Out-of-fold class probabilities of every GT box from a classifier of its crop.

    Inputs: ``gt`` one row per GT box (``image_id, category_id, x, y, w, h``
    in pixels, or fractions of the image with ``relative``; optional boolean
    ``iscrowd``/``ignore``), ``image_paths`` image id -> file, ``side`` the
    crop side in pixels, ``folds`` the cross-validation folds.

    Output: a DataFrame with ``gt``'s index and one column per category id
    (rows sum to 1); ``attrs`` holds the chosen ``C`` and the out-of-fold
    ``accuracy`` against the given labels. Crowd and ignore boxes, boxes
    smaller than a pixel and boxes of classes with fewer than 2 such boxes
    get equal probabilities (no opinion).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    categories = np.sort(gt["category_id"].unique())
    probs = np.full((len(gt), len(categories)), 1.0 / max(len(categories), 1))
    usable = ~gt.get("iscrowd", pd.Series(False, index=gt.index)).fillna(False).astype(bool).to_numpy()
    usable &= ~gt.get("ignore", pd.Series(False, index=gt.index)).fillna(False).astype(bool).to_numpy()
    X, valid = crop_pixels(gt[usable], image_paths, side, relative)
    usable[usable] = valid
    X = X[valid]
    counts = gt.loc[usable, "category_id"].value_counts()
    kept = gt["category_id"].map(counts).fillna(0).to_numpy() >= 2
    X, usable = X[kept[usable]], usable & kept
    y = gt["category_id"].to_numpy()[usable]
    attrs = {"C": None, "accuracy": None}
    if len(np.unique(y)) >= 2:
        X = (X - X.mean(1, keepdims=True)) / np.maximum(X.std(1, keepdims=True), 1e-3)
        k = int(min(folds, counts[counts >= 2].min()))
        splits = list(StratifiedKFold(k, shuffle=True, random_state=random_state).split(X, y))
        own = np.searchsorted(categories, y)
        best = None
        for C in C_GRID:
            fold_probs = np.zeros((len(y), len(categories)))
            for train, test in splits:
                model = LogisticRegression(C=C, max_iter=300).fit(X[train], y[train])
                fold_probs[np.ix_(test, np.searchsorted(categories, model.classes_))] = model.predict_proba(X[test])
            log_loss = -np.mean(np.log(np.maximum(fold_probs[np.arange(len(y)), own], 1e-12)))
            if best is None or log_loss < best[0]:
                best = (log_loss, C, fold_probs)
        _, attrs["C"], fold_probs = best
        attrs["accuracy"] = float(np.mean(fold_probs.argmax(1) == own))
        probs[usable] = fold_probs
    out = pd.DataFrame(probs, index=gt.index, columns=categories)
    out.attrs.update(attrs)
    return out
