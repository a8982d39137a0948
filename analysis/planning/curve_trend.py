"""The observed trend of a learning curve: does the metric still rise over its last sizes, is it flat, or does it fall?

:func:`observed_trend` gives the slope per doubling of the labels and the
noise it is measured against (the scatter around the line and the spread
across seeds), and whether the points strongly suggest that the metric's
direction is the other one. :mod:`analysis.planning.curve_fit` attaches it to
every fit; the verdicts of :mod:`analysis.planning.learning_curves` read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trend:
    """What the observed points say about more labels (:func:`observed_trend`).

    ``direction``: ``"rises"``, ``"flat"`` or ``"falls"`` (better / no better / worse with more labels, in
    the metric's stated direction) over the last ``window`` sizes; ``per_doubling``: the metric's change per
    doubling of the labels there (signed: positive is better), ``se`` its standard error (from the scatter
    around the line and the spread across seeds); ``first`` and ``last``: ``(labels, mean metric)`` at the
    smallest and largest size; ``seed_sd``: the typical spread across seeds (``nan`` with one run per size);
    ``other_direction``: the points strongly suggest the metric's direction is the other one (they get much
    worse, steadily, over all sizes).
    """

    direction: str
    per_doubling: float
    se: float
    window: int
    first: tuple
    last: tuple
    seed_sd: float
    other_direction: bool


#: A trend counts as rising or falling when its slope is this many standard errors from 0 ...
TREND_T = 2.0
#: ... and at least this share of the metric's scale per doubling of the labels.
TREND_MIN = 0.001


def _slope_se(x, y, noise_se):
    """Least-squares slope of ``y`` on ``x``, and its standard error from the residuals and ``noise_se`` (the
    standard error of each mean from its seeds; nan: unknown)."""
    xc = x - x.mean()
    sxx = float(np.dot(xc, xc))
    slope = float(np.dot(xc, y - y.mean()) / sxx)
    resid = y - y.mean() - slope * xc
    se_resid = np.sqrt(np.sum(resid**2) / (len(x) - 2) / sxx) if len(x) > 2 else 0.0
    se_noise = noise_se / np.sqrt(sxx) if np.isfinite(noise_se) else 0.0
    return slope, float(max(se_resid, se_noise))


def observed_trend(n, metric, higher_is_better: bool = True, scale: float = 1.0) -> Trend:
    """The observed trend of curve points (``n`` sizes, ``metric`` values, several seeds per size or one).

    The slope of the per-size means in ``log2 n`` over the last half of the sizes (at least 3) is compared with
    its standard error (:data:`TREND_T`) and with ``TREND_MIN * scale`` (``scale``: the metric's scale, e.g. 1
    for fractions). ``other_direction`` is set when, over all sizes, the metric gets worse by at least 5% of
    ``scale`` with a slope over 3 standard errors and a rank correlation with ``n`` of 0.8 or more in the
    wrong direction.
    """
    n = np.asarray(n, float)
    metric = np.asarray(metric, float)
    sizes, inverse, counts = np.unique(n, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, metric) / counts
    sign = 1.0 if higher_is_better else -1.0
    y = sign * means
    sq = np.bincount(inverse, (metric - means[inverse]) ** 2)
    several = counts > 1
    seed_sd = float(np.median(np.sqrt(sq[several] / (counts[several] - 1)))) if several.any() else np.nan
    noise_se = seed_sd / np.sqrt(np.median(counts[several])) if several.any() else np.nan
    x = np.log2(sizes)
    w = max(3, int(np.ceil(len(x) / 2)))
    slope, se = _slope_se(x[-w:], y[-w:], noise_se)
    if slope > TREND_T * se and slope > TREND_MIN * scale:
        direction = "rises"
    elif slope < -TREND_T * se and slope < -TREND_MIN * scale:
        direction = "falls"
    else:
        direction = "flat"
    slope_all, se_all = _slope_se(x, y, noise_se)
    ranks = np.corrcoef(np.argsort(np.argsort(y)), np.arange(len(y)))[0, 1] if np.ptp(y) > 0 else 0.0
    other = bool(y[-1] - y[0] <= -0.05 * scale and slope_all < -3 * se_all and ranks <= -0.8)
    return Trend(direction, slope, se, w, (int(sizes[0]), float(means[0])),
                 (int(sizes[-1]), float(means[-1])), seed_sd, other)
