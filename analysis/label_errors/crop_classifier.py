"""A second opinion on every ground-truth box from its image crop: its class, whether an object is there, and where.

The label-error engine (:mod:`analysis.label_errors.engine`) judges each box by the
detector's predictions. A weak detector confuses classes and misplaces boxes,
and then cannot tell a label error from its own mistake.
:func:`crop_opinion` gives independent evidence learnt from the labels
themselves, the way the second stage of a two-stage detector looks at one
region: a small CNN sees each box with its surroundings (a window twice the
box's size, resampled to ``side`` x ``side`` RGB pixels) and predicts

* the class of the object at the box, or "background" (nothing there),
* the object's true box, as offsets of its edges within the window, and
* the IoU of the window's box with the object's box (how well the box fits,
  as IoU-Net's localisation confidence).

It is trained on the GT boxes of the dataset: each box moved and rescaled at
random (so it learns where the object is from a badly placed window), plus
background windows that touch no GT box: random ones, and the detector's
predictions that touch no GT box (hard negatives, as the second stage of a
two-stage detector is trained on the first stage's proposals: clutter that
looks like part of an object is what it must learn to reject). Each image's boxes are judged by a
model trained on the other folds of images only (cross-validation), so a
wrong label or a badly drawn box cannot teach the model to agree with itself;
the few errors among the training folds only blur it a little. This is the
out-of-sample ``pred_probs`` that cleanlab's ``find_label_issues`` asks for,
extended to boxes; pass the result to ``find_detection_errors(...,
opinion=...)``.

:func:`analysis.data.crops.crop_pixels` (grey crops of boxes) is also what the learning curves
train their classifiers on.
"""

from __future__ import annotations

import collections
import time
from typing import Callable

import numpy as np
import pandas as pd

from analysis.core.boxes import box_iou, iou_xywh, to_xywh, to_xyxy
from analysis.data.crops import open_image
from analysis.label_errors.params import BoxOpinion

#: Channels of the CNN's first layer (doubled in each of the next two).
WIDTH = 16
#: Default training length: passes over the training windows, in batches of BATCH, clipped to [MIN_STEPS, MAX_STEPS].
EPOCHS, BATCH, MIN_STEPS, MAX_STEPS = 15, 128, 100, 900
#: At most this many GT boxes (a random subset) give training windows: MAX_STEPS batches see no more.
MAX_TRAIN_BOXES = 20_000
#: Window side in pixels the CNN sees; the window is ``CONTEXT`` times the box (per axis), centred on it.
WINDOW_SIDE = 32
CONTEXT = 2.0
#: Shares of a run's time (for progress reports) spent reading the images for training, and training; judging
#: (reading the images again) takes the rest.
READ_SHARE, TRAIN_SHARE = 0.1, 0.8


