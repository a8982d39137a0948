"""A small CenterNet-style object detector in plain torch, trained on CPU; and AP@0.5.

The network (after Zhou et al. 2019, "Objects as Points") predicts, on a grid
4x coarser than the image, a heatmap whose peaks are object centres
(penalty-reduced focal loss), per cell the class (softmax, cross-entropy on
the cells near each centre), and the centre's sub-cell offset and the box's
log width and height (L1 loss, at the centres). Class heatmaps are centre x
class probability. Unlike the paper's one focal-loss heatmap per class, the
split into "where" and "which" lets every object train the centre heatmap and
every class the shared softmax. On these CPU budgets that mattered: with 300
training steps on 64 px scenes, mAP@0.5 went from 0.14 (per-class heatmaps)
to 0.16 with the split, 0.30 with a higher learning rate (1e-2), 0.48 without
colour/shift augmentation (random colours are already in the scenes) and
0.53-0.57 with class targets on several cells per object and a third stem
convolution. A light encoder-decoder (features down to stride 16 for
context, merged back to stride 4) keeps training to a couple of minutes on 2
cores. Trained on a few hundred images (the out-of-fold detector of
:mod:`analysis.label_errors.oof_detector`), it learns them by heart unless
each batch is varied (``augment=True``: :func:`mosaic_batch`, then
:func:`augment_batch`): on the demo case, out-of-fold mAP@0.5 against the
clean truth went from 0.37 to 0.68 with zoom, shift and brightness, and to
0.73 with the mosaic tiles too.

Decoding keeps the 3 x 3 local maxima of the centre heatmap and reports, per
peak, its most likely classes; a box's score is its class-heatmap value, in [0, 1].

:func:`average_precision_50` scores COCO results against COCO instances
(COCO's AP at IoU 0.5, 101-point interpolation).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from analysis.core.boxes import iou_xywh
from analysis.core.errors import InputError

STRIDE = 4
#: Images are padded to a multiple of this (the encoder's coarsest stride).
_PAD_TO = 16


def _conv(c_in, c_out, stride=1, dilation=1):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class CenterNet(nn.Module):
    """Encoder to stride 16, FPN-style decoder back to stride 4, and three heads.

    Most computation runs at strides 8 and 16, where more channels are cheap;
    stride-4 features are merged by addition (1 x 1 projections) rather than
    concatenation to keep the full-resolution convolutions narrow.
    ``forward`` returns logits ``(centre B x 1 x H/4 x W/4, classes B x C x
    H/4 x W/4)`` and ``regression B x 4 x H/4 x W/4``: ``(offset x, offset y,
    log w, log h)`` in output cells.
    """

    def __init__(self, num_classes: int, width: int = 32):
        super().__init__()
        w = self.width = width
        self.stem = nn.Sequential(_conv(3, w // 2, 2), _conv(w // 2, w, 2), _conv(w, w))  # stride 4
        self.down8 = nn.Sequential(_conv(w, 2 * w, 2), _conv(2 * w, 2 * w))
        self.down16 = nn.Sequential(_conv(2 * w, 3 * w, 2), _conv(3 * w, 3 * w), _conv(3 * w, 3 * w, dilation=2))
        self.lateral16 = nn.Conv2d(3 * w, 2 * w, 1)
        self.lateral8 = nn.Conv2d(2 * w, w, 1)
        self.merge8 = _conv(2 * w, 2 * w)
        self.merge4 = _conv(w, w)
        self.centre = nn.Sequential(_conv(w, w // 2), nn.Conv2d(w // 2, 1, 1))
        self.classes = nn.Sequential(_conv(w, w), nn.Conv2d(w, num_classes, 1))
        self.regression = nn.Sequential(_conv(w, w // 2), nn.Conv2d(w // 2, 4, 1))
        # A low prior for "object here" at the start (the paper's focal-loss bias initialisation).
        nn.init.constant_(self.centre[-1].bias, -2.19)

    def forward(self, x):
        f4 = self.stem(x)
        f8 = self.down8(f4)
        f16 = self.down16(f8)
        f8 = self.merge8(f8 + F.interpolate(self.lateral16(f16), scale_factor=2.0))
        f4 = self.merge4(f4 + F.interpolate(self.lateral8(f8), scale_factor=2.0))
        return self.centre(f4), self.classes(f4), self.regression(f4)


def load_images(coco: dict, images_dir: str | Path) -> np.ndarray:
    """Read ``coco["images"]``'s files from ``images_dir`` as one N x H x W x 3 uint8 array (same sizes)."""
    arrays = [np.asarray(Image.open(Path(images_dir) / im["file_name"]).convert("RGB")) for im in coco["images"]]
    if len({a.shape for a in arrays}) > 1:
        raise InputError("The detector needs images of one size; resize them first.")
    return np.stack(arrays) if arrays else np.empty((0, 0, 0, 3), np.uint8)


