"""Active learning: simulate query strategies on labelled data, measure labels saved vs random, feed the planner."""

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
from analysis.lab import active_learning as al  # noqa: E402
from analysis.planning import measurements  # noqa: E402

COLORS = {"random": "#000000", "least_confident": "#E69F00", "margin": "#0072B2", "entropy": "#56B4E9",
          "qbc": "#CC79A7", "clue": "#009E73"}


@st.cache_data(show_spinner="Bootstrapping over seeds...", max_entries=32)
def _savings(df: pd.DataFrame, target: float) -> dict:
    return al.savings(df, target)


def _chart(df: pd.DataFrame, target: float, budget: int) -> go.Figure:
    fig = go.Figure()
    bands = al.band(df)
    for name, b in bands.groupby("strategy"):
        color = COLORS[name]
        fig.add_trace(go.Scatter(x=np.r_[b["n_labels"], b["n_labels"][::-1]], y=np.r_[b["high"], b["low"][::-1]],
                                 fill="toself", fillcolor=color, opacity=0.15, line=dict(width=0),
                                 hoverinfo="skip", showlegend=False, legendgroup=name))
        fig.add_trace(go.Scatter(x=b["n_labels"], y=b["mean"], mode="lines+markers", marker=dict(size=4),
                                 line=dict(color=color, dash="dash" if name == "random" else "solid"),
                                 name=al.STRATEGIES[name], legendgroup=name))
    fig.add_hline(y=target, line=dict(color="#D55E00", dash="dot"), annotation_text=f"target {target:.3f}")
    fig.update_xaxes(title="labelled items (seed set + queried)", range=[0, budget])
    fig.update_yaxes(title="test accuracy")
    fig.update_layout(title="Simulated: test accuracy vs labels, mean and 80% band over seeds", height=480,
                      legend=dict(orientation="h", y=-0.25))
    return fig


def _fmt(v, pct=True):
    if v is None:
        return "beyond the budget"
    return f"{v:.0%}" if pct else f"{v:,.0f}"


def main():
    st.title("Active learning")
    st.caption(":material/science: **Simulated.** The true labels of a labelled data set are hidden; each strategy "
               "starts from the same small random seed set, asks for a batch of labels per round (the hidden labels "
               "are revealed), retrains a logistic regression and is scored on a fixed test split. Strategies from "
               "scikit-activeml 1.0.1; see the table below.")

    c1, c2 = st.columns([1, 3])
    source = c1.selectbox("Data", list(sources.SOURCES), format_func=lambda s: sources.SOURCES[s][0], key="al_source")
    strategies = c2.multiselect("Strategies", list(al.STRATEGIES), list(al.STRATEGIES),
                                format_func=lambda s: al.STRATEGIES[s], key="al_strategies")
    c1, c2, c3, c4 = st.columns(4)
    seeds = int(c1.number_input("Seeds", 1, 20, 5, key="al_seeds", help="repeats, each with its own seed set"))
    init = int(c2.number_input("Seed set (items)", 2, 1000, 20, key="al_init", help="random labelled items to start"))
    batch = int(c3.number_input("Batch (items per round)", 1, 500, 20, key="al_batch"))
    budget = int(c4.number_input("Budget (labels)", 10, 4000, 500, step=50, key="al_budget",
                                 help="each run stops at this many labels"))
    if "random" not in strategies:
        st.info("Include **random**: labels saved are measured against it.")
        st.stop()

    df = al.stored_simulation(source, strategies, seeds, init, batch, budget)
    if df is None:
        st.caption("Not run yet with these settings. The default (6 strategies x 5 seeds, 500 labels on MNIST-5k) "
                   "takes about a minute on two cores; results are saved and reused.")
        if not st.button("Run simulation", key="al_run", type="primary", icon=":material/play_arrow:"):
            st.stop()
        bar = st.progress(0.0, "Starting workers...")
        try:
            df = al.cached_simulation(source, strategies, seeds, init, batch, budget,
                                      progress=lambda f, m: bar.progress(f, m))
        except InputError as e:
            st.error(str(e))
            st.stop()
        bar.empty()

    random_final = al.default_target(df)
    run_id = (source, tuple(sorted(strategies)), seeds, init, batch, budget)
    if st.session_state.get("al_target_run") != run_id:  # a new run starts from its own default target
        # rounded down to the input's 4 decimals: random must still reach its own default target
        st.session_state["al_target_run"], st.session_state["al_target"] = run_id, math.floor(random_final * 1e4) / 1e4
    target = st.number_input("Target test accuracy", 0.0, 1.0, step=0.005, format="%.4f", key="al_target",
                             help="Default: random labelling's mean accuracy at the whole budget.")
    try:
        result = _savings(df, target)
    except InputError as e:
        st.error(str(e))
        st.stop()
    st.plotly_chart(_chart(df, target, budget), width="stretch")

    rows = []
    for name, s in result["strategies"].items():
        rows.append({"strategy": al.STRATEGIES[name], "labels to target": s["labels"], "saving vs random": s["saving"],
                     f"{result['level']:.0%} low": s["saving_low"], f"{result['level']:.0%} high": s["saving_high"],
                     "P(reaches target)": s["p_reached"], "accuracy at budget": s["final_accuracy"],
                     "sd over seeds": s["final_sd"]})
    pct = st.column_config.NumberColumn(format="percent")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"saving vs random": pct, f"{result['level']:.0%} low": pct,
                                f"{result['level']:.0%} high": pct, "P(reaches target)": pct,
                                "labels to target": st.column_config.NumberColumn(format="%.0f"),
                                "accuracy at budget": st.column_config.NumberColumn(format="%.3f"),
                                "sd over seeds": st.column_config.NumberColumn(format="%.3f")})
    st.caption(f"Labels saved = 1 - labels the strategy needs / labels random needs to reach {target:.4f}, from the "
               f"mean curves over {result['seeds']} seeds; the interval is a paired bootstrap over seeds. An empty "
               "cell: the curve does not reach the target within the budget.")

    losers = [al.STRATEGIES[k] for k, s in result["strategies"].items()
              if k != "random" and (s["saving"] is None or s["saving"] <= 0)]
    if losers:
        st.warning("No better than random here: " + ", ".join(losers) + ".")
    best = result["best"]
    if best is None:
        st.warning("No strategy reaches the target within the budget; raise the budget or lower the target.")
        st.stop()
    b = result["strategies"][best]
    st.markdown(f"**Best: {al.STRATEGIES[best]}** reaches {target:.4f} with **{_fmt(b['saving'])} fewer labels** than "
                f"random ({result['level']:.0%} interval {_fmt(b['saving_low'])} to {_fmt(b['saving_high'])}).")

    st.subheader("Use in the budget planner")
    value, note, detail = al.measurement(result, source)
    st.caption(f"Sets the planner's *Active-learning label savings* to {value:.0%} (simulated on {sources.SOURCES[source][0]}).")
    if st.button("Use this number in the budget", key="al_use", icon=":material/payments:"):
        measurements.record("al_savings", value, note, detail)
        st.success(f"The budget planner now uses {value:.0%} active-learning savings (measured).")


main()
