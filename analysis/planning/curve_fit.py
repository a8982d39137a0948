"""Fit saturating learning curves and extrapolate them with calibrated intervals.

Inputs are curve points: training-set sizes ``n`` (labelled items) and a metric
per trained model (accuracy, IoU, F1... where higher is better, or error, loss
where lower is better), several seeds per size when available.

Method (forms after Viering & Loog 2022, "The Shape of Learning Curves"; the
prior is empirical Bayes across real curves, the choice by extrapolation as in
Domhan et al. 2015). Every constant below was set on the real curves of
``tests/benchmarks/bench_extrapolation.py``, which also reports them
cross-validated by data set (each data set's curves predicted with constants
set on the other data sets only).

1. **Gap space.** Every metric is turned into its *gap* to perfect,
   ``g = perfect - metric`` (higher is better; ``perfect`` is 1, or 100 for
   percentages) or ``g = metric`` (lower is better, e.g. error or loss). Gaps
   shrink with ``n`` and stay positive, so the forms are fitted to ``log g``
   by weighted least squares on the per-size mean; each size's weight is
   ``1 / sqrt(se^2 + TAU^2)`` with ``se`` the standard error of its log gap
   across seeds and ``TAU`` a floor for model error. With one run per size
   (no seeds) ``se`` is a typical run's noise, :data:`SINGLE_RUN_SD`.
2. **Warm-up sizes are dropped.** Some models cannot learn at all below a
   minimum size (gradient boosting with its minimum leaf size predicts one
   class): a leading plateau that ends in a one-step fall of the gap by more
   than half, and steeper than 3x the later steps, is not part of the curve.
3. **The main form** is the inverse power law with an asymptote, written
   from the largest fitted size ``n_ref``: ``g(n) = g_ref (phi + (1 - phi)
   (n / n_ref)^-c)``, i.e. ``metric = ceiling - b n^-c`` with the ceiling
   ``perfect - phi g_ref``. A few sizes cannot pin down both the exponent
   ``c`` and the asymptote share ``phi`` (a slope can come from either), and
   free least squares extrapolates erratically. So the fit is the posterior
   mode under a prior learned across real curves (:data:`PRIOR`): normal on
   ``log c`` and on ``logit phi``. The prior odds of ``phi`` grow in
   proportion to the gap left at ``n_ref`` (``logit phi`` has mean ``mu_u +
   level_u log(g_ref / 0.1)``, ``level_u = 1``): a model still 30% from
   perfect is more likely near a floor set by label noise or the task's own
   ambiguity than one 3% from perfect (on the real curves this cut the
   cross-validated errors by a sixth). It needs the gap on a known scale, so
   it applies to fractions (and percentages) only; a lower-is-better metric
   above 1 (a loss) gets the level-free prior. A user's data with many sizes
   still overrule the prior (it counts as two observations).
4. **Alternatives, chosen by extrapolation.** ``pow2`` (power law, no
   asymptote), ``pow4`` (shifted power law) and ``mmf4`` (a logistic in
   ``log n``) are fitted freely. Each form is refitted on the smaller sizes
   (all but the largest third) and scored on how well it predicts the largest
   third (RMSE of log gap). The main form is used alone unless an
   alternative extrapolated at least :data:`GUARD` times better inside the
   data: the data then say the curve may have another shape (e.g. it still
   accelerates), but a few sizes do not prove it, so the prediction is the
   two forms' geometric mean (the average of their log gaps), named
   ``"pow3+pow4"`` etc. On the real curves this beat both using the
   alternative alone and weighting all forms by their hold-out errors.
5. **Intervals.** Bootstrap over seeds (each size's seeds resampled with
   replacement; residual resampling with one seed per size) refits the
   chosen form. Beyond ``n_ref`` each draw also gets a model-error term in
   log gap, normal with standard deviation ``MODEL_SD * log(N / n_ref)``:
   ``MODEL_SD`` is the spread of the out-of-sample errors per unit of log
   distance on the real curves (their 80% quantile / 1.28), so the 80%
   interval is calibrated on extrapolations, not on the fit's own residuals.

6. **The learned gain.** For metrics on a known scale (fractions,
   percentages, error rates in [0, 1]) the answer beyond ``n_ref`` is the last
   observed mean plus the gain :mod:`analysis.planning.curve_gain` predicts
   from the observed part, with its calibrated 80% band; the fit above gives
   the curve up to ``n_ref`` and carries the answer on beyond the range the
   gain was trained on (:meth:`analysis.planning.curve_gain.LearnedGain.splice`).
7. **The observed trend** (:mod:`analysis.planning.curve_trend`): whether the
   curve rises, is flat or falls over its last sizes.

The main entry point is :func:`fit_curve`; it returns a :class:`CurveFit`
that predicts the metric at any size with an interval, the labels needed to
reach a target, and the probability that the ceiling is below the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np
from scipy.optimize import least_squares

from analysis.core.errors import InputError
from analysis.planning import curve_gain, curve_trend


class CurveError(InputError):
    """A points table or an experiment request is unusable; the message says why."""


class Prior(NamedTuple):
    """Normal prior of the main form: ``logit phi ~ N(mu_u + level_u log(g_ref / 0.1), sd_u)``, ``log c ~ N(mu_v, sd_v)``.

    ``g_ref`` is the gap at the largest fitted size as a fraction of the
    metric's scale (module docstring, step 3); :meth:`at_level` gives the
    prior of one curve.
    """

    mu_u: float
    sd_u: float
    mu_v: float
    sd_v: float
    level_u: float = 1.0

    def at_level(self, g_ref: float | None) -> "Prior":
        """The prior for a curve whose gap at ``n_ref`` is ``g_ref`` (a fraction; ``None``: unknown scale)."""
        shift = 0.0 if g_ref is None else self.level_u * np.log(max(g_ref, 1e-6) / 0.1)
        return self._replace(mu_u=self.mu_u + shift, level_u=0.0)


#: Prior of the main form, set on the 59 backtest curves (``bench_extrapolation.py --tune``): with 10% left to
#: perfect at the largest size, an asymptote at about a quarter of that gap (logit -1, sd 1; with 30% left:
#: half of it); an exponent near 1.65 (log 0.5, sd 0.6).
PRIOR = Prior(-1.0, 1.0, 0.5, 0.6)
#: Out-of-sample extrapolation error of log gap, sd per unit of log(N / n_ref), set on the same curves.
MODEL_SD = 0.091
#: Floor of the log-gap noise, per size: 3% relative model error.
TAU = 0.03
#: Noise of one training run's log gap (sd across seeds at one size; median of the real curves), for curves
#: with one run per size, whose noise cannot be measured.
SINGLE_RUN_SD = 0.066
#: An alternative form is averaged with the main one if it extrapolated this many times better inside the data.
GUARD = 2.0
#: Bootstrap draws with the learned gain: they bound the curve only up to n_ref, beyond the trained range and
#: the ceiling, and refitting them is most of a fit's time.
GAIN_BOOT = 40
#: Labels-to-target searches stop at this many labels (beyond it: "not reachable").
MAX_LABELS = 1e9
#: How an 80% interval's missing upper end reads (some draws do not reach the target within MAX_LABELS: their
#: ceiling is below it, or they approach it too slowly).
NO_UPPER_END = f"over {MAX_LABELS:,.0f}"


def upper_end_text(n) -> str:
    """A number of labels that may be an interval's missing upper end (``None`` or ``inf``): "over 1,000,000,000"."""
    return NO_UPPER_END if n is None or not np.isfinite(n) else f"{n:,.0f}"


