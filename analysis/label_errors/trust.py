"""How far to trust a ranking: the precision of its top candidates, per error type.

:func:`expected_precision` reads it off the scores alone, as if each score
were the probability that its candidate is a real error: the expected share
of real errors among the top ``k`` of a type is their mean score. That is an
assumption, not a measurement: on the benchmark's synthetic cases it was
off in either direction, by more further down the ranking (README, "How far
to trust the ranking"). Once reviewers have decided
candidates, :func:`analysis.review.tables.trust_table` puts the precision
their verdicts measure beside it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.label_errors.params import ERROR_TYPES

#: The top-k depths reported, per error type.
TOP_K = (10, 50, 100, 200)


def top_k_depths(n: int, ks=TOP_K) -> list[int]:
    """The depths reported for a type with ``n`` candidates: each k below ``n``, and ``n`` itself (all of them)
    when it is not deeper than the largest k."""
    depths = [k for k in ks if k < n]
    return depths + [n] if 0 < n <= max(ks) else depths


def expected_precision(candidates: pd.DataFrame, ks=TOP_K, score: str = "error_score") -> pd.DataFrame:
    """The expected precision of the top candidates of each type, if the scores are probabilities.

    Input: a candidate table with ``error_type`` and a ``score`` column in
    [0, 1]: the FiftyOne adapter's candidates (``error_score``, the default),
    or :func:`analysis.label_errors.find_detection_errors` output
    (``score="score"``). Output: one row per type and depth
    (:func:`top_k_depths`): ``error_type, k`` (candidates counted),
    ``expected`` (mean score of the ``k`` highest-scoring candidates of the
    type: the share of real errors among them that the scores imply).
    """
    codes = pd.Categorical(candidates["error_type"], categories=ERROR_TYPES).codes
    all_scores = candidates[score].to_numpy(float)
    rows = []
    for code, kind in enumerate(ERROR_TYPES):
        scores = np.sort(all_scores[codes == code])[::-1]
        rows += [{"error_type": kind, "k": k, "expected": float(scores[:k].mean())}
                 for k in top_k_depths(len(scores), ks)]
    return pd.DataFrame(rows, columns=["error_type", "k", "expected"])