def _as_images(images, coco: dict | None = None) -> np.ndarray:
    if isinstance(images, (str, Path)):
        if coco is None:
            raise InputError("Pass images as an array when there is no COCO dict to name the files.")
        return load_images(coco, images)
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise InputError(f"Images must be an N x H x W x 3 uint8 array, got {images.dtype} {images.shape}.")
    return images


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 N x H x W x 3 -> float N x 3 x H' x W' in [-1, 1], zero-padded right/bottom to a multiple of 16."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    h, w = x.shape[-2:]
    return F.pad(x, (0, -w % _PAD_TO, 0, -h % _PAD_TO))


def make_targets(boxes: list[np.ndarray], labels: list[np.ndarray], out_hw: tuple[int, int]):
    """CenterNet training targets for a batch.

    Args:
        boxes: per image, an N x 4 array of xywh boxes in input pixels.
        labels: per image, N class indices.
        out_hw: the output grid's height and width.
    Returns:
        ``centre`` (B x 1 x H x W: per object a Gaussian, 1 at its centre
        cell; the max where objects' Gaussians overlap), ``classes`` (B x H x
        W int64: the class of the object whose Gaussian is >= 0.2 there and
        largest, -1 elsewhere: several cells per object, so classes learn faster), ``regression`` (B x 4 x H x W: offset x/y in
        cells, log width/height in cells) and ``mask`` (B x H x W, 1 at centres).
    """
    h_out, w_out = out_hw
    b = len(boxes)
    heat = np.zeros((b, h_out, w_out), np.float32)
    cls_map = np.full((b, h_out, w_out), -1, np.int64)
    reg = np.zeros((b, 4, h_out, w_out), np.float32)
    mask = np.zeros((b, h_out, w_out), np.float32)
    counts = [len(x) for x in boxes]
    if sum(counts):
        img = np.repeat(np.arange(b), counts)
        bx = np.concatenate(boxes).astype(np.float32) / STRIDE
        cls = np.concatenate(labels).astype(int)
        cx, cy = bx[:, 0] + bx[:, 2] / 2, bx[:, 1] + bx[:, 3] / 2
        ix, iy = np.clip(cx.astype(int), 0, w_out - 1), np.clip(cy.astype(int), 0, h_out - 1)
        # Gaussian spread proportional to the object's size (a simpler rule than the paper's
        # IoU-derived radius, with the same effect: near misses on big objects are penalised less).
        sigma = np.maximum(0.15 * np.sqrt(bx[:, 2] * bx[:, 3]), 0.5)
        gx = np.exp(-((np.arange(w_out)[None] - ix[:, None]) ** 2) / (2 * sigma[:, None] ** 2))
        gy = np.exp(-((np.arange(h_out)[None] - iy[:, None]) ** 2) / (2 * sigma[:, None] ** 2))
        for k in range(len(img)):  # per object: max, not sum, where Gaussians overlap
            g = gy[k][:, None] * gx[k][None]
            own = (g >= 0.2) & (g > heat[img[k]])
            cls_map[img[k]][own] = cls[k]
            np.maximum(heat[img[k]], g, out=heat[img[k]])
        reg[img, :, iy, ix] = np.column_stack([cx - ix, cy - iy, np.log(np.maximum(bx[:, 2], 1e-2)),
                                               np.log(np.maximum(bx[:, 3], 1e-2))])
        mask[img, iy, ix] = 1.0
    return (torch.from_numpy(heat[:, None]), torch.from_numpy(cls_map), torch.from_numpy(reg),
            torch.from_numpy(mask))