class FitError(InputError):
    """The curve points cannot be fitted (too few sizes, out-of-range values); the message says why."""


@dataclass(frozen=True)
class Form:
    """A learning-curve shape in gap space, with ``x = log(n / n_ref)``.

    ``gap(x, theta)`` takes ``x`` of shape (m,) and ``theta`` of shape (d, p)
    and returns (d, m) gaps; ``min_sizes`` how many distinct sizes a fit
    needs; ``bounds(x, logg)`` the parameter box;
    ``start(x, logg, prior)`` starting parameter vectors; ``asymptote(theta)``
    the gap as ``n -> inf`` for each row; ``penalty(theta, prior)`` extra
    residuals (the prior), if any.
    """

    name: str
    formula: str
    n_params: int
    min_sizes: int
    gap: Callable
    bounds: Callable
    start: Callable
    asymptote: Callable
    penalty: Callable | None = None


def _line(x, logg):
    """Least-squares line ``logg = p - c x``: returns ``(p, c)`` with ``c >= 0.001``."""
    coef, *_ = np.linalg.lstsq(np.column_stack([np.ones_like(x), -x]), logg, rcond=None)
    return coef[0], max(coef[1], 1e-3)


def _free_starts(x, logg):
    """Starts ``(a, log b, c)`` of ``a + b e^(-c x)`` with the asymptote at 0, 50% and 90% of the smallest gap."""
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


