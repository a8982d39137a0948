"""Fit saturating learning curves and extrapolate them with calibrated intervals.

Inputs are curve points: training-set sizes ``n`` (labelled items) and a metric
per trained model (accuracy, IoU, F1... where higher is better, or error, loss
where lower is better), several seeds per size when available.

Method (see Viering & Loog 2022, "The Shape of Learning Curves", and Domhan et
al. 2015 for the forms and for choosing among them by extrapolation):

1. **Gap space.** Every metric is turned into its *gap* to perfect,
   ``g = perfect - metric`` (higher is better; ``perfect`` is 1, or 100 for
   percentages) or ``g = metric`` (lower is better, e.g. error or loss). Gaps
   shrink with ``n`` and stay positive, so the forms are fitted to
   ``log g``: errors become relative, which matters near a ceiling where
   gaps are small and absolute noise would dominate.
2. **Forms** (:data:`FORMS`), each ``g(n) = a + reducible(n)`` with an
   asymptotic gap ``a >= 0`` (the ceiling is ``perfect - a``): ``pow2``
   (power law, ``a = 0``), ``pow3`` (power law with asymptote,
   ``metric = ceiling - b n^-c``), ``pow4`` (shifted power law), ``mmf4``
   (a logistic in log n, the MMF form) and ``wbl4`` (Weibull/Janoschek).
   Fits are weighted least squares on the per-size mean; each size's weight
   is ``1 / (se^2 + tau^2)`` with ``se`` the standard error of its log gap
   across seeds and ``tau`` a floor for model error, so a size with noisy
   seeds counts less and three lucky seeds cannot dominate.
3. **Weighting forms by extrapolation.** Each form is refitted on the
   smaller sizes (all but the largest third) and scored on how well it
   predicts the largest third (RMSE of log gap, ``err_f``). The forms are
   averaged in log gap with forecast-combination weights ``1 / max(err_f,
   ERR_FLOOR)^2``: a form that extrapolated badly inside the data has little
   say, and the floor stops two or three held-out points from crowning one
   form (hard selection extrapolated worse than averaging on the backtest
   curves: single forms are biased, ``pow2`` optimistic and the 4-parameter
   forms pessimistic, and averaging cancels much of it).
4. **Intervals.** Bootstrap over seeds (each size's seeds resampled with
   replacement; residual resampling when there is one seed per size) gives
   parameter draws for each form; forms are mixed by their weights. Fits
   that look right inside the data still extrapolate with an error that
   grows with the distance, so each draw also gets a model-error term in
   log gap, normal with standard deviation ``KAPPA * err * log(N / n_max) /
   log(n_max / n_holdout_max)``: the combined within-sample extrapolation
   error ``err``, scaled linearly with log distance (at least
   ``MODEL_SD_FLOOR`` per unit of log distance). ``KAPPA = 1`` (the
   error grows as it did inside the data); on the tuning curves of
   ``tests/benchmarks/bench_extrapolation.py`` coverage was flat in
   ``KAPPA`` between 0.5 and 3, so the natural value was kept.

The main entry point is :func:`fit_curve`; it returns a :class:`CurveFit`
that predicts the metric at any size with an interval, the labels needed to
reach a target, and the probability that the ceiling is below the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.optimize import least_squares

from analysis.errors import InputError

#: Model-error scale for the intervals (see step 4 above), set on the tuning curves.
KAPPA = 1.0
#: Floor of the log-gap noise, per size: 3% relative model error.
TAU = 0.03
#: Smallest model-error sd of log gap per unit of log(N / n_max): with few sizes the within-sample test
#: can look perfect by luck. 0.1 is about half the typical error of the tuning curves (median absolute
#: error 0.125 per unit log distance, i.e. sd ~0.19), so it only matters where the data say less.
MODEL_SD_FLOOR = 0.1
#: Smallest within-sample extrapolation error (RMSE of log gap) a form is credited with.
ERR_FLOOR = 0.01
#: Labels-to-target searches stop at this many labels (beyond it: "not reachable").
MAX_LABELS = 1e9


class FitError(InputError):
    """The curve points cannot be fitted (too few sizes, out-of-range values); the message says why."""


@dataclass(frozen=True)
class Form:
    """A learning-curve shape in gap space, with ``x = log(n / n_ref)``.

    ``gap(x, theta)`` takes ``x`` of shape (m,) and ``theta`` of shape (d, p)
    and returns (d, m) gaps; ``start(x, logg)`` returns starting parameter
    vectors; ``asymptote(theta)`` the gap as ``n -> inf`` for each row.
    """

    name: str
    formula: str
    n_params: int
    gap: Callable
    bounds: Callable  # (x, logg) -> (lower, upper)
    start: Callable
    asymptote: Callable


def _line(x, logg, w=None):
    """Weighted least-squares line ``logg = p - c x``: returns ``(p, c)``."""
    A = np.column_stack([np.ones_like(x), -x])
    w = np.ones_like(x) if w is None else w
    coef, *_ = np.linalg.lstsq(A * w[:, None], logg * w, rcond=None)
    return coef[0], max(coef[1], 1e-3)


def _pow3_starts(x, logg):
    g_min = np.exp(logg.min())
    starts = []
    for frac in (0.0, 0.5, 0.9):
        a = frac * g_min
        p, c = _line(x, np.log(np.exp(logg) - a))
        starts.append([a, p, min(c, 4.9)])
    return starts


def _gap_bounds(extra_lower, extra_upper):
    def bounds(x, logg):
        g_min = np.exp(logg.min())
        return [0.0, -30.0, 0.0] + extra_lower, [g_min, 30.0, 5.0] + extra_upper
    return bounds


FORMS = {
    f.name: f
    for f in [
        Form("pow2", "metric = perfect - b n^-c", 2,
             lambda x, t: np.exp(t[:, [0]] - t[:, [1]] * x),
             lambda x, logg: ([-30.0, 0.0], [30.0, 5.0]),
             lambda x, logg: [list(_line(x, logg))],
             lambda t: np.zeros(len(t))),
        Form("pow3", "metric = ceiling - b n^-c", 3,
             lambda x, t: t[:, [0]] + np.exp(t[:, [1]] - t[:, [2]] * x),
             _gap_bounds([], []),
             _pow3_starts,
             lambda t: t[:, 0]),
        Form("pow4", "metric = ceiling - b (n + d)^-c", 4,
             # d = delta * n_ref: the size below which the curve flattens
             lambda x, t: t[:, [0]] + np.exp(t[:, [1]] - t[:, [2]] * np.log(np.exp(x) + t[:, [3]])),
             _gap_bounds([0.0], [1.0]),
             lambda x, logg: [s + [0.05] for s in _pow3_starts(x, logg)],
             lambda t: t[:, 0]),
        Form("mmf4", "metric = ceiling - b / (1 + (n / k)^c)", 4,
             lambda x, t: t[:, [0]] + np.exp(t[:, [1]]) / (1.0 + np.exp(t[:, [2]] * (x - t[:, [3]]))),
             _gap_bounds([-20.0], [5.0]),
             lambda x, logg: [[s[0], s[1] - s[2] * x.min() + np.log(2.0), s[2], x.min() + dx]
                              for s in _pow3_starts(x, logg)[:2] for dx in (0.0, -2.0)],
             lambda t: t[:, 0]),
        Form("wbl4", "metric = ceiling - b exp(-(n / k)^c)", 4,
             lambda x, t: t[:, [0]] + np.exp(t[:, [1]] - np.exp(t[:, [2]] * (x - t[:, [3]]))),
             _gap_bounds([-20.0], [5.0]),
             lambda x, logg: [[s[0], logg.max() + 1.0, c, x.min() + dx]
                              for s in _pow3_starts(x, logg)[:2] for c, dx in ((0.5, 0.0), (1.0, 1.0))],
             lambda t: t[:, 0]),
    ]
}


def _residuals(form, x, logg, w):
    def fun(theta):
        g = form.gap(x, theta[None])[0]
        return w * (logg - np.log(np.maximum(g, 1e-300)))
    return fun


def _fit_form(form, x, logg, w, starts=None, max_nfev=200):
    """Weighted least squares of one form in log-gap space; returns ``(theta, cost)`` or ``None``."""
    lo, hi = (np.asarray(b, float) for b in form.bounds(x, logg))
    best = None
    for s in starts if starts is not None else form.start(x, logg):
        s = np.clip(np.asarray(s, float), lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo))
        try:
            r = least_squares(_residuals(form, x, logg, w), s, bounds=(lo, hi), method="trf",
                              max_nfev=max_nfev, ftol=1e-6, xtol=1e-6)
        except ValueError:
            continue
        if np.isfinite(r.cost) and (best is None or r.cost < best[1]):
            best = (r.x, r.cost)
    return best


@dataclass
class SizeStats:
    """Per-size summary of curve points in gap space (all arrays of shape (k,), sizes ascending)."""

    n: np.ndarray
    gaps: list  # per size, the gap of each seed
    mean_gap: np.ndarray
    se_log: np.ndarray  # standard error of log(mean gap); nan with one seed


def size_stats(n, gap) -> SizeStats:
    """Group gaps by size: means, and standard errors of the log mean across seeds."""
    n = np.asarray(n, float)
    gap = np.asarray(gap, float)
    sizes = np.unique(n)
    groups = [gap[n == s] for s in sizes]
    mean = np.array([g.mean() for g in groups])
    floor = max(mean.min(), 1e-12) * 1e-3
    mean = np.maximum(mean, floor)  # a perfect score at some size: keep log finite
    se = np.array([g.std(ddof=1) / np.sqrt(len(g)) if len(g) > 1 else np.nan for g in groups]) / mean
    return SizeStats(sizes, groups, mean, se)


def _weights(stats: SizeStats) -> np.ndarray:
    se = stats.se_log
    if np.all(np.isnan(se)):
        return np.ones_like(stats.mean_gap)
    # three seeds give a rough standard error: shrink each towards the median one
    se = np.where(np.isnan(se), np.nanmedian(se), se)
    se = np.sqrt(0.5 * se**2 + 0.5 * np.median(se) ** 2)
    return 1.0 / np.sqrt(se**2 + TAU**2)


@dataclass
class CurveFit:
    """A fitted, extrapolatable learning curve (see the module docstring for the method).

    Attributes: ``forms`` (names), ``weights`` (per form, sum 1), ``params``
    (form -> full-data parameters), ``holdout_error`` (form -> RMSE of log gap
    when predicting the largest third of the sizes from the rest; ``nan`` if
    too few sizes), ``n_ref`` (largest fitted size), ``perfect`` and
    ``higher_is_better`` (the metric's direction), and the bootstrap draws.
    """

    forms: list
    weights: np.ndarray
    params: dict
    holdout_error: dict
    n_ref: float
    perfect: float
    higher_is_better: bool
    draw_form: np.ndarray  # (D,) form index per draw
    draw_theta: list  # per draw, the parameter vector
    draw_z: np.ndarray  # (D,) standard normal model-error multipliers
    model_sd_per_log: float  # model-error sd of log gap per unit of log(N / n_ref)
    stats: SizeStats = field(repr=False)

    @property
    def form(self) -> str:
        """The form with the largest weight."""
        return self.forms[int(np.argmax(self.weights))]

    def _to_metric(self, gap):
        return self.perfect - gap if self.higher_is_better else gap

    def _gap_of(self, metric):
        return self.perfect - metric if self.higher_is_better else metric

    def _point_gap(self, x):
        """Weighted mean (in log gap) of the full-data fits at ``x``: the point estimate."""
        logs = np.array([np.log(FORMS[f].gap(x, np.atleast_2d(self.params[f]))[0]) for f in self.forms])
        return np.exp(self.weights @ logs)

    def _draw_gaps(self, x):
        """(D, m) gaps of every bootstrap draw at ``x``, with the model-error term beyond ``n_ref``."""
        out = np.empty((len(self.draw_form), len(x)))
        for i, f in enumerate(self.forms):
            sel = self.draw_form == i
            if sel.any():
                out[sel] = FORMS[f].gap(x, np.array([self.draw_theta[j] for j in np.flatnonzero(sel)]))
        noise = self.draw_z[:, None] * self.model_sd_per_log * np.maximum(x, 0.0)[None, :]
        return np.maximum(out, 1e-300) * np.exp(noise)

    def fitted(self, n) -> np.ndarray:
        """Point estimate of the metric at sizes ``n``."""
        x = np.log(np.asarray(n, float) / self.n_ref)
        return self._to_metric(self._point_gap(x))

    def predict(self, n, level: float = 0.8):
        """Metric at sizes ``n``: ``(estimate, low, high)`` arrays, ``[low, high]`` a ``level`` interval."""
        x = np.log(np.atleast_1d(np.asarray(n, float)) / self.n_ref)
        est = self._point_gap(x)
        q = np.quantile(self._draw_gaps(x), [(1 - level) / 2, (1 + level) / 2], axis=0)
        lo_gap, hi_gap = np.minimum(q[0], est), np.maximum(q[1], est)
        if self.higher_is_better:
            return self._to_metric(est), self._to_metric(hi_gap), self._to_metric(lo_gap)
        return est, lo_gap, hi_gap

    def ceiling(self) -> float:
        """Point estimate of the metric as ``n -> inf`` (weighted over forms, like the curve)."""
        a = np.array([FORMS[f].asymptote(np.atleast_2d(self.params[f]))[0] for f in self.forms])
        return float(self._to_metric(self.weights @ a))

    def p_ceiling_short(self, target: float) -> float:
        """Probability (over draws) that the curve's ceiling does not reach ``target``."""
        g_t = self._gap_of(target)
        a = np.empty(len(self.draw_form))
        for i, f in enumerate(self.forms):
            sel = self.draw_form == i
            if sel.any():
                a[sel] = FORMS[f].asymptote(np.array([self.draw_theta[j] for j in np.flatnonzero(sel)]))
        return float(np.mean(a >= g_t))

    def labels_to_target(self, target: float, level: float = 0.8):
        """Labels needed to reach ``target``: ``(estimate, low, high)`` (``inf`` = not within MAX_LABELS).

        Each draw's curve is solved for its first size whose gap is at most the
        target gap (log grid, interpolated in log n); the estimate solves the
        point-estimate curve. ``low``/``high`` bound a ``level`` interval.
        """
        g_t = self._gap_of(target)
        if g_t <= 0:
            raise FitError(f"target {target} is at or beyond a perfect score ({self.perfect})")
        n_grid = np.geomspace(1.0, MAX_LABELS, 1200)
        x = np.log(n_grid / self.n_ref)
        crossing = _first_crossing(np.log(self._draw_gaps(x)), np.log(g_t), np.log(n_grid))
        est = _first_crossing(np.log(self._point_gap(x))[None], np.log(g_t), np.log(n_grid))[0]
        lo, hi = np.quantile(crossing, [(1 - level) / 2, (1 + level) / 2])
        return float(est), float(min(lo, est)), float(max(hi, est))


def _first_crossing(log_gaps, log_target, log_n):
    """Per row, the size where ``log_gaps`` first falls to ``log_target`` (``inf`` if never)."""
    below = log_gaps <= log_target
    hit = below.any(axis=1)
    j = np.argmax(below, axis=1)
    out = np.full(len(log_gaps), np.inf)
    rows = np.flatnonzero(hit)
    out[rows] = np.exp(log_n[0])
    inner = rows[j[rows] > 0]
    if len(inner):
        j1 = j[inner]
        g0, g1 = log_gaps[inner, j1 - 1], log_gaps[inner, j1]
        t = np.clip((g0 - log_target) / np.maximum(g0 - g1, 1e-300), 0, 1)
        out[inner] = np.exp(log_n[j1 - 1] + t * (log_n[j1] - log_n[j1 - 1]))
    return out


def infer_perfect(metric, higher_is_better: bool) -> float:
    """The perfect score of a metric: 0 if lower is better; 1 for fractions, 100 for percentages."""
    metric = np.asarray(metric, float)
    if not higher_is_better:
        if metric.min() < 0:
            raise FitError("a lower-is-better metric (error, loss) cannot be negative")
        return 0.0
    if metric.min() < 0 or metric.max() > 100:
        raise FitError("a higher-is-better metric must lie in [0, 1] (or [0, 100] for percentages)")
    return 1.0 if metric.max() <= 1 else 100.0


def fit_curve(
    n,
    metric,
    seed=None,
    *,
    higher_is_better: bool = True,
    perfect: float | None = None,
    forms=tuple(FORMS),
    n_boot: int = 100,
    random_state: int = 0,
) -> CurveFit:
    """Fit and prepare extrapolation of one learning curve.

    Inputs: ``n`` training-set sizes (labelled items), ``metric`` the score
    of each trained model (same length), ``seed`` optional run ids (only
    their count per size matters: several values per size are treated as
    seeds), ``higher_is_better`` the metric's direction, ``perfect`` its
    best possible value (default: :func:`infer_perfect`), ``forms`` candidate
    form names, ``n_boot`` bootstrap draws.

    Output: a :class:`CurveFit`. Raises :class:`FitError` with fewer than 3
    distinct sizes or metrics outside their range.
    """
    n = np.asarray(n, float)
    metric = np.asarray(metric, float)
    if len(n) != len(metric) or not np.all(np.isfinite(n)) or not np.all(np.isfinite(metric)):
        raise FitError("sizes and metrics must be finite numbers of equal length")
    if n.min() < 1:
        raise FitError("training-set sizes must be at least 1")
    perfect = infer_perfect(metric, higher_is_better) if perfect is None else float(perfect)
    gap = perfect - metric if higher_is_better else metric
    if gap.min() < 0:
        raise FitError(f"metric values beyond the perfect score {perfect}")
    stats = size_stats(n, gap)
    if len(stats.n) < 3:
        raise FitError(f"need points at 3 or more distinct sizes to fit a curve, got {len(stats.n)}")
    n_ref = stats.n.max()
    x = np.log(stats.n / n_ref)
    logg = np.log(stats.mean_gap)
    w = _weights(stats)
    usable = [f for f in forms if FORMS[f].n_params <= len(x) - (1 if FORMS[f].n_params > 2 else 0)]

    params, costs = {}, {}
    for f in usable:
        fit = _fit_form(FORMS[f], x, logg, w)
        if fit is not None:
            params[f], costs[f] = fit
    holdout, n_hold_ref = _holdout_errors(list(params), x, logg, w)
    names = list(params)
    errs = np.array([holdout[f] for f in names])
    if np.all(np.isnan(errs)):
        weights = np.full(len(names), 1.0 / len(names))
    else:
        errs = np.where(np.isnan(errs), np.nanmax(errs) * 10, errs)
        # inverse mean squared extrapolation error (forecast combination); the floor keeps one lucky
        # form from taking all the weight on two or three held-out points
        weights = 1.0 / np.maximum(errs, ERR_FLOOR) ** 2
        weights /= weights.sum()
    err_mix = np.sqrt(weights @ np.minimum(errs, 1.0) ** 2) if not np.all(np.isnan(list(holdout.values()))) else TAU
    model_sd = max(KAPPA * err_mix / max(np.log(n_ref / n_hold_ref), 0.5), MODEL_SD_FLOOR)

    rng = np.random.default_rng(random_state)
    draw_form = rng.choice(len(names), size=n_boot, p=weights)
    draw_theta = [None] * n_boot
    resampled = _bootstrap_log_gaps(stats, x, logg, params, names, draw_form, rng)
    for d in range(n_boot):
        f = names[draw_form[d]]
        fit = _fit_form(FORMS[f], x, resampled[d], w, starts=[params[f]], max_nfev=30)  # warm start
        draw_theta[d] = fit[0] if fit is not None else params[f]
    return CurveFit(names, weights, params, holdout, n_ref, perfect, higher_is_better,
                    draw_form, draw_theta, rng.standard_normal(n_boot), model_sd, stats)


def _holdout_errors(names, x, logg, w):
    """Per form, RMSE of log gap on the largest third of sizes when fitted on the rest."""
    k = len(x)
    h = max(1, int(round(k / 3)))
    errs = {f: np.nan for f in names}
    if k - h < 2:
        return errs, np.exp(x[0])
    for f in names:
        form = FORMS[f]
        if form.n_params > k - h - (1 if form.n_params > 2 else 0):
            continue
        fit = _fit_form(form, x[:-h], logg[:-h], w[:-h])
        if fit is not None:
            pred = np.log(np.maximum(form.gap(x[-h:], fit[0][None])[0], 1e-300))
            errs[f] = float(np.sqrt(np.mean((pred - logg[-h:]) ** 2)))
    return errs, np.exp(x[-h - 1])


def _bootstrap_log_gaps(stats, x, logg, params, names, draw_form, rng):
    """(D, k) resampled log mean gaps: seeds resampled per size, or residuals with one seed per size."""
    n_boot = len(draw_form)
    if all(len(g) > 1 for g in stats.gaps):
        out = np.empty((n_boot, len(x)))
        for i, g in enumerate(stats.gaps):
            idx = rng.integers(len(g), size=(n_boot, len(g)))
            out[:, i] = np.log(np.maximum(g[idx].mean(axis=1), stats.mean_gap.min() * 1e-3))
        return out
    # one seed per size: resample the residuals of the full fit of each draw's form
    out = np.empty((n_boot, len(x)))
    for i, f in enumerate(names):
        sel = np.flatnonzero(draw_form == i)
        fit_log = np.log(np.maximum(FORMS[f].gap(x, np.atleast_2d(params[f]))[0], 1e-300))
        resid = logg - fit_log
        scale = np.sqrt(len(x) / max(len(x) - FORMS[f].n_params, 1))  # undo the fit's shrinkage
        out[sel] = fit_log + scale * resid[rng.integers(len(x), size=(len(sel), len(x)))]
    return out