def _visible_part(x0, y0, x1, y1, labels, region, min_visible: float) -> np.ndarray:
    """Boxes ``(x0, y0)-(x1, y1)`` (arrays, pixels) clipped to ``region`` ``(left, top, right, bottom)``, as an
    N x 5 ``(x, y, w, h, class)`` array of those with at least ``min_visible`` of their area inside."""
    left, top, right, bottom = region
    cx0, cx1 = np.clip(x0, left, right), np.clip(x1, left, right)
    cy0, cy1 = np.clip(y0, top, bottom), np.clip(y1, top, bottom)
    keep = (cx1 - cx0) * (cy1 - cy0) >= min_visible * (x1 - x0) * (y1 - y0)
    return np.column_stack([cx0, cy0, cx1 - cx0, cy1 - cy0, labels])[keep].astype(np.float32)


def augment_batch(x: torch.Tensor, boxes: list[np.ndarray], rng: np.random.Generator,
                  zoom: tuple[float, float] = (0.75, 4 / 3), min_visible: float = 0.5):
    """Zoom, shift and brighten or darken a batch at random, moving its boxes with it.

    Args:
        x: B x 3 x H x W images in [-1, 1] (as :func:`_to_tensor` makes them).
        boxes: per image, an N x 5 array ``(x, y, w, h, class)`` in pixels.
        zoom: the range of scale factors (drawn log-uniformly).
        min_visible: boxes with less of their area inside the image after the shift are dropped.
    Returns:
        ``(images, boxes)`` alike. Empty borders are mid-grey (0); contrast changes by up to 1.2x and
        brightness by up to 5% of the range, per image.
    """
    b, _, h, w = x.shape
    s = np.exp(rng.uniform(np.log(zoom[0]), np.log(zoom[1]), b))
    # shift in normalised units, so that at most a fifth of the image is left empty on either side
    t = rng.uniform(-1, 1, (b, 2)) * (np.abs(1 - s)[:, None] + 0.2)
    theta = np.zeros((b, 2, 3), np.float32)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / s
    theta[:, :, 2] = -t / s[:, None]
    grid = F.affine_grid(torch.from_numpy(theta), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, align_corners=False)
    # brightness and contrast only: hue can be what tells classes apart (stained cells)
    gain = torch.from_numpy(np.exp(rng.uniform(-0.2, 0.2, (b, 1, 1, 1))).astype(np.float32))
    offset = torch.from_numpy(rng.uniform(-0.1, 0.1, (b, 1, 1, 1)).astype(np.float32))
    out = (out * gain + offset).clamp_(-1, 1)
    moved = []
    for k, bx in enumerate(boxes):
        if not len(bx):
            moved.append(bx)
            continue
        x0 = s[k] * bx[:, 0] + (1 - s[k] + t[k, 0]) * w / 2
        y0 = s[k] * bx[:, 1] + (1 - s[k] + t[k, 1]) * h / 2
        moved.append(_visible_part(x0, y0, x0 + s[k] * bx[:, 2], y0 + s[k] * bx[:, 3], bx[:, 4], (0, 0, w, h),
                                   min_visible))
    return out, moved


#: What ``train_detector(augment=True)`` does, named so that models trained otherwise are not taken for it.
AUGMENTATION = "mosaic 0.5, zoom 0.75-1.33, shift, brightness and contrast"


