"""The trust figures' expected side: the precision of the top candidates that the scores imply."""

import numpy as np
import pandas as pd
import pytest

from analysis.label_errors.trust import expected_precision, top_k_depths


def test_depths_stop_at_the_candidates_there_are():
    assert top_k_depths(500) == [10, 50, 100, 200]
    assert top_k_depths(60) == [10, 50, 60]
    assert top_k_depths(7) == [7]
    assert top_k_depths(0) == []


def test_expected_precision_is_the_mean_score_of_the_highest_scoring_candidates_of_each_type():
    # 12 missing candidates, scores 0.95, 0.90, ... 0.40 (shuffled), and 3 duplicates at 1.0
    missing = [0.95 - 0.05 * i for i in range(12)]
    table = pd.DataFrame({"error_type": ["duplicate"] * 3 + ["missing"] * 12,
                          "error_score": [1.0] * 3 + list(np.random.default_rng(0).permutation(missing))})
    out = expected_precision(table, ks=(10, 50)).set_index(["error_type", "k"])["expected"]
    assert out[("missing", 10)] == pytest.approx((0.95 + 0.50) / 2)  # the ten best: 0.95 down to 0.50
    assert out[("missing", 12)] == pytest.approx((0.95 + 0.40) / 2)  # all twelve
    assert out[("duplicate", 3)] == 1.0
    assert list(out.index.get_level_values(0).unique()) == ["missing", "duplicate"]  # the engine's type order
