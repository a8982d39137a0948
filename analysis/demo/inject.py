"""Known annotation errors injected into a copy of COCO labels, the way annotators err (missing boxes,
badly drawn boxes, wrong classes, invented boxes, duplicates), with every change recorded so that error
finders can be scored against the truth. Boxes are COCO ``[x, y, width, height]`` in pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from analysis.core.boxes import iou_xywh
from analysis.core.errors import InputError

ERROR_TYPES = ("missing", "low_iou", "wrong_class", "spurious", "duplicate")


@dataclass(frozen=True)
class ErrorRates:
    """Share of the true objects that get each error (``spurious``: invented boxes per true object)."""

    missing: float = 0.06
    low_iou: float = 0.06
    wrong_class: float = 0.06
    spurious: float = 0.05
    duplicate: float = 0.05

    def __post_init__(self):
        values = self.as_dict()
        if min(values.values()) < 0 or values["missing"] + values["low_iou"] + values["wrong_class"] \
                + values["duplicate"] > 1:
            raise InputError(f"Error rates must be >= 0, and those that pick true objects must sum to <= 1: {values}.")

    def as_dict(self) -> dict:
        return asdict(self)


def _jitter_box(rng, box: np.ndarray, size: tuple[int, int], lo: float, hi: float, spread: float):
    """A box inside the image whose IoU with ``box`` is a uniform draw from ``[lo, hi]`` (to 0.02).

    Samples shifted and rescaled candidates in one batch (``spread``: the
    jitter's scale, relative to the box size) and keeps the one closest to
    the drawn IoU; None if none is within 0.02.
    """
    target = rng.uniform(lo, hi)
    x, y, w, h = box
    n = 512
    s = spread * rng.uniform(0.2, 1.0, (n, 1))  # mixed magnitudes reach both ends of the range
    nw, nh = w * np.exp(rng.normal(0, 1, n) * s[:, 0]), h * np.exp(rng.normal(0, 1, n) * s[:, 0])
    nx = x + (w - nw) / 2 + rng.normal(0, 1, n) * s[:, 0] * w
    ny = y + (h - nh) / 2 + rng.normal(0, 1, n) * s[:, 0] * h
    x0, y0 = np.clip(nx, 0, size[0]), np.clip(ny, 0, size[1])
    cand = np.column_stack([x0, y0, np.clip(nx + nw, 0, size[0]) - x0, np.clip(ny + nh, 0, size[1]) - y0])
    cand = cand[(cand[:, 2] >= 2) & (cand[:, 3] >= 2)]
    if not len(cand):
        return None
    gap = np.abs(iou_xywh(cand, box)[:, 0] - target)
    best = int(np.argmin(gap))
    return np.round(cand[best], 2) if gap[best] <= 0.02 else None


def inject_errors(coco: dict, *, rates: ErrorRates = ErrorRates(), seed: int = 0) -> tuple[dict, pd.DataFrame]:
    """Damage a copy of ``coco``'s annotations; return ``(noisy_coco, errors)``.

    Each true object suffers at most one error, drawn at random:

    * ``missing``: its box is deleted;
    * ``low_iou``: its box is shifted and rescaled to an IoU with the truth
      drawn uniformly from [0.35, 0.75];
    * ``wrong_class``: its class is changed to another one;
    * ``duplicate``: a second box of the same class is added on it (IoU with
      its box uniformly from [0.70, 0.95]);
    * ``spurious``: a box of a random class and of a real object's size is
      invented where it overlaps no true object (IoU < 0.05): on background
      or clutter. Its count is ``rates.spurious`` times the number of objects.

    Untouched annotations keep their ids; added ones get new ids after the
    largest. ``errors`` has one row per injected error: ``error_type,
    image_id, ann_id`` (id in the noisy labels; NA for ``missing``),
    ``true_ann_id`` (id in the clean labels; NA for ``spurious`` and
    ``duplicate``, whose duplicated object is ``true_bbox``), ``bbox`` /
    ``true_bbox`` (noisy / true box, xywh px lists, None where absent),
    ``category_id`` / ``true_category_id`` (NA where absent).
    """
    rng = np.random.default_rng(seed)
    anns = [dict(a) for a in coco["annotations"]]
    sizes = {im["id"]: (im["width"], im["height"]) for im in coco["images"]}
    n_cat = len(coco["categories"])
    cat_ids = np.array([c["id"] for c in coco["categories"]])
    n = len(anns)
    picked = ("missing", "low_iou", "wrong_class", "duplicate")
    bounds = np.cumsum([0] + [int(round(getattr(rates, t) * n)) for t in picked])
    order = rng.permutation(n)
    picks = {t: order[bounds[i]:bounds[i + 1]] for i, t in enumerate(picked)}
    errors, extra = [], []
    next_id = max((a["id"] for a in anns), default=0) + 1

    def record(kind, a, ann_id, true_ann_id, bbox, true_bbox, cat, true_cat):
        errors.append(dict(error_type=kind, image_id=a["image_id"], ann_id=ann_id, true_ann_id=true_ann_id,
                           bbox=bbox, true_bbox=true_bbox, category_id=cat, true_category_id=true_cat))

    def add(image_id, cat, box):
        nonlocal next_id
        extra.append({"id": next_id, "image_id": image_id, "category_id": int(cat), "bbox": box,
                      "area": round(box[2] * box[3], 2), "iscrowd": 0})
        next_id += 1
        return extra[-1]["id"]

    for i in picks["missing"]:
        a = anns[i]
        record("missing", a, None, a["id"], None, a["bbox"], None, a["category_id"])
    for i in picks["low_iou"]:
        a = anns[i]
        new = _jitter_box(rng, np.array(a["bbox"]), sizes[a["image_id"]], 0.35, 0.75, spread=0.35)
        if new is not None:
            record("low_iou", a, a["id"], a["id"], new.tolist(), a["bbox"], a["category_id"], a["category_id"])
            a["bbox"], a["area"] = new.tolist(), round(float(new[2] * new[3]), 2)
    for i in picks["wrong_class"]:
        a = anns[i]
        wrong = int(cat_ids[(np.flatnonzero(cat_ids == a["category_id"])[0] + rng.integers(1, n_cat)) % n_cat])
        record("wrong_class", a, a["id"], a["id"], a["bbox"], a["bbox"], wrong, a["category_id"])
        a["category_id"] = wrong
    for i in picks["duplicate"]:
        a = anns[i]
        dup = _jitter_box(rng, np.array(a["bbox"]), sizes[a["image_id"]], 0.70, 0.95, spread=0.2)
        if dup is not None:
            ann_id = add(a["image_id"], a["category_id"], dup.tolist())
            record("duplicate", a, ann_id, None, dup.tolist(), a["bbox"], a["category_id"], None)

    true_boxes = {}
    for a in coco["annotations"]:
        true_boxes.setdefault(a["image_id"], []).append(a["bbox"])
    image_ids = list(sizes)
    wh = np.array([a["bbox"][2:] for a in coco["annotations"]]) if n else np.empty((0, 2))
    for _ in range(int(round(rates.spurious * n))):
        image_id = image_ids[rng.integers(len(image_ids))]
        W, H = sizes[image_id]
        w, h = wh[rng.integers(len(wh))]
        cand = np.column_stack([rng.uniform(0, W - w, 50), rng.uniform(0, H - h, 50),
                                np.full(50, w), np.full(50, h)]).round(2)
        free = np.flatnonzero(iou_xywh(cand, true_boxes.get(image_id, [])).max(1, initial=0.0) < 0.05)
        if len(free):
            box, cat = cand[free[0]].tolist(), int(cat_ids[rng.integers(n_cat)])
            ann_id = add(image_id, cat, box)
            record("spurious", {"image_id": image_id}, ann_id, None, box, None, cat, None)

    deleted = {anns[i]["id"] for i in picks["missing"]}
    noisy = [a for a in anns if a["id"] not in deleted] + extra
    table = pd.DataFrame(errors, columns=["error_type", "image_id", "ann_id", "true_ann_id", "bbox", "true_bbox",
                                          "category_id", "true_category_id"])
    table = table.astype({c: "Int64" for c in ("image_id", "ann_id", "true_ann_id", "category_id", "true_category_id")})
    return {**coco, "annotations": noisy}, table
