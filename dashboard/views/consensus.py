"""Consensus: accuracy vs annotators per item, with and without the model's vote; overlaps the model replaces."""

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # also runs standalone (AppTest.from_file)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import streamlit as st  # noqa: E402

from analysis.core.errors import InputError  # noqa: E402
from analysis.data import sources  # noqa: E402
from analysis.lab import consensus as cs  # noqa: E402
from analysis.planning import measurements  # noqa: E402

COLORS = {"majority": "#000000", "dawid_skene": "#0072B2", "crowdlab": "#009E73"}
MODES = {"simulation": "Simulated annotators on an embedded data set", "csv": "Upload task,worker,label CSV"}


@st.cache_data(show_spinner="Aggregating the uploaded annotations...", max_entries=4)
def _on_csv(df: pd.DataFrame, model_worker: str | None, seeds: int) -> pd.DataFrame:
    return cs.on_annotations(df, model_worker, seeds)


def _simulation() -> tuple[pd.DataFrame, str]:
    c1, c2 = st.columns([3, 1])
    source = c1.selectbox("Data", list(sources.SOURCES), format_func=lambda s: sources.SOURCES[s][0], key="cs_source")
    seeds = int(c2.number_input("Seeds", 1, 20, 5, key="cs_seeds", help="each draws its own annotators and answers"))
    st.caption("Assumptions about the simulated annotators (edit them to match your crowd):")
    settings = {}
    for col, (name, (default, meaning)) in zip(st.columns(len(cs.SIMULATION)), cs.SIMULATION.items()):
        if isinstance(default, int):
            settings[name] = int(col.number_input(meaning.capitalize(), 1, 100, default, key=f"cs_{name}"))
        else:
            settings[name] = float(col.number_input(meaning.capitalize(), 0.05, 1.0, default, step=0.05,
                                                    key=f"cs_{name}"))
    df = cs.stored_simulation(source, seeds, **settings)
    if df is None:
        st.caption("Not run yet with these settings. The default (5 seeds, up to 5 annotators per item on MNIST-5k) "
                   "takes a few minutes on two cores; results are saved and reused.")
        if not st.button("Run simulation", key="cs_run", type="primary", icon=":material/play_arrow:"):
            st.stop()
        bar = st.progress(0.0, "Simulating annotators...")
        try:
            df = cs.cached_simulation(source, seeds, progress=lambda f, m: bar.progress(f, m), **settings)
        except InputError as e:
            st.error(str(e))
            st.stop()
        bar.empty()
    return df, f"simulated annotators on {sources.SOURCES[source][0]}"


def _upload() -> tuple[pd.DataFrame, str]:
    file = st.file_uploader("CSV with columns task, worker, label; optional gold (the true label where known) and "
                            "confidence (the model's, on its rows)", type="csv", key="cs_csv")
    if file is None:
        st.info("Upload the annotations. Name the model's answers as one worker to compare with and without it.")
        st.stop()
    try:
        df = cs.read_annotations(file)
    except InputError as e:
        st.error(str(e))
        st.stop()
    c1, c2 = st.columns([3, 1])
    workers = sorted(df["worker"].unique())
    model = c1.selectbox("Which worker is the model?", [None] + workers, key="cs_model_worker",
                         format_func=lambda w: "none (people only)" if w is None else w)
    seeds = int(c2.number_input("Seeds", 1, 20, 5, key="cs_csv_seeds", help="random orders of each task's annotators"))
    try:
        return _on_csv(df, model, seeds), f"CSV {file.name}"
    except InputError as e:
        st.error(str(e))
        st.stop()


