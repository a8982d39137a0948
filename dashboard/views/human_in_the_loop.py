"""Human in the loop: the confidence threshold above which the model's answers need no person, at a target accuracy."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # also runs standalone (AppTest.from_file)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import streamlit as st  # noqa: E402

from analysis.core.errors import InputError  # noqa: E402
from analysis.data import datasets, sources  # noqa: E402
from analysis.lab import human_in_the_loop as hitl
from analysis.planning import measurements  # noqa: E402
from dashboard import common  # noqa: E402

MODES = {"classification": "Simulated: a classifier on an embedded data set",
         "detection": "Detection boxes of the current dataset",
         "csv": "Upload confidence,correct CSV"}


@st.cache_data(show_spinner="Matching predicted boxes to the truth...", max_entries=8)
def _detection_scores(name: str, modified, truth: str, pred: str, runs: int) -> pd.DataFrame:
    return hitl.bootstrap_runs(hitl.detection_scores(datasets.load(name), pred, truth), runs)


@st.cache_data(max_entries=16)
def _analysis(scores: pd.DataFrame, targets: tuple, level: float):
    by_run = hitl.thresholds_by_run(scores, targets, level)
    return hitl.summarize(by_run), hitl.curve_band(scores), by_run


def _scores(mode: str):
    """The (run, confidence, correct) table for the chosen data and a description, or stop the page."""
    if mode == "classification":
        c1, c2 = st.columns([3, 1])
        source = c1.selectbox("Data", list(sources.SOURCES), format_func=lambda s: sources.SOURCES[s][0], key="hitl_source")
        seeds = int(c2.number_input("Seeds", 1, 10, 3, key="hitl_seeds", help="cross-validation splits, each its own"))
        df = hitl.stored_classification(source, seeds)
        if df is None:
            st.caption("Not run yet with these settings: 5-fold cross-validation of an RBF SVM takes 10-20 s "
                       "per seed on MNIST-5k on two cores; results are saved and reused.")
            if not st.button("Run", key="hitl_run", type="primary", icon=":material/play_arrow:"):
                st.stop()
            with st.spinner("Cross-validating..."):
                df = hitl.cached_classification(source, seeds)
        return df, f"Simulated: SVM on {sources.SOURCES[source][0]}", "seeds (cross-validation splits)"
    if mode == "detection":
        ds = common.current_dataset()
        truth, pred = common.truth_and_predictions(ds, "hitl")
        runs = int(st.number_input("Bootstrap resamples", 2, 500, 50, key="hitl_runs",
                                   help="the images drawn with replacement; the first run is the data itself"))
        try:
            df = _detection_scores(ds.name, ds.last_modified_at, truth, pred, runs)
        except InputError as e:
            st.error(str(e))
            st.stop()
        return df, f"dataset {ds.name} ({pred} vs {truth})", "bootstrap resamples of the images"
    file = st.file_uploader("CSV with columns confidence, correct (true/false or 1/0)", type="csv", key="hitl_csv")
    if file is None:
        st.info("Upload the model's confidence and whether each answer was right, on items it did not train on.")
        st.stop()
    try:
        return hitl.read_scores(file), f"CSV {file.name}", "runs"
    except InputError as e:
        st.error(str(e))
        st.stop()


def _curve_chart(band: pd.DataFrame, target: float, chosen: dict, runs_label: str) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=np.r_[band["coverage"], band["coverage"][::-1]], y=np.r_[band["high"], band["low"][::-1]],
                             fill="toself", fillcolor="#0072B2", opacity=0.2, line=dict(width=0), hoverinfo="skip",
                             name=f"80% band over {runs_label}"))
    fig.add_trace(go.Scatter(x=band["coverage"], y=band["mean"], mode="lines", line=dict(color="#0072B2"),
                             name="observed accuracy of the accepted answers (mean)"))
    fig.add_hline(y=target, line=dict(color="#D55E00", dash="dot"), annotation_text=f"target {target:.2%}")
    if chosen["threshold"] is not None:
        fig.add_vline(x=chosen["auto_share"], line=dict(color="#009E73", dash="dash"),
                      annotation_text=f"provable: {chosen['auto_share']:.0%} auto-accepted")
    fig.update_xaxes(title="share of answers auto-accepted (most confident first)", tickformat=".0%")
    fig.update_yaxes(title="accuracy of the auto-accepted answers", tickformat=".1%")
    fig.update_layout(title="Risk-coverage: accuracy vs share auto-accepted", height=430,
                      legend=dict(orientation="h", y=-0.25))
    return fig


def _share_chart(summary: pd.DataFrame, runs_label: str) -> go.Figure:
    fig = go.Figure(go.Scatter(
        x=summary["target"].map(lambda t: f"{t:.2%}"), y=summary["human_share"], mode="lines+markers",
        line=dict(color="#CC79A7"), name="people label (mean)",
        error_y=dict(type="data", symmetric=False, array=summary["human_high"] - summary["human_share"],
                     arrayminus=summary["human_share"] - summary["human_low"])))
    fig.update_xaxes(title="target accuracy of the auto-accepted answers", type="category")
    fig.update_yaxes(title="share of items people label", tickformat=".0%", range=[0, 1.05])
    fig.update_layout(title=f"Share left to people per target (mean, 80% band over {runs_label})", height=380)
    return fig


def main():
    st.title("Human in the loop")
    st.caption("The model labels what it is sure about; people label the rest. The threshold must be *provably* safe: "
               "the accepted answers must reach the target accuracy with the stated probability (a one-sided "
               "Clopper-Pearson bound, Bonferroni-corrected over 20 coverage steps), measured on answers the model "
               "did not train on. Few scored answers cannot prove a high target: say so rather than guess.")
    mode = st.radio("Data", list(MODES), format_func=MODES.get, key="hitl_mode", horizontal=True)
    c1, c2 = st.columns(2)
    target = float(c1.number_input("Target accuracy of auto-accepted answers", 0.5, 0.99999, 0.999, step=0.001,
                                   format="%.4f", key="hitl_target"))
    level = float(c2.number_input("Probability that the target holds", 0.5, 0.999, 0.95, step=0.01, format="%.3f",
                                  key="hitl_level"))
    scores, what, runs_label = _scores(mode)
    if mode == "classification":
        st.caption(":material/science: **Simulated.** Confidences of a real classifier on a real data set, out-of-fold.")
    elif mode == "detection":
        st.caption("Each predicted box is one answer, right when it matches a truth box of its class at IoU >= 0.5. "
                   "Objects the model misses are not among the answers: people still draw those (see Pre-labelling).")
    targets = tuple(sorted(set(hitl.TARGETS) | {target}))
    try:
        summary, band, by_run = _analysis(scores, targets, level)
    except InputError as e:
        st.error(str(e))
        st.stop()
    first = by_run[(by_run["run"] == by_run["run"].min()) & (by_run["target"] == target)].iloc[0].to_dict()
    first["threshold"] = None if pd.isna(first["threshold"]) else first["threshold"]
    row = summary.set_index("target").loc[target]
    st.plotly_chart(_curve_chart(band, target, first, runs_label), width="stretch")

    st.markdown(f"**{what}**: {first['n']:,} scored answers. At **{target:.2%}** with probability {level:.0%}, people label "
                f"**{row['human_share']:.0%}** of the items (80% band {row['human_low']:.0%} to {row['human_high']:.0%} "
                f"over {int(row['runs'])} {runs_label}).")
    if first["threshold"] is None:
        st.warning(f"No threshold is provably safe on the first run: {first['reason']}. Everything goes to people.")
    else:
        st.markdown(f"First run: accept answers with confidence **>= {first['threshold']:.4f}**: "
                    f"{first['accepted']:,} answers ({first['auto_share']:.0%}) with {first['errors']} errors, accuracy "
                    f"{first['accuracy']:.3%}, provably at least {first['accuracy_lower']:.3%}.")
    st.plotly_chart(_share_chart(summary, runs_label), width="stretch")
    st.dataframe(summary.rename(columns={"runs_accepting": "runs with a safe threshold"}), hide_index=True,
                 width="stretch", column_config={
                     "target": st.column_config.NumberColumn(format="%.4f"),
                     **{c: st.column_config.NumberColumn(format="percent") for c in ("human_share", "human_low",
                                                                                     "human_high")},
                     "threshold": st.column_config.NumberColumn("mean threshold", format="%.4f")})
    st.caption(f"Proving {target:.2%} at {level:.0%} needs at least {hitl.min_items(target, level):,} accepted answers "
               "with no error; more scored answers lower the share left to people.")

    st.subheader("Use in the budget planner")
    value, note, detail = hitl.measurement(summary, target, what)
    st.caption(f"Sets the planner's *Share of items people still label* to {value:.0%}.")
    if st.button("Use this number in the budget", key="hitl_use", icon=":material/payments:"):
        measurements.record("human_share", value, note, detail)
        st.success(f"The budget planner now uses a human share of {value:.0%} (measured).")


main()
