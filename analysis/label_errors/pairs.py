"""Pair generation: which ground-truth and predicted boxes overlap, found in bounded chunks, and the
blocks of images the engine works on, so memory stays bounded on large datasets.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

#: Pairs of boxes are tested in chunks of about this many (padded) cells, which bounds memory.
PAIR_CHUNK = 1 << 18


#: The engine works on blocks of images with about this many candidate box pairs (see pair_blocks).
BLOCK_CELLS = 1 << 21


def rows_padded(start, count, k):
    """Row index (m x k) of each image's boxes, padded with -1 past its count."""
    pos = np.arange(k)
    return np.where(pos < count[:, None], start[:, None] + pos, -1)


def overlapping_pairs(img_a, xa, img_b, xb, *, upper_only=False):
    """All pairs (i, j) with ``img_a[i] == img_b[j]`` whose boxes intersect.

    ``img_a`` / ``img_b`` are sorted integer image codes, ``xa`` / ``xb`` the
    boxes as N x 4 xyxy arrays. Each image's pairs form a dense block, tested
    with broadcast comparisons, so only the intersecting pairs are ever
    indexed: images whose box counts round up to the same powers of two are
    padded to one block shape (at most 2x per side) and tested about
    ``PAIR_CHUNK`` cells at a time, which bounds memory and keeps the work
    in cache. With ``upper_only`` (a is b) only pairs i < j are built.
    Returns ``ia, ib`` (sorted by ``ia``, then ``ib``), the pairs' IoU, and
    the intersection over the ``b`` box's area.
    """
    n_img = int(max(img_a.max(initial=-1), img_b.max(initial=-1))) + 1
    na, nb = np.bincount(img_a, minlength=n_img), np.bincount(img_b, minlength=n_img)
    start_a, start_b = np.cumsum(na) - na, np.cumsum(nb) - nb
    # images are padded to one block shape per bucket of similar box counts (within 2x)
    busy = np.flatnonzero((na > int(upper_only)) & (nb > 0))
    bucket = np.frexp(na[busy])[1] * 64 + np.frexp(nb[busy])[1]
    busy = busy[np.argsort(bucket, kind="stable")]
    bounds = np.flatnonzero(np.diff(np.sort(bucket))) + 1
    out = []
    for imgs in np.split(busy, bounds):
        if not len(imgs):
            continue
        ka, kb = int(na[imgs].max()), int(nb[imgs].max())
        tri = np.triu(np.ones((ka, kb), dtype=bool), 1) if upper_only else None
        step = max(1, PAIR_CHUNK // (ka * kb))
        for lo in range(0, len(imgs), step):
            part = imgs[lo:lo + step]
            ra, rb = rows_padded(start_a[part], na[part], ka), rows_padded(start_b[part], nb[part], kb)
            a, b = np.take(xa, np.maximum(ra, 0), axis=0), np.take(xb, np.maximum(rb, 0), axis=0)
            a[ra < 0], b[rb < 0] = np.nan, np.nan  # padding: NaN compares false, so it pairs with nothing
            a4, b4 = a[:, :, None, :], b[:, None, :, :]
            hit = ((a4[..., 0] < b4[..., 2]) & (b4[..., 0] < a4[..., 2])
                   & (a4[..., 1] < b4[..., 3]) & (b4[..., 1] < a4[..., 3]))
            if tri is not None:
                hit &= tri
            cell = np.flatnonzero(hit)  # (image, i, j) flattened: i over ka, j over kb
            sa, sb = cell // kb, cell // (ka * kb) * kb + cell % kb
            ca, cb = np.take(a.reshape(-1, 4), sa, axis=0), np.take(b.reshape(-1, 4), sb, axis=0)
            inter = ((np.minimum(ca[:, 2], cb[:, 2]) - np.maximum(ca[:, 0], cb[:, 0]))
                     * (np.minimum(ca[:, 3], cb[:, 3]) - np.maximum(ca[:, 1], cb[:, 1])))
            keep = inter > 0  # x + w can round to x for boxes far thinner than their coordinates
            if not keep.all():
                sa, sb, ca, cb, inter = sa[keep], sb[keep], ca[keep], cb[keep], inter[keep]
            area_a = (ca[:, 2] - ca[:, 0]) * (ca[:, 3] - ca[:, 1])
            area_b = (cb[:, 2] - cb[:, 0]) * (cb[:, 3] - cb[:, 1])
            out.append((ra.ravel()[sa], rb.ravel()[sb], inter / (area_a + area_b - inter), inter / area_b))
    if not out:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    ia, ib, iou, ioa_b = (np.concatenate(c) for c in zip(*out))
    if np.any(ia[1:] < ia[:-1]):  # buckets interleave: one stable merge of their sorted runs
        o = np.argsort(ia, kind="stable")
        ia, ib, iou, ioa_b = ia[o], ib[o], iou[o], ioa_b[o]
    return ia, ib, iou, ioa_b


class Runs:
    """Pairs sorted into runs of equal keys: per run, the largest value and the first pair holding it.

    Sorted ``keys`` (as ``ia`` from :func:`overlapping_pairs`) skip the sort.
    """

    def __init__(self, keys: np.ndarray):
        self.order = None if np.all(keys[1:] >= keys[:-1]) else np.argsort(keys, kind="stable")
        k = keys if self.order is None else keys[self.order]
        self.starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]]) if len(k) else np.zeros(0, np.int64)
        self.keys = k[self.starts]
        self.lens = np.diff(np.r_[self.starts, len(k)])
        self.run = np.repeat(np.arange(len(self.starts)), self.lens)  # each sorted pair's run

    def top(self, values: np.ndarray):
        """The values in run order, and each run's largest value."""
        v = values if self.order is None else values[self.order]
        return v, (np.maximum.reduceat(v, self.starts) if len(v) else np.zeros(0))

    def first_of_top(self, v: np.ndarray, top: np.ndarray) -> np.ndarray:
        """For each run whose top is positive: the position (in ``v``) of the first pair holding it."""
        # NaN equals nothing, so runs without a positive top have no hits
        hits = np.flatnonzero(v == np.repeat(np.where(top > 0, top, np.nan), self.lens))
        run = self.run[hits]
        return hits[np.r_[True, run[1:] != run[:-1]]] if len(hits) else hits

    def pairs(self, positions: np.ndarray) -> np.ndarray:
        """Pair indices (input order) of positions in run order."""
        return positions if self.order is None else self.order[positions]