def _chart(summary: pd.DataFrame, target: float) -> go.Figure:
    fig = go.Figure()
    for (method, with_model), g in summary.groupby(["method", "with_model"]):
        name = f"{cs.METHODS[method]} {'+ model' if with_model else '(people only)'}"
        color = COLORS[method]
        fig.add_trace(go.Scatter(x=np.r_[g["overlap"], g["overlap"][::-1]], y=np.r_[g["high"], g["low"][::-1]],
                                 fill="toself", fillcolor=color, opacity=0.12, line=dict(width=0), hoverinfo="skip",
                                 showlegend=False, legendgroup=name))
        fig.add_trace(go.Scatter(x=g["overlap"], y=g["mean"], mode="lines+markers", name=name, legendgroup=name,
                                 line=dict(color=color, dash="solid" if with_model else "dash")))
    fig.add_hline(y=target, line=dict(color="#D55E00", dash="dot"), annotation_text=f"target {target:.3f}")
    fig.update_xaxes(title="annotators per item", dtick=1)
    fig.update_yaxes(title="consensus accuracy against the true labels", tickformat=".0%")
    fig.update_layout(title="Consensus accuracy vs annotators per item (mean, 80% band over seeds)", height=470,
                      legend=dict(orientation="h", y=-0.25))
    return fig


def main():
    st.title("Consensus with the model")
    st.caption("Several people label each item and a consensus method picks the label: majority vote, Dawid-Skene "
               "(crowd-kit; weighs each annotator by an estimated confusion matrix) or CROWDLAB (cleanlab; weighs the "
               "annotators and the model's probabilities). Adding the model's answer as one more vote can replace "
               "people: compare the dashed (people only) and solid (with the model) lines.")
    mode = st.radio("Data", list(MODES), format_func=MODES.get, key="cs_mode", horizontal=True)
    df, what = _simulation() if mode == "simulation" else _upload()
    if mode == "simulation":
        st.caption(":material/science: **Simulated.** Real images and true labels; the annotators and their mistakes "
                   "are simulated (per-class accuracies around each annotator's skill, mistakes going to the classes a "
                   "classifier confuses), and the model is a logistic regression trained on their majority vote.")
    summary = cs.summarize(df)
    default = cs.default_target(summary)
    run_id = (what, len(df), round(default, 6))
    if st.session_state.get("cs_target_run") != run_id:  # a new run starts from its own default target
        # rounded down to the input's 4 decimals: the people-only line must still reach its own default
        st.session_state["cs_target_run"], st.session_state["cs_target"] = run_id, math.floor(default * 1e4) / 1e4
    target = st.number_input("Target consensus accuracy", 0.0, 1.0, step=0.005, format="%.4f", key="cs_target",
                             help="Default: the best people-only accuracy with the most annotators.")
    st.plotly_chart(_chart(summary, target), width="stretch")
    result = cs.overlaps_replaced(summary, target)
    table = summary.pivot_table(index="overlap", columns=["method", "with_model"], values="mean")
    table.columns = [f"{cs.METHODS[m]}{' + model' if w else ''}" for m, w in table.columns]
    st.dataframe(table.reset_index(), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="percent") for c in table.columns})
    st.caption("CROWDLAB always uses the model's probabilities and needs two or more annotators per item: it has no "
               "people-only line and no value at one annotator.")
    if result["with"] is None:
        st.warning(f"Even with the model, no number of annotators reaches {target:.4f}; lower the target.")
        st.stop()
    without = (f"more than {int(summary['overlap'].max())}" if result["without"] is None
               else f"**{result['without']}**")
    st.markdown(f"On {what}: people alone need {without} annotators per item for {target:.4f}; with the model's vote "
                f"**{result['with']}** ({cs.METHODS[result['method_with']]})."
                + (f" The model replaces **{result['replaced']}** annotator(s) per item." if result["replaced"] else ""))

    st.subheader("Use in the budget planner")
    value, note, detail = cs.measurement(result, what)
    st.caption(f"Sets the planner's *Annotators per item (overlap)* to {value:g}.")
    if st.button("Use this number in the budget", key="cs_use", icon=":material/payments:"):
        measurements.record("overlap", value, note, detail)
        st.success(f"The budget planner now uses {value:g} annotators per item (measured).")


main()
