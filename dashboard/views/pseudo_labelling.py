"""Pseudo-labelling: self-training gain and the label noise it introduces, per confidence threshold."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # also runs standalone (AppTest.from_file)

import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import streamlit as st  # noqa: E402

from analysis.core.errors import InputError  # noqa: E402
from analysis.data import sources  # noqa: E402
from analysis.lab import pseudo_labelling  # noqa: E402
from dashboard import charts  # noqa: E402


def _chart(summary: pd.DataFrame) -> go.Figure:
    fig = charts.two_measures(summary, "threshold", ("gain", "accuracy gain (mean)"),
                              ("noise", "wrong pseudo-labels (share)"))
    fig.add_hline(y=0, line=dict(color="#999999", width=1))
    fig.update_xaxes(title="confidence threshold for adopting a pseudo-label")
    fig.update_yaxes(title="test accuracy gain over the seed set alone", tickformat="+.1%", secondary_y=False)
    fig.update_yaxes(title="share of adopted pseudo-labels that are wrong", tickformat=".0%", rangemode="tozero",
                     secondary_y=True)
    fig.update_layout(title="Simulated: gain and label noise vs threshold (mean, 80% band over seeds)", height=460,
                      legend=dict(orientation="h", y=-0.25))
    return fig


def main():
    st.title("Pseudo-labelling")
    st.caption(":material/science: **Simulated.** A small random labelled seed set; the rest of a labelled data set "
               "is treated as unlabelled. scikit-learn's `SelfTrainingClassifier` adopts the model's answers above a "
               "confidence threshold as labels and retrains (up to 10 rounds). The hidden true labels show how many "
               "pseudo-labels are wrong.")
    c1, c2, c3, c4 = st.columns([2, 3, 1, 1])
    source = c1.selectbox("Data", list(sources.SOURCES), format_func=lambda s: sources.SOURCES[s][0], key="pl_source")
    thresholds = c2.multiselect("Thresholds", [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999], list(pseudo_labelling.THRESHOLDS),
                                key="pl_thresholds")
    labelled = int(c3.number_input("Labelled seed set", 10, 2000, 50, key="pl_labelled", help="items with true labels"))
    seeds = int(c4.number_input("Seeds", 1, 20, 5, key="pl_seeds"))
    if not thresholds:
        st.info("Pick at least one threshold.")
        st.stop()

    df = pseudo_labelling.stored_simulation(source, thresholds, seeds, labelled)
    if df is None:
        st.caption("Not run yet with these settings. The default (6 thresholds x 5 seeds on MNIST-5k) takes under a "
                   "minute on two cores; results are saved and reused.")
        if not st.button("Run simulation", key="pl_run", type="primary", icon=":material/play_arrow:"):
            st.stop()
        bar = st.progress(0.0, "Starting workers...")
        try:
            df = pseudo_labelling.cached_simulation(source, thresholds, seeds, labelled, progress=lambda f, m: bar.progress(f, m))
        except InputError as e:
            st.error(str(e))
            st.stop()
        bar.empty()

    summary = pseudo_labelling.summarize(df)
    st.plotly_chart(_chart(summary), width="stretch")
    best = summary.loc[summary["gain"].idxmax()]
    baseline = float(summary["baseline"].iloc[0])
    if best["gain"] <= 0:
        st.warning(f"Self-training does not beat the {labelled} labelled items alone (accuracy {baseline:.3f}) at any "
                   "threshold here.")
    else:
        worth = "more than the largest comparison" if pd.isna(best["worth"]) or best["worth"] == float("inf") else \
            f"about {best['worth']:,.0f}"
        st.markdown(f"**Best threshold {best['threshold']:g}**: accuracy {baseline:.3f} -> {best['accuracy']:.3f} "
                    f"(**{best['gain']:+.1%}**, 80% band {best['gain_low']:+.1%} to {best['gain_high']:+.1%}); "
                    f"{best['n_pseudo']:,.0f} pseudo-labels of which **{best['noise']:.0%} are wrong**. The same accuracy "
                    f"from true labels alone takes {worth} labels instead of {labelled}.")
    st.dataframe(summary.rename(columns={"worth": "same accuracy from true labels (median)"}).round(3), hide_index=True,
                 width="stretch")
    st.caption("The budget planner has no pseudo-labelling option: read the gain as labels it is worth, and weigh the "
               "wrong pseudo-labels it puts into the training set.")


main()
