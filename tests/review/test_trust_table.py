"""The reviewers' side of the trust figures: the precision their verdicts measure among the top candidates."""

import math

import numpy as np
import pandas as pd
import pytest

from analysis.review.tables import trust_table


def test_measured_precision_counts_the_verdicts_among_the_top_candidates_once_there_are_enough():
    # 30 missing candidates by falling score: the first 8 confirmed, the next 4 dismissed, one disputed, rest pending
    status = ["confirmed"] * 8 + ["dismissed"] * 4 + ["disputed"] + ["pending"] * 17
    table = pd.DataFrame({"error_type": "missing", "error_score": np.linspace(0.99, 0.3, 30),
                          "review_status": status})
    out = trust_table(table, ks=(10, 50), min_reviewed=10).set_index("k")
    assert (out.loc[10, "reviewed"], out.loc[10, "confirmed"]) == (10, 8)
    assert out.loc[10, "measured"] == pytest.approx(0.8)
    # Wilson 80% interval of 8/10, by hand: centre (0.8 + z^2/20) / (1 + z^2/10), z = 1.2816
    z2 = 1.2816 ** 2
    centre = (0.8 + z2 / 20) / (1 + z2 / 10)
    half = math.sqrt(z2) * math.sqrt(0.8 * 0.2 / 10 + z2 / 400) / (1 + z2 / 10)
    assert (out.loc[10, "low"], out.loc[10, "high"]) == pytest.approx((centre - half, centre + half))
    assert (out.loc[30, "reviewed"], out.loc[30, "confirmed"]) == (12, 8)  # the disputed one is not a verdict
    few = trust_table(table.assign(review_status=["confirmed"] * 3 + ["pending"] * 27), ks=(10, 50))
    assert few["measured"].isna().all() and few["low"].isna().all()  # 3 verdicts are too few to measure
