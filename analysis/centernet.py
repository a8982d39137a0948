"""A small CenterNet-style object detector in plain torch, trained on CPU.

The network predicts, on a grid 4x coarser than the image, a heatmap per
class (object centres, focal loss), the box size and the centre's sub-cell
offset (L1 loss), as in Zhou et al. 2019, "Objects as Points". Decoding keeps
the 3x3 local maxima of the heatmaps; a box's score is its heatmap peak in
[0, 1]. Small enough to train in about a minute and a half on 2 cores.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

STRIDE = 4


def _block(c_in, c_out, dilation=1):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class CenterNet(nn.Module):
    """Stride-4 backbone (dilated 3x3 convolutions for a ~60 px receptive field) and three heads."""

    def __init__(self, num_classes: int, width: int = 32):
        super().__init__()
        self.num_classes = num_classes
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 24, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(24), nn.ReLU(inplace=True),
            nn.Conv2d(24, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            _block(width, width), _block(width, width, 2), _block(width, width, 4), _block(width, width, 1),
        )
        self.heatmap = nn.Sequential(_block(width, width), nn.Conv2d(width, num_classes, 1))
        self.size = nn.Sequential(_block(width, width), nn.Conv2d(width, 4, 1))
        # Start with a low prior for "object here", as in the paper (focal-loss bias init).
        nn.init.constant_(self.heatmap[-1].bias, -2.19)

    def forward(self, x):
        f = self.backbone(x)
        return self.heatmap(f), self.size(f)


def _gaussian_radius(w, h):
    # A radius that scales with object size; simpler than the paper's IoU-derived one and adequate here.
    return np.maximum(0.0, 0.15 * np.sqrt(w * h))


def make_targets(boxes: list[np.ndarray], labels: list[np.ndarray], num_classes: int, out_size: int):
    """Training targets for a batch.

    Args:
        boxes: per image, an N x 4 array of xywh boxes in input pixels.
        labels: per image, N class indices.
    Returns:
        ``heatmap`` (B x C x S x S), ``regression`` (B x 4 x S x S: offset x/y in
        cells, log width/height in cells) and ``mask`` (B x S x S, 1 at centres).
    """
    b = len(boxes)
    heat = np.zeros((b, num_classes, out_size, out_size), np.float32)
    reg = np.zeros((b, 4, out_size, out_size), np.float32)
    mask = np.zeros((b, out_size, out_size), np.float32)
    yy, xx = np.mgrid[0:out_size, 0:out_size]
    for i, (bx, lb) in enumerate(zip(boxes, labels)):
        for (x, y, w, h), c in zip(bx / STRIDE, lb):
            cx, cy = x + w / 2, y + h / 2
            ix, iy = min(int(cx), out_size - 1), min(int(cy), out_size - 1)
            sigma = max(_gaussian_radius(w, h), 0.5)
            g = np.exp(-((xx - ix) ** 2 + (yy - iy) ** 2) / (2 * sigma ** 2))
            heat[i, c] = np.maximum(heat[i, c], g)
            reg[i, :, iy, ix] = (cx - ix, cy - iy, np.log(max(w, 1e-3)), np.log(max(h, 1e-3)))
            mask[i, iy, ix] = 1.0
    return torch.from_numpy(heat), torch.from_numpy(reg), torch.from_numpy(mask)


def focal_loss(logits, target):
    """CenterNet's penalty-reduced pixel-wise focal loss (alpha=2, beta=4), per object."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    pos_loss = -torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = -torch.log(1 - p) * p ** 2 * (1 - target) ** 4 * (1 - pos)
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 N x H x W x 3 -> float N x 3 x H x W, roughly zero-centred."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def train(
    images: np.ndarray,
    boxes: list[np.ndarray],
    labels: list[np.ndarray],
    num_classes: int,
    *,
    time_budget_s: float = 90.0,
    max_steps: int | None = None,
    batch_size: int = 32,
    lr: float = 4e-3,
    seed: int = 0,
    progress=None,
) -> CenterNet:
    """Train a detector for ``max_steps`` steps or ``time_budget_s`` seconds, whichever ends first.

    Args:
        images: N x H x W x 3 uint8 (H = W, a multiple of 4).
        boxes, labels: per image, xywh boxes in pixels and class indices.
        progress: optional ``progress(fraction, message)``.
    The learning rate follows a cosine schedule over the budget;
    horizontal flips are not used (digits are not mirror-symmetric).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = CenterNet(num_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    out_size = images.shape[1] // STRIDE
    start = time.perf_counter()
    step = 0
    model.train()
    while (frac := max((time.perf_counter() - start) / time_budget_s, step / (max_steps or np.inf))) < 1.0:
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + np.cos(np.pi * frac))
        idx = rng.integers(0, len(images), batch_size)
        heat_t, reg_t, mask = make_targets([boxes[i] for i in idx], [labels[i] for i in idx], num_classes, out_size)
        heat, reg = model(_to_tensor(images[idx]))
        m = mask.unsqueeze(1)
        reg_loss = (F.l1_loss(reg * m, reg_t * m, reduction="sum")) / mask.sum().clamp(min=1)
        loss = focal_loss(heat, heat_t) + reg_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if progress and step % 10 == 0:
            progress(min(frac, 1.0), f"Training the detector: step {step}, loss {loss.item():.2f}")
    model.eval()
    model.train_steps = step
    return model


@torch.no_grad()
def predict(model: CenterNet, images: np.ndarray, *, score_threshold: float = 0.05, max_per_image: int = 50,
            batch_size: int = 64) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Detect objects; per image return ``(boxes N x 4 xywh px, class indices, scores in [0, 1])``.

    Boxes are clipped to the image.
    """
    out = []
    for s in range(0, len(images), batch_size):
        heat, reg = model(_to_tensor(images[s:s + batch_size]))
        heat = torch.sigmoid(heat)
        peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
        b, c, h, w = peaks.shape
        scores, flat = peaks.reshape(b, -1).topk(min(max_per_image, c * h * w))
        for i in range(b):
            keep = scores[i] >= score_threshold
            f = flat[i][keep]
            cls, cell = f // (h * w), f % (h * w)
            iy, ix = cell // w, cell % w
            r = reg[i][:, iy, ix]
            cx, cy = (ix + r[0]) * STRIDE, (iy + r[1]) * STRIDE
            bw, bh = torch.exp(r[2]) * STRIDE, torch.exp(r[3]) * STRIDE
            x0, y0 = (cx - bw / 2).clamp(0, w * STRIDE), (cy - bh / 2).clamp(0, h * STRIDE)
            x1, y1 = (cx + bw / 2).clamp(0, w * STRIDE), (cy + bh / 2).clamp(0, h * STRIDE)
            boxes = torch.stack([x0, y0, x1 - x0, y1 - y0], 1).numpy()
            out.append((boxes, cls.numpy(), scores[i][keep].numpy()))
    return out