def _sigmoid(u):
    return 1.0 / (1.0 + np.exp(-u))


FORMS = {
    f.name: f
    for f in [
        # theta = (logit phi, log c, log g_ref): g = g_ref (phi + (1 - phi) e^(-c x)), computed in logs
        Form("pow3", "metric = ceiling - b n^-c (exponent and ceiling with a prior from real curves)", 3, 3,
             lambda x, t: np.exp(t[:, [2]] + np.logaddexp(np.log(_sigmoid(t[:, [0]])),
                                                          np.log(_sigmoid(-t[:, [0]])) - np.exp(t[:, [1]]) * x)),
             lambda x, logg: ([-12.0, -5.0, -30.0], [12.0, 3.0, 5.0]),
             lambda x, logg, prior: [[prior.mu_u + du, prior.mu_v, logg[-1]] for du in (0.0, -2.0, 2.0)],
             lambda t: np.exp(t[:, 2]) * _sigmoid(t[:, 0]),
             lambda t, prior: np.array([(t[0] - prior.mu_u) / prior.sd_u, (t[1] - prior.mu_v) / prior.sd_v])),
        Form("pow2", "metric = perfect - b n^-c", 2, 3,
             lambda x, t: np.exp(t[:, [0]] - t[:, [1]] * x),
             lambda x, logg: ([-30.0, 0.0], [30.0, 5.0]),
             lambda x, logg, prior: [list(_line(x, logg))],
             lambda t: np.zeros(len(t))),
        Form("pow4", "metric = ceiling - b (n + d)^-c", 4, 5,
             # d = delta * n_ref: the size below which the curve flattens
             lambda x, t: t[:, [0]] + np.exp(t[:, [1]] - t[:, [2]] * np.log(np.exp(x) + t[:, [3]])),
             _gap_bounds([0.0], [1.0]),
             lambda x, logg, prior: [s + [0.05] for s in _free_starts(x, logg)],
             lambda t: t[:, 0]),
        Form("mmf4", "metric = ceiling - b / (1 + (n / k)^c)", 4, 5,
             lambda x, t: t[:, [0]] + np.exp(t[:, [1]]) / (1.0 + np.exp(t[:, [2]] * (x - t[:, [3]]))),
             _gap_bounds([-20.0], [5.0]),
             lambda x, logg, prior: [[s[0], s[1] - s[2] * x.min() + np.log(2.0), s[2], x.min() + dx]
                                     for s in _free_starts(x, logg)[:2] for dx in (0.0, -2.0)],
             lambda t: t[:, 0]),
    ]
}
#: The main form; the others are alternatives (see the module docstring, step 4).
MAIN_FORM = "pow3"


def _residuals(form, x, logg, w, prior):
    def fun(theta):
        g = form.gap(x, theta[None])[0]
        r = w * (logg - np.log(np.maximum(g, 1e-300)))
        return np.r_[r, form.penalty(theta, prior)] if form.penalty and prior else r
    return fun