class ClassGroups:
    """Pairs grouped by (group, class): per group, the sum over classes of each class's max.

    One sort of the pairs by ``group * n_classes + class`` serves every value array.
    """

    def __init__(self, group: np.ndarray, cls: np.ndarray, n: int):
        self.n = n
        n_cls = int(cls.max(initial=0)) + 1
        self.runs = Runs(group.astype(np.int64) * n_cls + cls)
        self.group = self.runs.keys // n_cls

    def sum_of_max(self, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Per group: the sum over classes of each class's largest value.

        With ``weights`` (one per pair), each class's largest positive value is
        multiplied by the weight of the pair that holds it (the first, on ties).
        """
        v, top = self.runs.top(values)
        if weights is not None:
            top[top > 0] *= weights[self.runs.pairs(self.runs.first_of_top(v, top))]
        return np.bincount(self.group, weights=top, minlength=self.n).astype(np.float64)


class Groups:
    """Pairs grouped by one of their sides (groups 0..n-1), for per-group max / argmax in O(n)."""

    def __init__(self, keys: np.ndarray, n: int):
        self.n = n
        self.runs = Runs(keys)

    def max(self, values: np.ndarray) -> np.ndarray:
        """Per group: the largest positive value (0 if none)."""
        best = np.zeros(self.n)
        _, top = self.runs.top(values)
        ok = top > 0
        best[self.runs.keys[ok]] = top[ok]
        return best

    def argmax(self, values: np.ndarray):
        """Per group: the largest positive value (0 if none) and its pair index (-1 if none)."""
        best = np.zeros(self.n)
        arg = np.full(self.n, -1, dtype=np.int64)
        v, top = self.runs.top(values)
        ok = top > 0
        best[self.runs.keys[ok]] = top[ok]
        arg[self.runs.keys[ok]] = self.runs.pairs(self.runs.first_of_top(v, top))
        return best, arg


def pair_blocks(g_img, g_box, p_img, p_box, real_g, g_cls, p_cls):
    """The images in blocks of about ``BLOCK_CELLS`` candidate pairs, each with its intersecting pairs.

    A box's pairs all lie in its image's block, so per-box reductions over a
    block are complete, while every per-pair array stays block-sized (in
    cache, and no large temporaries). Yields namespaces: ``g, p`` (slices of
    the image-sorted GT / prediction rows), ``gi, pi`` (each pair's rows,
    relative to those slices), ``iou, p_ioa`` (see :func:`overlapping_pairs`),
    ``real`` (the GT box is no crowd / ignore region), ``gt_cls, pred_cls``,
    ``sel`` (real and of one class) and ``by_gt, by_pred`` (:class:`Groups`).
    """
    n_img = int(max(g_img.max(initial=-1), p_img.max(initial=-1))) + 1
    cells = np.bincount(g_img, minlength=n_img) * np.bincount(p_img, minlength=n_img)
    block = (np.cumsum(cells) - cells) // BLOCK_CELLS
    edges = np.r_[0, np.flatnonzero(np.diff(block)) + 1, n_img]
    g_edges, p_edges = np.searchsorted(g_img, edges), np.searchsorted(p_img, edges)
    for k in range(len(edges) - 1):
        g, q = slice(g_edges[k], g_edges[k + 1]), slice(p_edges[k], p_edges[k + 1])
        gi, pi, iou, p_ioa = overlapping_pairs(g_img[g] - edges[k], g_box[g], p_img[q] - edges[k], p_box[q])
        real, gt_cls, pred_cls = real_g[g][gi], g_cls[g][gi], p_cls[q][pi]
        yield SimpleNamespace(g=g, p=q, gi=gi, pi=pi, iou=iou, p_ioa=p_ioa, real=real, gt_cls=gt_cls,
                              pred_cls=pred_cls, sel=(gt_cls == pred_cls) & real,
                              by_gt=Groups(gi, g.stop - g.start), by_pred=Groups(pi, q.stop - q.start))


def per_box(blocks, evidence) -> dict:
    """``evidence(block)`` on every block of :func:`pair_blocks`, its per-box arrays joined in row order."""
    parts = [evidence(b) for b in blocks]
    return {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