def crop_opinion(gt: pd.DataFrame, image_paths: dict, pred: pd.DataFrame | None = None, *, relative: bool = False,
                 folds: int = 3, steps: int | None = None, jitters: int = 4, background_per_box: float = 1.0,
                 random_state: int = 0, progress: Callable[[float, str], None] | None = None) -> BoxOpinion:
    """Out-of-fold opinion of a crop CNN on every GT box (class, P(an object), the object's box) and prediction.

    Inputs: ``gt`` one row per GT box (``image_id, category_id, x, y, w, h``,
    COCO xywh in pixels, or fractions of the image with ``relative``;
    optional boolean ``iscrowd``/``ignore``), ``image_paths`` image id ->
    file, optional ``pred`` predicted boxes (``image_id, x, y, w, h``, same
    unit) to judge too. Images are split into ``folds`` groups, each judged by
    a model trained on the others for ``steps`` batches of 128 windows
    (default: :data:`EPOCHS` passes over the training windows, between
    :data:`MIN_STEPS` and :data:`MAX_STEPS`, which bounds the time); per
    GT box ``jitters`` moved windows (shifted up to 30% of the side, scaled
    0.67-1.5x per axis), on average ``background_per_box`` windows placed at
    random on no GT box (IoU < 0.2 with every box) and, with ``pred``, the
    predictions on no GT box (IoU < 0.2) as background; at most
    :data:`MAX_TRAIN_BOXES` GT boxes, drawn at random, give training windows
    (all are judged; predictions are kept in the same share).
    ``progress(fraction, message)``, if given, is called as images are read,
    models trained and boxes judged (a run takes minutes on large datasets).
    The images are read twice, to train and then to judge, so that memory is
    bounded by the training windows (3 KB each), not the dataset's size.

    Output: a :class:`analysis.label_errors.engine.BoxOpinion` whose rows follow
    ``gt``: ``class_probs`` (one column per category id, rows sum to 1),
    ``object_prob`` (probability that an object is at the box as drawn) with
    ``object_prior`` (the share of object windows in training: the prior
    that probability was computed under), ``box`` (the object's box, xywh in
    ``gt``'s unit), ``drawn_iou`` (the drawn box's IoU with the object: the
    mean of two estimates, the IoU head's and the IoU of the drawn box with
    ``box``) and, with ``pred``, ``pred_object_prob`` (per prediction row).
    Crowd / ignore boxes, boxes under a pixel and boxes of a fold without
    training data get no opinion (uniform classes, ``object_prob =
    object_prior``, NaN box and ``drawn_iou``). ``attrs``: the out-of-fold
    ``accuracy`` of the class against the given labels, the median IoU of the
    estimated boxes with the drawn ones (``median_iou``), ``seconds``.

    Raises:
        InputError: an image that cannot be read.
    """
    import torch

    t0 = time.perf_counter()
    rng = np.random.default_rng(random_state)
    categories = np.sort(gt["category_id"].unique())
    n, k = len(gt), len(categories)
    m = 0 if pred is None else len(pred)
    usable = np.ones(n, bool)
    for flag in ("iscrowd", "ignore"):
        if flag in gt:
            usable &= ~gt[flag].fillna(False).astype(bool).to_numpy()
    labels = np.searchsorted(categories, gt["category_id"].to_numpy())
    # GT rows are judged as 0..n-1, prediction rows as n..n+m-1
    xywh = gt[["x", "y", "w", "h"]].to_numpy(np.float64)
    image_ids = gt["image_id"].to_numpy()
    if pred is not None:
        xywh = np.concatenate([xywh, pred[["x", "y", "w", "h"]].to_numpy(np.float64)])
        image_ids = np.concatenate([image_ids, pred["image_id"].to_numpy()])
    groups = pd.Series(np.arange(n + m)).groupby(image_ids, sort=False).groups
    folds = max(1, min(folds, len(groups)))
    windows = _Windows(rng, k, jitters, background_per_box, min(1.0, MAX_TRAIN_BOXES / max(1, usable.sum())))
    report = progress or (lambda fraction, message: None)
    images = [(image_id, np.asarray(rows), fold) for fold, (image_id, rows)
              in zip(rng.permutation(len(groups)) % folds, groups.items())]
    every = max(1, len(images) // 50)

    def boxes_of(rows):
        """An image's GT rows, boxes, labels and usable flags, then its prediction rows and boxes."""
        on_gt = rows < n
        return (rows[on_gt], xywh[rows[on_gt]], labels[rows[on_gt]], usable[rows[on_gt]], rows[~on_gt],
                xywh[rows[~on_gt]])

    for i, (image_id, rows, fold) in enumerate(images):
        if i % every == 0:
            report(READ_SHARE * i / len(images), f"Reading images: {i:,} of {len(images):,}")
        windows.add_image(image_id, image_paths.get(image_id), *boxes_of(rows), relative, fold)
    data = windows.arrays()

    nets = [None] * folds
    torch.manual_seed(random_state)
    for f in range(folds):
        train = data["train_fold"] != f
        if not train.any() or not windows.judged_per_fold[f]:
            continue
        n_steps = steps or int(np.clip(EPOCHS * train.sum() / BATCH, MIN_STEPS, MAX_STEPS))
        nets[f] = _fit(data["train_x"][train], data["train_y"][train], data["train_t"][train],
                       data["train_iou"][train], k, n_steps, rng, on_step=lambda s, f=f, n_steps=n_steps: report(
                           READ_SHARE + TRAIN_SHARE * (f + s / n_steps) / folds,
                           f"Training model {f + 1} of {folds}: step {s:,} of {n_steps:,}"))

    # judging reads the images again rather than keeping every box's crop since the first pass: memory stays
    # bounded by the training windows, whatever the dataset's size
    probs = np.full((n + m, k + 1), np.nan)
    boxes = np.full((n + m, 4), np.nan)
    fit = np.full(n + m, np.nan)  # the IoU head's estimate of the judged box's IoU with the object
    judge = _Judge(nets, probs, boxes, fit)
    for i, (image_id, rows, fold) in enumerate(images):
        if i % every == 0:
            report(READ_SHARE + TRAIN_SHARE + (1 - READ_SHARE - TRAIN_SHARE) * i / len(images),
                   f"Judging the boxes of image {i:,} of {len(images):,}")
        if nets[fold] is not None:
            judge.add_image(image_id, image_paths.get(image_id), *boxes_of(rows), relative, fold)
    judge.flush()

    object_prior = float(np.mean(data["train_y"] < k)) if len(data["train_y"]) else 0.5
    judged = ~np.isnan(probs[:, 0])
    object_prob = np.where(judged, 1 - probs[:, k], object_prior)
    on_gt = judged[:n]
    class_probs = np.full((n, k), 1.0 / max(k, 1))
    class_probs[on_gt] = probs[:n][on_gt, :k] / probs[:n][on_gt, :k].sum(1, keepdims=True)
    drawn_iou = (fit[:n] + box_iou(xywh[:n], boxes[:n])) / 2  # two estimates of one IoU: their mean
    opinion = BoxOpinion(pd.DataFrame(class_probs, index=gt.index, columns=categories), object_prob[:n],
                         object_prior, boxes[:n], None if pred is None else object_prob[n:], drawn_iou)
    opinion.attrs.update(
        accuracy=float(np.mean(class_probs[on_gt].argmax(1) == labels[on_gt])) if on_gt.any() else None,
        median_iou=float(np.median(box_iou(xywh[:n][on_gt], boxes[:n][on_gt]))) if on_gt.any() else None,
        seconds=round(time.perf_counter() - t0, 1))
    return opinion


def _judged_boxes(rgb: np.ndarray, xywh: np.ndarray, usable: np.ndarray, pred_xywh: np.ndarray, relative: bool):
    """An image's boxes in pixels (xyxy): all GT boxes, and which GT boxes and predictions can be judged (usable,
    at least a pixel wide and high); the windows they are judged in (GT boxes first), and the scale from the
    boxes' unit to pixels."""
    H, W = rgb.shape[:2]
    scale = np.array([W, H, W, H], np.float64) if relative else np.ones(4)
    every, predicted = to_xyxy(xywh * scale), to_xyxy(pred_xywh * scale)
    use = usable & (every[:, 2] - every[:, 0] >= 1) & (every[:, 3] - every[:, 1] >= 1)
    seen = (predicted[:, 2] - predicted[:, 0] >= 1) & (predicted[:, 3] - predicted[:, 1] >= 1)
    return every, predicted, use, seen, _window(np.concatenate([every[use], predicted[seen]])), scale


class _Windows:
    """The training windows, collected image by image, as uint8 crops; and how many boxes each fold judges."""

    def __init__(self, rng, k: int, jitters: int, background_per_box: float, train_share: float):
        self.rng, self.k, self.jitters, self.background_per_box = rng, k, jitters, background_per_box
        self.train_share = train_share
        self.judged_per_fold = collections.Counter()
        self.parts = {key: [] for key in ("train_x", "train_y", "train_t", "train_iou", "train_fold")}

    def add_image(self, image_id, path, rows: np.ndarray, xywh: np.ndarray, labels: np.ndarray, usable: np.ndarray,
                  pred_rows: np.ndarray, pred_xywh: np.ndarray, relative: bool, fold: int) -> None:
        """Windows of one image: its GT boxes ``xywh`` (``rows``; only ``usable`` ones are trained on, but every
        box keeps background windows away) and its predictions ``pred_xywh`` (hard negatives)."""
        rgb = np.asarray(open_image(image_id, path, "RGB"))
        H, W = rgb.shape[:2]
        every, predicted, use, seen, judged, _ = _judged_boxes(rgb, xywh, usable, pred_xywh, relative)
        self.judged_per_fold[fold] += len(judged)
        boxes, labels = every[use], labels[use]
        trained = self.rng.random(len(boxes)) < self.train_share
        shown, shown_labels = boxes[trained], labels[trained]
        moved = _jitter(self.rng, np.repeat(shown, self.jitters, 0))
        n_bg = int(self.rng.poisson(self.background_per_box * len(shown))) if len(shown) else 0
        # background: random windows, and the predictions that touch no GT box (hard negatives), except
        # inside crowd / ignore regions, whose objects are real but unlabelled
        off = predicted[seen]
        off = off[(_max_iou(off, every) < BACKGROUND_IOU) & (_max_ioa(off, every[~usable]) < 0.5)]
        background = np.concatenate([_background(self.rng, shown, every, W, H, n_bg),
                                     off[self.rng.random(len(off)) < self.train_share]])
        windows = np.concatenate([_window(shown), _window(moved), _window(background)])
        if not len(windows):
            return
        self.parts["train_x"].append(_sample(rgb, windows, judged))
        self.parts["train_y"].append(np.concatenate([shown_labels, np.repeat(shown_labels, self.jitters),
                                                     np.full(len(background), self.k)]))
        truth = np.concatenate([shown, np.repeat(shown, self.jitters, 0)])
        self.parts["train_t"].append(np.concatenate([_encode(truth, windows[: len(truth)]),
                                                     np.full((len(background), 4), np.nan)]))
        self.parts["train_iou"].append(np.concatenate([box_iou(to_xywh(np.concatenate([shown, moved])), to_xywh(truth)),
                                                       np.zeros(len(background))]))
        self.parts["train_fold"].append(np.full(len(windows), fold))

    def arrays(self) -> dict:
        empty = {"train_x": np.zeros((0, 3, WINDOW_SIDE, WINDOW_SIDE), np.uint8), "train_t": np.zeros((0, 4)),
                 "train_iou": np.zeros(0)}
        return {key: np.concatenate(parts) if parts else empty.get(key, np.zeros(0, int))
                for key, parts in self.parts.items()}


class _Judge:
    """Judges the boxes of each image with its fold's model, in batches, into the ``probs``, ``boxes`` and
    ``fit`` rows of the boxes (see :func:`crop_opinion`)."""

    def __init__(self, nets: list, probs: np.ndarray, boxes: np.ndarray, fit: np.ndarray, batch: int = 4096):
        self.nets, self.probs, self.boxes, self.fit, self.batch = nets, probs, boxes, fit, batch
        self.pending = {f: [] for f in range(len(nets))}  # fold -> [(rows, crops, windows, scale)]

    def add_image(self, image_id, path, rows: np.ndarray, xywh: np.ndarray, labels: np.ndarray, usable: np.ndarray,
                  pred_rows: np.ndarray, pred_xywh: np.ndarray, relative: bool, fold: int) -> None:
        """Judge one image's usable GT boxes and its predictions (arguments as :meth:`_Windows.add_image`)."""
        rgb = np.asarray(open_image(image_id, path, "RGB"))
        _, _, use, seen, windows, scale = _judged_boxes(rgb, xywh, usable, pred_xywh, relative)
        if not len(windows):
            return
        self.pending[fold].append((np.concatenate([rows[use], pred_rows[seen]]), _sample(rgb, windows, windows),
                                   windows, np.broadcast_to(scale, (len(windows), 4))))
        if sum(len(part[0]) for part in self.pending[fold]) >= self.batch:
            self._judge(fold)

    def flush(self) -> None:
        for fold in self.pending:
            self._judge(fold)

    def _judge(self, fold: int) -> None:
        if not self.pending[fold]:
            return
        rows, crops, windows, scale = (np.concatenate(part) for part in zip(*self.pending[fold]))
        self.pending[fold] = []
        p, t, iou = _predict(self.nets[fold], crops)
        self.probs[rows], self.fit[rows] = p, iou
        self.boxes[rows] = _decode(t, windows) / scale


def _window(xyxy: np.ndarray) -> np.ndarray:
    """The window (xyxy) a box is judged in: ``CONTEXT`` times its width and height, same centre."""
    centre, half = (xyxy[:, :2] + xyxy[:, 2:]) / 2, (xyxy[:, 2:] - xyxy[:, :2]) * CONTEXT / 2
    return np.concatenate([centre - half, centre + half], axis=1)


def _encode(truth: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Edges of ``truth`` as fractions of their windows (the regression target)."""
    size = windows[:, 2:] - windows[:, :2]
    return (truth - np.tile(windows[:, :2], 2)) / np.tile(size, 2)


def _decode(t: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Boxes (xywh) from edge fractions ``t`` of ``windows``."""
    size = windows[:, 2:] - windows[:, :2]
    xyxy = np.tile(windows[:, :2], 2) + t * np.tile(size, 2)
    return np.concatenate([xyxy[:, :2], np.clip(xyxy[:, 2:] - xyxy[:, :2], 0, None)], axis=1)


def _jitter(rng, boxes: np.ndarray) -> np.ndarray:
    """Boxes moved by up to 30% of their width / height and rescaled by 0.67-1.5x per axis."""
    size = boxes[:, 2:] - boxes[:, :2]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + rng.uniform(-0.3, 0.3, size.shape) * size
    half = size * np.exp(rng.uniform(-0.4, 0.4, size.shape)) / 2
    return np.concatenate([centre - half, centre + half], axis=1)


#: A window overlapping every GT box by less than this IoU shows no object (background in training).
BACKGROUND_IOU = 0.2


def _max_iou(boxes: np.ndarray, every: np.ndarray) -> np.ndarray:
    """Per box of ``boxes`` (xyxy), its largest IoU with a box of ``every`` (xyxy; 0 if none)."""
    return iou_xywh(to_xywh(boxes), to_xywh(every)).max(1, initial=0.0)


def _max_ioa(boxes: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Per box of ``boxes`` (xyxy), the largest share of its area inside one of ``regions`` (xyxy; 0 if none)."""
    iw = np.minimum(boxes[:, None, 2], regions[:, 2]) - np.maximum(boxes[:, None, 0], regions[:, 0])
    ih = np.minimum(boxes[:, None, 3], regions[:, 3]) - np.maximum(boxes[:, None, 1], regions[:, 1])
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return (np.clip(iw, 0, None) * np.clip(ih, 0, None) / np.maximum(area, 1e-12)[:, None]).max(1, initial=0.0)


def _background(rng, boxes: np.ndarray, every: np.ndarray, W: int, H: int, n: int) -> np.ndarray:
    """``n`` boxes (xyxy) of the sizes of ``boxes`` placed at random in the image, overlapping no box of
    ``every`` at IoU >= ``BACKGROUND_IOU`` (a few placements are tried; one that never fits is dropped)."""
    out = []
    for w, h in (boxes[:, 2:] - boxes[:, :2])[rng.integers(len(boxes), size=n)]:
        for _try in range(5):
            x, y = rng.uniform(0, max(W - w, 0)), rng.uniform(0, max(H - h, 0))
            if _max_iou(np.array([[x, y, x + w, y + h]]), every)[0] < BACKGROUND_IOU:
                out.append([x, y, x + w, y + h])
                break
    return np.array(out, np.float64).reshape(-1, 4)


def _sample(rgb: np.ndarray, windows: np.ndarray, judged: np.ndarray) -> np.ndarray:
    """Bilinear ``WINDOW_SIDE`` x ``WINDOW_SIDE`` crops (N x 3 x side x side, uint8) of the xyxy ``windows``
    of an H x W x 3 image; outside the image is black. A large image is first shrunk (with anti-aliasing) so
    that its typical window (the median of the image's ``judged`` windows: the same in training and judging)
    is at most twice the crop's side, which keeps the resampling from aliasing."""
    import torch
    import torch.nn.functional as F

    H, W = rgb.shape[:2]
    typical = float(np.median(np.maximum(judged[:, 2] - judged[:, 0], judged[:, 3] - judged[:, 1])))
    image = torch.tensor(rgb, dtype=torch.float32).permute(2, 0, 1)[None]
    shrink = 2 * WINDOW_SIDE / typical if typical > 0 else 1.0
    if shrink < 1:
        image = F.interpolate(image, scale_factor=shrink, mode="bilinear", antialias=True, align_corners=False)
    w = torch.as_tensor(windows, dtype=torch.float32)
    theta = torch.zeros(len(w), 2, 3)  # output [-1, 1] -> input [-1, 1] (image corners), per window
    theta[:, 0, 0] = (w[:, 2] - w[:, 0]) / W
    theta[:, 0, 2] = (w[:, 0] + w[:, 2]) / W - 1
    theta[:, 1, 1] = (w[:, 3] - w[:, 1]) / H
    theta[:, 1, 2] = (w[:, 1] + w[:, 3]) / H - 1
    crops = []
    for chunk in torch.split(torch.arange(len(w)), 256):
        grid = F.affine_grid(theta[chunk], (len(chunk), 3, WINDOW_SIDE, WINDOW_SIDE), align_corners=False)
        crops.append(F.grid_sample(image.expand(len(chunk), -1, -1, -1), grid, align_corners=False))
    return torch.cat(crops).round().clamp(0, 255).to(torch.uint8).numpy() if crops else \
        np.zeros((0, 3, WINDOW_SIDE, WINDOW_SIDE), np.uint8)


def _net(k: int):
    """Three conv blocks and three heads: ``k + 1`` class logits (the last is background), 4 box edges and
    the logit of the window's box's IoU with the object."""
    import torch.nn as nn

    class CropNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, WIDTH, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(WIDTH, 2 * WIDTH, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(2 * WIDTH, 4 * WIDTH, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(4 * WIDTH * (WINDOW_SIDE // 8) ** 2, 8 * WIDTH), nn.ReLU())
            self.classes, self.edges = nn.Linear(8 * WIDTH, k + 1), nn.Linear(8 * WIDTH, 4)
            self.fit = nn.Linear(8 * WIDTH, 1)

        def forward(self, x):
            h = self.features(x)
            return self.classes(h), self.edges(h), self.fit(h)[:, 0]

    return CropNet()


#: Weight of the box loss (smooth L1 on edge fractions) against the class cross-entropy.
BOX_LOSS_WEIGHT = 5.0


def _fit(x: np.ndarray, y: np.ndarray, t: np.ndarray, iou: np.ndarray, k: int, steps: int, rng,
         batch: int = BATCH, on_step: Callable[[int], None] | None = None):
    """Train a :func:`_net` on uint8 crops ``x``, classes ``y`` (``k`` = background), edge targets ``t``
    (NaN for background) and IoU targets ``iou`` (of the window's box with the object; cross-entropy
    with the IoU as a soft label) for ``steps`` batches (AdamW, one-cycle learning rate); ``on_step(s)``
    is called every 25 steps."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(x)
    sample = x[torch.from_numpy(rng.choice(len(x), size=min(len(x), 10_000), replace=False))].float()
    mean = sample.mean((0, 2, 3), keepdim=True)  # per channel, from a sample (the float copy of all is large)
    sd = sample.std((0, 2, 3), keepdim=True).clamp_min(1.0)
    y, t = torch.from_numpy(y.astype(np.int64)), torch.from_numpy(np.nan_to_num(t).astype(np.float32))
    iou = torch.from_numpy(iou.astype(np.float32))
    has_box = y < k
    net = _net(k)
    net.normalise = (mean, sd)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    net.train()
    for step in range(steps):
        if on_step and step % 25 == 0:
            on_step(step)
        idx = torch.from_numpy(rng.integers(len(x), size=min(batch, len(x))))
        logits, edges, fit = net((x[idx].float() - mean) / sd)
        loss = F.cross_entropy(logits, y[idx])
        box = has_box[idx]
        if box.any():
            loss = loss + BOX_LOSS_WEIGHT * F.smooth_l1_loss(edges[box], t[idx][box], beta=0.05) \
                + F.binary_cross_entropy_with_logits(fit[box], iou[idx][box])
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    return net.eval()


def _predict(net, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class probabilities (N x k+1), edge fractions (N x 4) and IoU of the window's box with the object (N)
    of uint8 crops ``x``."""
    import torch

    mean, sd = net.normalise
    probs, edges, fits = [], [], []
    with torch.no_grad():
        for chunk in torch.split(torch.from_numpy(x), 1024):
            logits, e, fit = net((chunk.float() - mean) / sd)
            probs.append(torch.softmax(logits, 1).numpy())
            edges.append(e.numpy())
            fits.append(torch.sigmoid(fit).numpy())
    return (np.concatenate(probs).astype(np.float64), np.concatenate(edges).astype(np.float64),
            np.concatenate(fits).astype(np.float64))