def _fit_form(form, x, logg, w, prior, starts=None, max_nfev=200):
    """Weighted least squares of one form in log-gap space (posterior mode with its prior): ``theta`` or ``None``."""
    lo, hi = (np.asarray(b, float) for b in form.bounds(x, logg))
    best = None
    for s in starts if starts is not None else form.start(x, logg, prior or PRIOR):
        s = np.clip(np.asarray(s, float), lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo))
        try:
            r = least_squares(_residuals(form, x, logg, w, prior), s, bounds=(lo, hi), method="trf",
                              max_nfev=max_nfev, ftol=1e-6, xtol=1e-6)
        except ValueError:
            continue
        if np.isfinite(r.cost) and (best is None or r.cost < best[1]):
            best = (r.x, r.cost)
    return None if best is None else best[0]


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


def warm_up(stats: SizeStats) -> int:
    """How many leading sizes are a warm-up plateau, not part of the curve (module docstring, step 2)."""
    x, logg = np.log(stats.n), np.log(stats.mean_gap)
    slope = -np.diff(logg) / np.diff(x)
    first = 0
    for i in range(len(slope) - 2):  # at least 3 sizes stay
        if logg[i] - logg[i + 1] > np.log(2.0) and slope[i] > max(1.0, 3.0 * np.median(slope[i + 1:])):
            first = i + 1
    return first


def _weights(stats: SizeStats) -> np.ndarray:
    se = stats.se_log
    if np.all(np.isnan(se)):  # one run per size: its noise cannot be measured, take a typical run's
        return np.full_like(stats.mean_gap, 1.0 / np.hypot(SINGLE_RUN_SD, TAU))
    # three seeds give a rough standard error: shrink each towards the median one
    se = np.where(np.isnan(se), np.nanmedian(se), se)
    se = np.sqrt(0.5 * se**2 + 0.5 * np.median(se) ** 2)
    return 1.0 / np.sqrt(se**2 + TAU**2)


