"""The trust figures above the candidates (Label errors and Review pages): how far to trust the ranking."""

import numpy as np
import streamlit as st

from analysis.review import tables as review_tables


def trust_section(table) -> None:
    """Per type, the precision of the top k candidates the scores imply, and the one reviewers' verdicts measure.

    ``table``: a :func:`analysis.review.tables.review_table`.
    """
    trust = review_tables.trust_table(table)
    if trust.empty:
        return
    measured = [f"{m:.0%} ({lo:.0%} to {hi:.0%}), {c} of {n} decided" if np.isfinite(m) else
                (f"{n} decided: too few" if n else "none decided yet")
                for m, lo, hi, c, n in trust[["measured", "low", "high", "confirmed", "reviewed"]].itertuples(
                    index=False)]
    shown = trust.assign(type=trust["error_type"].map(review_tables.TYPE_TITLES), measured_text=measured)
    st.subheader("How far to trust the ranking")
    st.dataframe(shown, hide_index=True, width="stretch", column_order=["type", "k", "expected", "measured_text"],
                 column_config={
                     "k": st.column_config.NumberColumn("top k", help="The k highest-scoring candidates of the type"),
                     "expected": st.column_config.NumberColumn(
                         "expected precision", format="percent",
                         help="Their mean score: the share of real errors among them if the scores are "
                              "probabilities (an assumption)"),
                     "measured_text": st.column_config.TextColumn(
                         "measured by the reviewers (80% interval)",
                         help="Confirmed / (confirmed + dismissed) among them, once 10 are decided")})
    st.caption("Expected assumes each score is the probability that its candidate is a real error: an "
               "assumption, checked only on the benchmark's synthetic cases, where it was off in either direction, "
               "by more further down the ranking (README, \"How far to trust the ranking\"). The measured "
               "precision comes from this dataset's verdicts; reviewers who go down the ranking measure its top "
               "first.")
