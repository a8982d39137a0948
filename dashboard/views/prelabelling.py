"""Pre-labelling: share of boxes a labeller accepts, fixes, draws or deletes; the speed-up; the anchoring risk."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # also runs standalone (AppTest.from_file)

import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import streamlit as st  # noqa: E402

from analysis.core.errors import InputError  # noqa: E402
from analysis.data import datasets
from analysis.lab import prelabelling  # noqa: E402
from analysis.planning import measurements  # noqa: E402
from dashboard import charts, common  # noqa: E402

CONFIDENCES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
ACTION_COLORS = {"accept": "#009E73", "fix": "#E69F00", "draw": "#0072B2", "delete": "#D55E00"}


@st.cache_data(show_spinner="Reading boxes...", max_entries=8)
def _boxes(name: str, modified, truth: str, pred: str):
    return prelabelling.read_boxes(datasets.load(name), truth, pred)


@st.cache_data(show_spinner="Matching pre-labels to the truth and bootstrapping...", max_entries=16)
def _sweep(gt, pred, confidences: tuple, secs: tuple, accept_iou: float, fix_iou: float) -> pd.DataFrame:
    return prelabelling.sweep(gt, pred, confidences, dict(secs), accept_iou=accept_iou, fix_iou=fix_iou)


def _chart(sw: pd.DataFrame, chosen: float) -> go.Figure:
    fig = charts.two_measures(sw, "min_confidence", ("speedup", "speed-up vs drawing every box"),
                              ("anchoring", "pre-labels wrong if kept as shown"))
    fig.add_vline(x=chosen, line=dict(color="#999999", dash="dot"))
    fig.update_xaxes(title="minimum confidence of a pre-label")
    fig.update_yaxes(title="speed-up (x)", rangemode="tozero", secondary_y=False)
    fig.update_yaxes(title="share of pre-labels that are wrong", tickformat=".0%", range=[0, 1], dtick=0.2,
                     secondary_y=True)
    fig.update_layout(title="Speed-up and anchoring risk vs pre-label confidence (80% bootstrap band over images)",
                      height=450, legend=dict(orientation="h", y=-0.25))
    return fig


def _actions_chart(row: pd.Series) -> go.Figure:
    fig = go.Figure()
    for a in prelabelling.ACTIONS:
        fig.add_trace(go.Bar(y=["per truth box"], x=[row[a]], name=a, orientation="h",
                             marker_color=ACTION_COLORS[a], text=f"{a} {row[a]:.0%}", textposition="inside"))
    fig.update_layout(barmode="stack", height=200, title="What the labeller does (delete: per truth box)",
                      xaxis=dict(tickformat=".0%"), margin=dict(t=40, b=20), legend=dict(orientation="h"))
    return fig


def main():
    ds = common.current_dataset()
    st.title(f"Pre-labelling: {ds.name}")
    st.caption("The model's boxes are shown to the labeller as pre-labels. Each truth box is then **accepted** (a "
               "pre-label of the right class fits it), **fixed** (a pre-label overlaps but has the wrong class or a loose "
               "box) or **drawn** (no pre-label); pre-labels on nothing are **deleted**. Seconds per action turn this "
               "into a speed-up over drawing every box.")
    truth, pred_field = common.truth_and_predictions(ds, "pre")
    c1, c2, c3 = st.columns(3)
    min_conf = float(c1.slider("Minimum confidence of a pre-label", 0.05, 0.95, 0.5, 0.05, key="pre_conf"))
    accept_iou = float(c2.number_input("IoU to accept as is", 0.1, 1.0, 0.7, 0.05, key="pre_accept_iou",
                                       help="a pre-label of the right class this close needs no change"))
    fix_iou = float(c3.number_input("IoU to fix rather than draw", 0.05, 1.0, 0.3, 0.05, key="pre_fix_iou",
                                    help="a pre-label overlapping this much is adjusted instead of drawn anew"))
    st.caption("Seconds per action: assumptions, see (?) for their sources; edit them to your tool and team.")
    secs = {a: float(col.number_input(f"Seconds to {a}", 0.1, 120.0, prelabelling.SECONDS[a][0], 0.1, key=f"pre_sec_{a}",
                                      help=prelabelling.SECONDS[a][1]))
            for col, a in zip(st.columns(len(prelabelling.ACTIONS)), prelabelling.ACTIONS)}
    try:
        gt, pred = _boxes(ds.name, ds.last_modified_at, truth, pred_field)
        sw = _sweep(gt, pred, tuple(sorted(set(CONFIDENCES) | {min_conf})), tuple(secs.items()), accept_iou, fix_iou)
    except InputError as e:
        st.error(str(e))
        st.stop()
    row = sw.set_index("min_confidence").loc[min_conf]
    st.plotly_chart(_actions_chart(row), width="stretch")
    st.plotly_chart(_chart(sw, min_conf), width="stretch")
    st.markdown(f"At confidence >= {min_conf:g}: {row['prelabels']:,.0f} pre-labels for {row['gt_boxes']:,.0f} truth boxes; "
                f"**{row['speedup']:.2f}x faster** than drawing every box (80% band {row['speedup_low']:.2f} to "
                f"{row['speedup_high']:.2f}): {row['seconds_prelabel']:.1f} s instead of {row['seconds_scratch']:.1f} s "
                "per box.")
    st.markdown(f"**Anchoring risk**: a reviewer who keeps every pre-label as shown keeps **{row['anchoring']:.0%}** wrong "
                f"boxes ({row['wrong_class']:,.0f} of the wrong class, {row['loose']:,.0f} loose, {row['extra']:,.0f} on "
                f"nothing), compared against **{common.md_escape(truth)}**"
                + (" (the demo's true boxes)." if truth == "clean_ground_truth" else
                   " (your labels: where they are wrong, this count is too)."))
    st.dataframe(sw.round(3), hide_index=True, width="stretch")

    st.subheader("Use in the budget planner")
    planner = prelabelling.planner_values(row.to_dict())
    st.caption(f"Sets the planner's *Pre-label acceptance rate* to {planner['prelabel_acceptance']:.0%} (truth boxes with "
               f"a usable pre-label) and *Pre-labelling speed-up* to {planner['prelabel_speedup']:.2f}x on those, which "
               f"together give the measured {row['speedup']:.2f}x.")
    if planner["slower"]:
        st.warning("Deleting wrong pre-labels costs more than the pre-labels save here: the planner gets 1x (no faster). "
                   "Raise the minimum confidence.")
    if st.button("Use these numbers in the budget", key="pre_use", icon=":material/payments:"):
        values, note, detail = prelabelling.measurement(row.to_dict(), ds.name, min_conf, truth, secs, accept_iou,
                                                        fix_iou)
        for name, value in values.items():
            measurements.record(name, value, note, detail)
        st.success(f"The budget planner now uses {planner['prelabel_acceptance']:.0%} acceptance and "
                   f"{planner['prelabel_speedup']:.2f}x speed-up (measured).")


main()