@dataclass
class CurveFit:
    """A fitted, extrapolatable learning curve (see the module docstring for the method).

    Attributes: ``form`` (the chosen form), ``forms`` (all fitted forms),
    ``params`` (form -> full-data parameters), ``holdout_error`` (form -> RMSE
    of log gap when predicting the largest third of the sizes from the rest;
    ``nan`` if too few sizes), ``n_ref`` (largest fitted size), ``perfect``
    and ``higher_is_better`` (the metric's direction), ``n_warm_up`` (leading
    sizes left out as warm-up), ``prior`` (at this curve's level) and the bootstrap draws of the chosen form.
    """

    form: str
    forms: list
    params: dict
    holdout_error: dict
    n_ref: float
    perfect: float
    higher_is_better: bool
    n_warm_up: int
    prior: Prior | None
    draw_theta: dict  # form -> (D, p) parameter draws, for each of the chosen components
    draw_z: np.ndarray  # (D,) standard normal model-error multipliers
    model_sd_per_log: float  # model-error sd of log gap per unit of log(N / n_ref)
    stats: SizeStats = field(repr=False)
    gain: curve_gain.LearnedGain | None = None  # the learned gain beyond n_ref (module docstring, step 6)
    trend: curve_trend.Trend | None = None  # the observed trend (step 7)

    def _to_metric(self, gap):
        return self.perfect - gap if self.higher_is_better else gap

    def _gap_of(self, metric):
        return self.perfect - metric if self.higher_is_better else metric

    @property
    def components(self) -> list:
        """The forms whose gaps are averaged geometrically (one, or the main form and an alternative)."""
        return self.form.split("+")

    def _blend(self, gap_of_form) -> np.ndarray:
        """Geometric mean over :attr:`components` of ``gap_of_form(form)`` (arrays of one shape)."""
        logs = [np.log(np.maximum(gap_of_form(f), 1e-300)) for f in self.components]
        return np.exp(np.mean(logs, axis=0))

    def _point_gap(self, x):
        """Gap of the chosen forms' full-data fit at ``x``: the point estimate."""
        return self._blend(lambda f: FORMS[f].gap(x, np.atleast_2d(self.params[f]))[0])

    def _draw_gaps(self, x):
        """(D, m) gaps of every bootstrap draw at ``x``, with the model-error term beyond ``n_ref``."""
        out = self._blend(lambda f: FORMS[f].gap(x, self.draw_theta[f]))
        noise = self.draw_z[:, None] * self.model_sd_per_log * np.maximum(x, 0.0)[None, :]
        return out * np.exp(noise)

    def fitted(self, n) -> np.ndarray:
        """Point estimate of the metric at sizes ``n``."""
        x = np.log(np.asarray(n, float) / self.n_ref)
        return self._to_metric(self._point_gap(x))

    @property
    def method(self) -> str:
        """How the answer beyond ``n_ref`` is made: ``"gain+<form>"`` (the learned gain, continued by the form
        beyond the trained range) or the parametric form alone."""
        return f"gain+{self.form}" if self.gain is not None else self.form

    def _parametric_gaps(self, x, level):
        """(estimate, lower, upper) gaps of the parametric fit at ``x``: a ``level`` interval around the estimate."""
        est = self._point_gap(x)
        q = np.quantile(self._draw_gaps(x), [(1 - level) / 2, (1 + level) / 2], axis=0)
        return est, np.minimum(q[0], est), np.maximum(q[1], est)

    def _scores(self, n, level):
        """(estimate, worse end, better end) of the answer at sizes ``n`` in gap space (module docstring, step 6)."""
        x = np.log(np.atleast_1d(np.asarray(n, float)) / self.n_ref)
        g = self.gain
        if g is None:
            est, lo_gap, hi_gap = self._parametric_gaps(x, level)
            return est, hi_gap, lo_gap

        def fractions(x_at):  # (estimate, worse, better) of the parametric fit in the gain model's scale
            e, lo, hi = self._parametric_gaps(x_at, level)
            return [g.to_fraction(self._to_metric(v)) for v in (e, hi, lo)]

        return tuple(self._gap_of(g.from_fraction(v)) for v in g.splice(x, self.n_ref, fractions, level))

    def predict(self, n, level: float = 0.8):
        """Metric at sizes ``n``: ``(estimate, low, high)`` arrays, ``[low, high]`` a ``level`` interval."""
        est, worse, better = self._scores(n, level)
        if self.higher_is_better:
            return self._to_metric(est), self._to_metric(worse), self._to_metric(better)
        return est, better, worse

    def _ceilings(self, gaps) -> np.ndarray:
        """Metric ceilings from parametric asymptote gaps, moved by as much as the answer lies from the fit where
        it hands over to it, at the largest trained ratio (in the gain model's scale; no move without it)."""
        g = self.gain
        if g is None:
            return self._to_metric(gaps)
        x_cap = np.array([g.model.max_log_ratio])
        shift = (g.to_fraction(self._to_metric(self._scores(self.n_ref * np.exp(x_cap), 0.8)[0]))
                 - g.to_fraction(self._to_metric(self._point_gap(x_cap))))
        return g.from_fraction(np.clip(g.to_fraction(self._to_metric(gaps)) + shift, 0.0, 1.0))

    def ceiling(self) -> float:
        """Point estimate of the metric as ``n -> inf``."""
        return float(self._ceilings(self._blend(lambda f: FORMS[f].asymptote(np.atleast_2d(self.params[f]))))[0])

    def p_ceiling_short(self, target: float) -> float:
        """Probability (over draws) that the curve's ceiling does not reach ``target``."""
        ceilings = self._ceilings(self._blend(lambda f: FORMS[f].asymptote(self.draw_theta[f])))
        return float(np.mean(self._gap_of(ceilings) >= self._gap_of(target)))

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
        log_n = np.log(n_grid)
        if self.gain is not None:  # the answer's own curve and band (module docstring, step 6)
            est_gap, worse, better = self._scores(n_grid, level)
            est, lo, hi = (_first_crossing(np.log(np.maximum(v, 1e-300))[None], np.log(g_t), log_n)[0]
                           for v in (est_gap, better, worse))
            return float(est), float(min(lo, est)), float(max(hi, est))
        x = np.log(n_grid / self.n_ref)
        crossing = _first_crossing(np.log(self._draw_gaps(x)), np.log(g_t), log_n)
        est = _first_crossing(np.log(self._point_gap(x))[None], np.log(g_t), log_n)[0]
        # draws that never cross are inf; a finite stand-in keeps the quantile's interpolation defined
        lo, hi = np.quantile(np.minimum(crossing, 2 * MAX_LABELS), [(1 - level) / 2, (1 + level) / 2])
        lo, hi = (np.inf if v > MAX_LABELS else v for v in (lo, hi))
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