def mosaic_batch(x: torch.Tensor, boxes: list[np.ndarray], rng: np.random.Generator, p: float = 0.5,
                 min_visible: float = 0.5):
    """Tile some images of a batch from four quarters of other images of it, at their own scale.

    Args:
        x: B x 3 x H x W images; boxes: per image, an N x 5 array ``(x, y, w, h, class)`` in pixels.
        p: the share of the batch's images that are tiled.
        min_visible: boxes with less of their area inside their tile are dropped.
    Returns:
        ``(images, boxes)`` alike. Each tiled image is split at a random point (a quarter to three quarters of
        each side); each of its four parts shows the same-sized region, at a random place, of a random image
        of the batch, with the boxes there. Objects keep their size; only their context changes.
    """
    b, _, h, w = x.shape
    out, moved = x.clone(), list(boxes)
    for k in np.flatnonzero(rng.random(b) < p):
        cx, cy = int(rng.uniform(0.25, 0.75) * w), int(rng.uniform(0.25, 0.75) * h)
        parts = []
        for x0, y0, x1, y1 in ((0, 0, cx, cy), (cx, 0, w, cy), (0, cy, cx, h), (cx, cy, w, h)):
            src = int(rng.integers(b))
            sx, sy = int(rng.integers(0, w - (x1 - x0) + 1)), int(rng.integers(0, h - (y1 - y0) + 1))
            out[k, :, y0:y1, x0:x1] = x[src, :, sy:sy + y1 - y0, sx:sx + x1 - x0]
            bx = boxes[src]
            if not len(bx):
                continue
            bx0, by0 = bx[:, 0] - sx + x0, bx[:, 1] - sy + y0
            parts.append(_visible_part(bx0, by0, bx0 + bx[:, 2], by0 + bx[:, 3], bx[:, 4], (x0, y0, x1, y1),
                                       min_visible))
        moved[k] = np.concatenate(parts) if parts else np.zeros((0, 5), np.float32)
    return out, moved


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced pixel-wise focal loss (alpha 2, beta 4), normalised by the object count."""
    log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
    p = log_p.exp()
    pos = target.eq(1).float()
    pos_loss = -log_p * (1 - p) ** 2 * pos
    neg_loss = -log_not_p * p ** 2 * (1 - target) ** 4 * (1 - pos)
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


def train_detector(
    images,
    coco: dict,
    *,
    steps: int = 500,
    time_budget_s: float | None = None,
    batch_size: int = 32,
    lr: float = 1e-2,
    width: int = 32,
    seed: int = 0,
    threads: int = 2,
    augment: bool = False,
    progress=None,
) -> CenterNet:
    """Train a detector on ``coco``'s boxes for ``steps`` batches, or until ``time_budget_s`` runs out.

    Args:
        images: N x H x W x 3 uint8 array in ``coco["images"]`` order, or the
            folder holding ``coco["images"]``'s files (all of one size).
        coco: COCO instances; ``iscrowd`` boxes are not trained on.
        steps: optimiser steps (batches); the learning-rate schedule (warm-up,
            then cosine decay) spans them, so results are reproducible from
            ``seed`` unless the time budget cuts training short.
        time_budget_s: optional wall-clock cap in seconds.
        width: channels at stride 4 (2x at stride 8, 3x at stride 16).
        threads: torch CPU threads.
        augment: tile half of each batch's images from quarters of others (:func:`mosaic_batch`), then zoom
            (0.75-1.33x), shift and brighten each at random (:func:`augment_batch`): for a few hundred images,
            which the model otherwise learns by heart.
        progress: optional ``progress(fraction, message)``.
    Returns:
        The model in eval mode, with attributes ``category_ids`` (class index
        -> COCO category id), ``train_steps`` (steps done) and
        ``train_seconds``.
    """
    images = _as_images(images, coco)
    if len(images) != len(coco["images"]) or not len(images):
        raise InputError(f"Got {len(images)} images for {len(coco['images'])} COCO image entries (need > 0, equal).")
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}.")
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    category_ids = sorted(c["id"] for c in coco["categories"])
    index = {c: i for i, c in enumerate(category_ids)}
    row = {im["id"]: k for k, im in enumerate(coco["images"])}
    per_image = [[] for _ in images]
    for a in coco["annotations"]:
        if not a.get("iscrowd", 0):
            per_image[row[a["image_id"]]].append((*a["bbox"], index[a["category_id"]]))
    table = [np.array(p, np.float32).reshape(-1, 5) for p in per_image]

    model = CenterNet(len(category_ids), width)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(s / steps, 1.0))))
    out_hw = tuple(-(-d // _PAD_TO) * _PAD_TO // STRIDE for d in images.shape[1:3])
    start = time.perf_counter()
    model.train()
    step = 0
    while step < steps and (time_budget_s is None or time.perf_counter() - start < time_budget_s):
        idx = rng.integers(0, len(images), batch_size)
        x, batch_boxes = _to_tensor(images[idx]), [table[i] for i in idx]
        if augment:
            x, batch_boxes = augment_batch(*mosaic_batch(x, batch_boxes, rng), rng)
        heat_t, cls_t, reg_t, mask = make_targets([b[:, :4] for b in batch_boxes], [b[:, 4] for b in batch_boxes],
                                                  out_hw)
        heat, cls, reg = model(x)
        m = mask.unsqueeze(1)
        reg_loss = F.l1_loss(reg * m, reg_t * m, reduction="sum") / mask.sum().clamp(min=1)
        cls_loss = F.cross_entropy(cls, cls_t, ignore_index=-1) if (cls_t >= 0).any() else cls.sum() * 0
        loss = focal_loss(heat, heat_t) + cls_loss + reg_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        if progress and step % 10 == 0:
            progress(step / steps, f"Training the detector: step {step}/{steps}, loss {loss.item():.2f}")
    model.eval()
    model.category_ids = category_ids
    model.train_steps = step
    model.train_seconds = time.perf_counter() - start
    return model


def save_detector(model: CenterNet, path: str | Path) -> None:
    """Write a trained model (weights and what :func:`train_detector` records on it) to ``path``."""
    torch.save({"state": model.state_dict(), "n_classes": len(model.category_ids), "width": model.width,
                "category_ids": model.category_ids, "train_steps": model.train_steps,
                "train_seconds": model.train_seconds}, path)


def load_detector(path: str | Path) -> CenterNet:
    """The model :func:`save_detector` wrote, in eval mode."""
    saved = torch.load(path, weights_only=True)
    model = CenterNet(saved["n_classes"], saved["width"])
    model.load_state_dict(saved["state"])
    model.eval()
    model.category_ids, model.train_steps, model.train_seconds = (saved["category_ids"], saved["train_steps"],
                                                                  saved["train_seconds"])
    return model


@torch.no_grad()
def predict(
    model: CenterNet,
    images,
    image_ids=None,
    *,
    coco: dict | None = None,
    score_threshold: float = 0.05,
    max_per_image: int = 100,
    classes_per_peak: int = 3,
    batch_size: int = 64,
) -> list[dict]:
    """Detect objects; return COCO results ``{image_id, category_id, bbox (xywh px), score in [0, 1], class_probs}``.

    ``class_probs`` is the class head's softmax at the box's centre peak, over
    ``model.category_ids`` (ascending category id), rounded to 4 decimals; the
    score is the peak's centre probability times ``class_probs`` of the box's class.

    Boxes are clipped to the image; those narrower or lower than 1 px after that are dropped.

    Args:
        images: N x H x W x 3 uint8 array, or the folder holding ``coco``'s files.
        image_ids: the N image ids (default: ``coco``'s, in order).
        score_threshold: drop detections scoring below it.
        max_per_image: keep at most this many (the highest-scoring) detections per image.
        classes_per_peak: report each centre peak with up to this many classes.
    """
    images = _as_images(images, coco)
    if image_ids is None:
        if coco is None:
            raise InputError("Pass image_ids, or the COCO dict they come from.")
        image_ids = [im["id"] for im in coco["images"]]
    if len(image_ids) != len(images):
        raise InputError(f"Got {len(images)} images but {len(image_ids)} image ids.")
    height, width = images.shape[1:3]
    results = []
    for s in range(0, len(images), batch_size):
        centre, cls, reg = model(_to_tensor(images[s:s + batch_size]))
        centre = torch.sigmoid(centre[:, 0])
        peaks = centre * (F.max_pool2d(centre, 3, stride=1, padding=1) == centre)
        b, h, w = peaks.shape
        k = min(max_per_image, h * w)
        centre_score, cell = peaks.reshape(b, -1).topk(k)
        iy, ix = cell // w, cell % w
        at = (torch.arange(b)[:, None], iy, ix)
        r = reg.permute(0, 2, 3, 1)[at]  # b x k x 4
        cx, cy = (ix + r[..., 0]) * STRIDE, (iy + r[..., 1]) * STRIDE
        bw, bh = r[..., 2].exp() * STRIDE, r[..., 3].exp() * STRIDE
        # Clipped to the image (not its padding), as COCO tools expect.
        x0, x1 = (cx - bw / 2).clamp(0, width), (cx + bw / 2).clamp(0, width)
        y0, y1 = (cy - bh / 2).clamp(0, height), (cy + bh / 2).clamp(0, height)
        boxes = torch.stack([x0, y0, x1 - x0, y1 - y0], -1).numpy().round(2)
        # Each peak is reported with its likelier classes (score = centre x class probability),
        # as per-class heatmaps would, so that a doubtful digit also counts for its second reading.
        probs = cls.softmax(1).permute(0, 2, 3, 1)[at]  # b x k x classes
        prob, cls_idx = probs.topk(min(classes_per_peak, probs.shape[-1]), dim=-1)  # b x k x m
        probs = probs.numpy().round(4)
        m = prob.shape[-1]
        scores, flat = (centre_score[..., None] * prob).reshape(b, -1).topk(min(max_per_image, k * m))
        peak = flat // m
        cats = np.asarray(model.category_ids)[cls_idx.reshape(b, -1).gather(1, flat).numpy()]
        scores, peak = scores.numpy(), peak.numpy()
        visible = (boxes[np.arange(b)[:, None], peak, 2:] >= 1).all(-1)
        for i, t in zip(*np.nonzero((scores >= score_threshold) & visible)):
            results.append({"image_id": image_ids[s + i], "category_id": int(cats[i, t]),
                            "bbox": boxes[i, peak[i, t]].tolist(), "score": round(float(scores[i, t]), 5),
                            "class_probs": probs[i, peak[i, t]].tolist()})
    return results


def average_precision_50(gt: dict, results: list[dict], iou_threshold: float = 0.5) -> tuple[float, dict]:
    """COCO-style average precision at one IoU threshold (default 0.5), per category and their mean.

    Per category, detections are matched greedily in descending score order
    (ties: stable, in input order), each to the unmatched GT box of its image
    with the highest IoU >= ``iou_threshold``; a detection matching only an
    ``iscrowd`` box (overlap = intersection / detection area, as in
    pycocotools) is ignored (neither true nor false positive), and crowd
    boxes do not count as positives. Precision is made monotone and sampled
    at 101 recall points (0, 0.01, ..., 1), as pycocotools does (all areas,
    no per-image detection cap).

    Args:
        gt: COCO instances (``images``, ``annotations``, ``categories``).
        results: COCO results (``image_id``, ``category_id``, ``bbox`` xywh px, ``score``).
    Returns:
        ``(mAP, {category_id: AP})`` over the categories with at least one
        non-crowd GT box (COCO leaves the others out of the mean).
    """
    anns = gt["annotations"]
    gt_cat = np.array([a["category_id"] for a in anns])
    gt_img = np.array([a["image_id"] for a in anns])
    gt_box = np.array([a["bbox"] for a in anns], float).reshape(-1, 4)
    gt_crowd = np.array([bool(a.get("iscrowd", 0)) for a in anns])
    det_cat = np.array([r["category_id"] for r in results])
    det_img = np.array([r["image_id"] for r in results])
    det_box = np.array([r["bbox"] for r in results], float).reshape(-1, 4)
    det_score = np.array([r["score"] for r in results], float)
    per_class = {}
    for cat in np.unique(gt_cat[~gt_crowd]):
        g = np.flatnonzero(gt_cat == cat)
        d = np.flatnonzero(det_cat == cat)
        d = d[np.argsort(-det_score[d], kind="stable")]
        crowd = gt_crowd[g]
        iou = iou_xywh(det_box[d], gt_box[g])
        if crowd.any():  # as pycocotools: a crowd region scores the share of the detection inside it
            area_d, area_g = det_box[d, 2] * det_box[d, 3], gt_box[g, 2] * gt_box[g, 3]
            inter = iou * (area_d[:, None] + area_g[None]) / (1 + iou)
            iou[:, crowd] = (inter / np.maximum(area_d, 1e-12)[:, None])[:, crowd]
        iou[det_img[d][:, None] != gt_img[g][None, :]] = -1.0  # only boxes of the same image can match
        taken = np.zeros(len(g), bool)
        tp, ignored = np.zeros(len(d), bool), np.zeros(len(d), bool)
        for k in range(len(d)):  # greedy: a sequential dependency, one vector op per detection
            cand = np.where(taken | crowd, -1.0, iou[k])
            j = int(np.argmax(cand)) if len(g) else -1
            if j >= 0 and cand[j] >= iou_threshold:
                taken[j] = tp[k] = True
            elif (iou[k][crowd] >= iou_threshold).any():
                ignored[k] = True
        tp, fp = tp[~ignored], ~tp[~ignored]
        ctp, cfp = np.cumsum(tp), np.cumsum(fp)
        recall = ctp / (~crowd).sum()
        precision = np.maximum.accumulate((ctp / np.maximum(ctp + cfp, 1))[::-1])[::-1]
        idx = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
        per_class[int(cat)] = float(np.where(idx < len(precision), precision[np.minimum(idx, len(precision) - 1)],
                                             0.0).mean()) if len(precision) else 0.0
    return (float(np.mean(list(per_class.values()))) if per_class else 0.0), per_class
