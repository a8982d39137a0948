"""What the engine learns from the data before scoring: calibrated confidences (Platt scaling), the
detector's miss rate by box shape, its localisation noise and the IoU that counts as a well-drawn box.
"""

from __future__ import annotations

import numpy as np


def calibrate_confidence(scores: np.ndarray, is_match: np.ndarray, prior_n: int = 100,
                         fit_on: np.ndarray | None = None) -> np.ndarray:
    """Platt-calibrate detector scores into P(prediction is a real object).

    Fits ``P(match) = sigmoid(a * logit(score) + b)`` by logistic regression on
    the predictions' match outcomes (``is_match``: matched a GT box of its
    class), on the predictions ``fit_on`` (a boolean mask; default all), and
    returns the calibrated score of every prediction. Scores outside [0, 1]
    are used as they are instead of their logit. The slope is kept
    non-negative (a higher score never means a lower probability). With few
    fitted predictions the fit is unreliable, so it is shrunk toward the
    detector's own (clipped) score with weight ``n / (n + prior_n)``; with
    only one outcome present the clipped score is returned.
    """
    scores = np.asarray(scores, dtype=np.float64)
    fit_on = np.ones(len(scores), dtype=bool) if fit_on is None else np.asarray(fit_on, dtype=bool)
    is_match = np.asarray(is_match, dtype=bool)[fit_on]
    if len(is_match) == 0 or is_match.all() or not is_match.any():
        return np.clip(scores, 0, 1)
    in_unit = scores.min() >= 0 and scores.max() <= 1
    z = np.log(np.clip(scores, 1e-6, 1 - 1e-6) / np.clip(1 - scores, 1e-6, 1)) if in_unit else scores
    z_fit = z[fit_on]
    # two parameters need far fewer points than millions of boxes
    sub = np.random.default_rng(0).choice(len(z_fit), 200_000, replace=False) if len(z_fit) > 200_000 else slice(None)
    a, b = fit_logistic(z_fit[sub, None], is_match[sub].astype(np.float64))
    fitted = np.full(len(z), is_match.mean()) if a <= 0 else 1.0 / (1.0 + np.exp(-(a * z + b)))
    w = len(z_fit) / (len(z_fit) + prior_n)
    return w * fitted + (1 - w) * np.clip(scores, 0, 1)


def fit_logistic(z: np.ndarray, y: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Maximum-likelihood weights of ``P(y) = sigmoid(z @ w[:-1] + w[-1])`` by Newton's method.

    ``z`` is N x F (one column per covariate); the intercept is ``w[-1]``.
    A tiny ridge (1e-6) keeps it finite when the classes separate.
    """
    X = np.column_stack([z, np.ones(len(z))])
    w = np.zeros(X.shape[1])
    for _ in range(iterations):
        q = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -30, 30)))
        grad = X.T @ (q - y) + 1e-6 * w
        hess = (X * (q * (1 - q))[:, None]).T @ X + 1e-6 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def detector_miss_rate(unseen: np.ndarray, geometry: np.ndarray, spurious_prior: float,
                       prior_n: int = 100) -> np.ndarray:
    """Share of the real objects shaped like each GT box that the detector misses.

    ``unseen`` flags the GT boxes that the predictions leave unseen, and
    ``geometry`` (N x F) describes each box (the engine uses log area and
    log aspect ratio: detectors miss small and thin objects more often). A
    logistic regression of ``unseen`` on the standardised geometry gives
    ``P(unseen | shape)``; spurious boxes (share ``spurious_prior``) are
    unseen by nature, so the miss rate of real boxes is ``(P(unseen) -
    spurious_prior) / (1 - spurious_prior)``, clipped to [0, 1]. With few
    boxes the fit is unreliable, so it is shrunk toward 0 (a detector that
    sees every object) with weight ``n / (n + prior_n)``, as in
    :func:`calibrate_confidence`. Returns one rate per box, in [0, 1].
    """
    unseen = np.asarray(unseen, dtype=bool)
    geometry = np.asarray(geometry, dtype=np.float64)
    geometry = geometry[:, None] if geometry.ndim == 1 else geometry
    n = len(unseen)
    if n == 0 or not unseen.any():
        return np.zeros(n)
    if unseen.all():
        share = np.ones(n)
    else:
        z = (geometry - geometry.mean(0)) / np.maximum(geometry.std(0), 1e-12)
        sub = np.random.default_rng(0).choice(n, 200_000, replace=False) if n > 200_000 else slice(None)
        w = fit_logistic(z[sub], unseen[sub].astype(np.float64))
        share = 1.0 / (1.0 + np.exp(-np.clip(z @ w[:-1] + w[-1], -30, 30)))
    miss = np.clip((share - spurious_prior) / (1 - spurious_prior), 0.0, 1.0)
    return miss * n / (n + prior_n)


def localisation_noise(best_iou: np.ndarray, conf: np.ndarray) -> tuple[float, float] | None:
    """The detector's localisation error on well-drawn boxes: ``(m, s)``, or None with too few of them.

    ``best_iou`` is each GT box's IoU with its best same-class prediction and
    ``conf`` that prediction's calibrated confidence. Among confident (c >=
    0.5), clearly matching (IoU >= 0.5) pairs -- mostly well-drawn boxes -- the
    error ``e = 1 - IoU`` has median ``m`` and robust standard deviation ``s``
    (1.4826 x the median absolute deviation, at least 0.02 so that a perfect
    detector still has some tolerance). None with fewer than 20 such pairs.
    """
    e = 1 - best_iou[(conf >= 0.5) & (best_iou >= 0.5)]
    if len(e) < 20:
        return None
    m = float(np.median(e))
    return m, max(float(np.median(np.abs(e - m))) * 1.4826, 0.02)


def auto_good_box_iou(best_iou: np.ndarray, conf: np.ndarray) -> tuple[float, float]:
    """Place the ``good_box_iou`` ramp from the detector's localisation accuracy.

    With the detector's localisation error ``m`` and its spread ``s`` (see
    :func:`localisation_noise`, same inputs), the ramp runs from ``1 - (m +
    6s)`` (0: far outside what this detector does on good boxes) to ``1 - (m
    + 2s)`` (1), bounded to [0.3, 0.9]. Falls back to (0.5, 0.7) with fewer
    than 20 such pairs.
    """
    noise = localisation_noise(best_iou, conf)
    if noise is None:
        return (0.5, 0.7)
    m, s = noise
    hi = float(np.clip(1 - (m + 2 * s), 0.35, 0.9))
    lo = float(np.clip(1 - (m + 6 * s), 0.3, hi - 0.05))
    return (lo, hi)