def gap_fraction(gap: float, perfect: float, higher_is_better: bool, metric) -> float | None:
    """``gap`` as a fraction of the metric's scale: of ``perfect`` (1 or 100), or of 1 for a lower-is-better
    metric that stays within [0, 1] (an error rate); ``None`` for other losses, whose scale is unknown."""
    if higher_is_better:
        return gap / perfect if perfect > 0 else None
    return gap if np.max(metric) <= 1 else None


def infer_perfect(metric, higher_is_better: bool) -> float:
    """The perfect score of a metric: 0 if lower is better; 1 for fractions, 100 for percentages."""
    metric = np.asarray(metric, float)
    if not higher_is_better:
        if metric.min() < 0:
            raise FitError("a lower-is-better metric (error, loss) cannot be negative")
        return 0.0
    if metric.min() < 0 or metric.max() > 100:
        raise FitError("a higher-is-better metric must lie in [0, 1] (or [0, 100] for percentages)")
    if metric.max() > 1 and np.mean(metric <= 1) >= 0.5:  # a typo in fractions, not percentages
        raise FitError(f"the metric values are fractions (most are at most 1) but {metric.max():g} exceeds 1; "
                       "a fraction cannot (use either fractions or percentages throughout)")
    return 1.0 if metric.max() <= 1 else 100.0


def fit_curve(
    n,
    metric,
    seed=None,
    *,
    higher_is_better: bool = True,
    perfect: float | None = None,
    forms=tuple(FORMS),
    prior: Prior | None = PRIOR,
    model_sd: float = MODEL_SD,
    n_boot: int | None = None,
    random_state: int = 0,
    gain_model: curve_gain.GainModel | None | str = "default",
) -> CurveFit:
    """Fit and prepare extrapolation of one learning curve.

    Inputs: ``n`` training-set sizes (labelled items), ``metric`` the score of each trained model (same
    length), ``seed`` optional run ids (only their count per size matters: several values per size are treated
    as seeds), ``higher_is_better`` the metric's direction, ``perfect`` its best possible value (default:
    :func:`infer_perfect`), ``forms`` candidate form names (the first that is fitted is the main one), ``prior``
    of the main form (``None``: plain least squares; its level term uses :func:`gap_fraction`), ``model_sd`` the
    extrapolation-error sd of log gap per unit of log distance, ``n_boot`` bootstrap draws (0: point estimates
    only; default 100, :data:`GAIN_BOOT` with the learned gain), ``gain_model`` the learned gain (module
    docstring, step 6; ``"default"``: :func:`analysis.planning.curve_gain.default_model`; ``None``: the
    parametric fit alone), used for metrics on a known scale (:func:`gap_fraction`).

    Output: a :class:`CurveFit`. Raises :class:`FitError` with fewer than 3
    distinct sizes (after the warm-up) or metrics outside their range. A curve that is flat or falls is
    fitted too (its trend is in :attr:`CurveFit.trend`).
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
    skip = warm_up(stats)
    stats = SizeStats(stats.n[skip:], stats.gaps[skip:], stats.mean_gap[skip:], stats.se_log[skip:])
    n_ref = stats.n.max()
    x = np.log(stats.n / n_ref)
    logg = np.log(stats.mean_gap)
    w = _weights(stats)
    if prior is not None:
        prior = prior.at_level(gap_fraction(stats.mean_gap[-1], perfect, higher_is_better, metric))
    params = {}
    for f in (f for f in forms if FORMS[f].min_sizes <= len(x)):
        theta = _fit_form(FORMS[f], x, logg, w, prior)
        if theta is not None:
            params[f] = theta
    if not params:
        raise FitError("no curve form could be fitted to these points")
    names = list(params)
    holdout = _holdout_errors(names, x, logg, w, prior)
    chosen = choose_form(names[0], holdout)

    known_scale = gap_fraction(stats.mean_gap[-1], perfect, higher_is_better, metric) is not None
    gain_model = curve_gain.default_model() if gain_model == "default" else gain_model
    gain = (curve_gain.LearnedGain.of_curve(gain_model, n, metric, perfect, higher_is_better)
            if gain_model is not None and known_scale else None)
    n_boot = (GAIN_BOOT if gain else 100) if n_boot is None else n_boot
    rng = np.random.default_rng(random_state)
    components = chosen.split("+")
    fit_log = np.mean([np.log(np.maximum(FORMS[f].gap(x, params[f][None])[0], 1e-300)) for f in components], axis=0)
    n_params = max(FORMS[f].n_params for f in components)
    resampled = _bootstrap_log_gaps(stats, logg, fit_log, n_params, n_boot, rng)
    draw_theta = {}
    for f in components:  # each component refitted on the same resampled points, warm-started
        draws = [_fit_form(FORMS[f], x, r, w, prior, starts=[params[f]], max_nfev=30) for r in resampled]
        draw_theta[f] = np.array([params[f] if d is None else d for d in draws]).reshape(n_boot, len(params[f]))
    scale = perfect if higher_is_better else (1.0 if known_scale else float(np.max(np.abs(metric))) or 1.0)
    trend = curve_trend.observed_trend(n, metric, higher_is_better, scale)
    return CurveFit(chosen, names, params, holdout, n_ref, perfect, higher_is_better, skip, prior,
                    draw_theta, rng.standard_normal(n_boot), model_sd, stats, gain, trend)


def choose_form(main: str, holdout: dict) -> str:
    """The main form, or ``"main+alt"`` (their geometric mean) if an alternative extrapolated ``GUARD`` times
    better inside the data (``holdout``: form -> error; module docstring, step 4)."""
    tested = {f: e for f, e in holdout.items() if np.isfinite(e)}
    if not np.isfinite(holdout.get(main, np.nan)):
        return main
    best = min(tested, key=tested.get)
    return f"{main}+{best}" if holdout[main] > GUARD * tested[best] else main


def _holdout_errors(names, x, logg, w, prior):
    """Per form, RMSE of log gap on the largest third of sizes when fitted on the rest (``nan``: too few sizes).

    The fit is re-referenced to its own largest size, as the full fit is (the prior is relative to it).
    """
    k = len(x)
    h = max(1, int(round(k / 3)))
    errs = {f: np.nan for f in names}
    if k - h < 2:
        return errs
    x_fit, x_test = x[:-h] - x[-h - 1], x[-h:] - x[-h - 1]
    for f in names:
        form = FORMS[f]
        if form.min_sizes > k - h:
            continue
        theta = _fit_form(form, x_fit, logg[:-h], w[:-h], prior)
        if theta is not None:
            pred = np.log(np.maximum(form.gap(x_test, theta[None])[0], 1e-300))
            errs[f] = float(np.sqrt(np.mean((pred - logg[-h:]) ** 2)))
    return errs


def _bootstrap_log_gaps(stats, logg, fit_log, n_params, n_boot, rng):
    """(D, k) resampled log mean gaps: seeds resampled per size, or, with one seed per size, the residuals
    of the full fit (``fit_log``: its log gaps at the sizes; ``n_params``: its parameter count)."""
    if all(len(g) > 1 for g in stats.gaps):
        out = np.empty((n_boot, len(logg)))
        for i, g in enumerate(stats.gaps):
            idx = rng.integers(len(g), size=(n_boot, len(g)))
            out[:, i] = np.log(np.maximum(g[idx].mean(axis=1), stats.mean_gap.min() * 1e-3))
        return out
    k = len(logg)
    scale = np.sqrt(k / max(k - n_params, 1))  # undo the fit's shrinkage
    return fit_log + scale * (logg - fit_log)[rng.integers(k, size=(n_boot, k))]
