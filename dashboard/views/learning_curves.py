"""Learning curves: run or import curves, extrapolate them to a target, hand the answer to the planner."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # also runs standalone (AppTest.from_file)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import streamlit as st  # noqa: E402

from analysis.core.errors import InputError  # noqa: E402
from analysis.data import sources  # noqa: E402
from analysis.planning import curve_fit, experiments  # noqa: E402
from analysis.planning import learning_curves as lc  # noqa: E402
from dashboard import jobs_ui, state  # noqa: E402

COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000"]
RESULT_KEY = "lc_result"  # what the budget planner reads
IMPORT = "Import a CSV"

TARGET, METRIC_NAME = "Target metric", "Metric name"  # widget labels (tests find the widgets by them)


@st.cache_data(show_spinner=False)
def _read_csv(data: bytes) -> pd.DataFrame:
    import io

    return lc.read_points(io.BytesIO(data))


@st.cache_data(show_spinner="Fitting curves (bootstrap)...", max_entries=32)
def _fits(points: pd.DataFrame, higher_is_better: bool) -> dict:
    return lc.fit_models(points, higher_is_better)


@st.cache_data(show_spinner=False, max_entries=32)
def _verdicts(points: pd.DataFrame, higher_is_better: bool, target: float) -> dict:
    return lc.verdicts(_fits(points, higher_is_better), target)


@st.cache_data(ttl=30, show_spinner=False)
def _sources() -> list[str]:
    """Embedded sources, then the crops of every FiftyOne detection dataset (re-listed every 30 s)."""
    return list(sources.SOURCES) + sources.crop_sources()


CHOICES = ("lc_mode", "lc_source", "lc_models", "lc_sizes", "lc_seeds")


def _reopen_last_view() -> None:
    """A new session opens where the last one left off: its choices, and its imported points if any."""
    last = state.load_last_view()
    if last is None:
        return
    view, imported = last
    if imported is not None:
        st.session_state.update(lc_mode=IMPORT, lc_imported=(imported, view["imported"]))
    elif view.get("source") in _sources() and set(view.get("models", [])) <= set(experiments.MODELS):
        st.session_state.update(lc_source=view["source"], lc_models=view["models"], lc_sizes=view["n_sizes"],
                                lc_seeds=view["seeds"])


def _remember(view: dict, points: pd.DataFrame | None = None) -> None:
    """Persist the page's choices (once per change, not on every rerun)."""
    if st.session_state.get("lc_remembered") != view:
        state.save_last_view(view, points)
        st.session_state["lc_remembered"] = view


@st.fragment(run_every=2)
def _run_progress(request: tuple) -> None:
    """The background experiment's progress; the page reloads when it ends (with its result, or its failure)."""
    job = experiments.experiment_status(*request)
    if job.state != "running":
        st.rerun(scope="app")
    jobs_ui.progress_bar(job)
    st.caption(f"Running in the background ({jobs_ui.duration(job.elapsed_s or 0)} so far): it keeps going if you "
               "close this tab or open another page; come back here for the curves.")


def _points() -> tuple[pd.DataFrame | None, str]:
    """The curve points chosen in the sidebar-like controls, and a label of where they come from."""
    if not any(k in st.session_state for k in CHOICES):
        _reopen_last_view()
    mode = st.radio("Curve points", ["Run an experiment", IMPORT], horizontal=True, key="lc_mode")
    if mode == IMPORT:
        st.caption("Columns `model, n_labels, metric[, seed]`: one row per trained model (your real training runs).")
        up = st.file_uploader("Points CSV", type=["csv"], key="lc_upload")
        if up is None:
            if "lc_imported" not in st.session_state:
                return None, ""
            points, name = st.session_state["lc_imported"]
            st.caption(f"Showing the last imported file, {name}; upload another to replace it.")
            return points, name
        try:
            points = _read_csv(up.getvalue())
        except InputError as e:
            st.error(f"{up.name}: {e}")
            return None, ""
        _remember({"imported": up.name, "hash": int(pd.util.hash_pandas_object(points, index=False).sum())}, points)
        st.session_state["lc_imported"] = (points, up.name)
        return points, up.name
    c1, c2, c3, c4 = st.columns([2, 3, 1, 1])
    source = c1.selectbox("Data", _sources(), format_func=sources.describe_source, key="lc_source",
                          help="Embedded data sets, or the object crops of a loaded detection dataset (class = the "
                               "box's label)")
    models = c2.multiselect("Model families", list(experiments.MODELS), list(experiments.DEFAULT_MODELS),
                            format_func=lambda m: experiments.MODELS[m], key="lc_models")
    n_sizes = c3.number_input("Sizes", 3, 16, 8, key="lc_sizes", help="log-spaced training-set sizes")
    seeds = c4.number_input("Seeds", 1, 10, 3, key="lc_seeds", help="runs per size")
    if not models:
        st.info("Pick at least one model family.")
        return None, ""
    try:  # crops of a dataset are read (and checked) here
        df = experiments.stored_experiment(source, models, int(n_sizes), int(seeds))
    except InputError as e:
        st.error(f"{e}. Pick another data source, or load a dataset with ground-truth boxes on the Load data page.")
        return None, ""
    if df is None:
        request = (source, models, int(n_sizes), int(seeds))
        job = experiments.experiment_status(*request)
        if job.state == "running":
            _run_progress(request)
            return None, ""
        jobs_ui.last_outcome(job)
        st.caption(f"Not run yet with these settings: {len(models)} model families x {int(n_sizes)} sizes x "
                   f"{int(seeds)} seeds, on two worker processes in the background (the README gives the default's "
                   "measured time). Results are saved and reused.")
        if not st.button("Run experiment", key="lc_run", type="primary", icon=":material/play_arrow:"):
            return None, ""
        try:
            experiments.start_experiment(*request)
        except InputError as e:
            st.error(str(e))
            return None, ""
        st.rerun()
    _remember({"source": source, "models": models, "n_sizes": int(n_sizes), "seeds": int(seeds)})
    return df[["model", "n_labels", "seed", "metric"]], sources.describe_source(source)


def _chart(points, fits, target, higher_is_better, answers, metric_name):
    fig = go.Figure()
    n_max = points["n_labels"].max()
    crossings = [a["labels_to_target"]["estimate"] for a in answers.values() if a["labels_to_target"]]
    right = max([n_max * 10] + [min(c * 2, n_max * 1000) for c in crossings])
    grid = np.geomspace(points["n_labels"].min(), right, 200)
    for i, (name, fit) in enumerate(fits.items()):
        color = COLORS[i % len(COLORS)]
        est, lo, hi = fit.predict(grid)
        fig.add_trace(go.Scatter(x=np.r_[grid, grid[::-1]], y=np.r_[hi, lo[::-1]], fill="toself", opacity=0.15,
                                 fillcolor=color, line=dict(width=0), hoverinfo="skip", showlegend=False,
                                 legendgroup=name))
        fig.add_trace(go.Scatter(x=grid, y=est, mode="lines", line=dict(color=color),
                                 name=f"{name} fit ({fit.method})", legendgroup=name))
        agg = points[points["model"] == name].groupby("n_labels")["metric"].agg(["mean", "std"]).reset_index()
        fig.add_trace(go.Scatter(x=agg["n_labels"], y=agg["mean"], mode="markers", marker=dict(color=color),
                                 error_y=dict(type="data", array=agg["std"].fillna(0)), name=f"{name} runs",
                                 legendgroup=name))
        cross = answers[name]["labels_to_target"]
        if cross and cross["estimate"] <= right:  # a line beyond the curves would stretch the axis to it
            fig.add_vline(x=cross["estimate"], line=dict(color=color, dash="dot"))
    fig.add_hline(y=target, line=dict(color="#D55E00", dash="dash"), annotation_text=f"target {target:g}")
    fig.update_xaxes(type="log", title="labelled training items (log scale)")
    fig.update_yaxes(title=metric_name)
    fig.update_layout(title="Metric vs labels: runs (mean, sd across seeds), fit and 80% band, target crossing",
                      height=520, legend=dict(orientation="h", y=-0.2))
    return fig


def _reading(points: pd.DataFrame) -> tuple[bool, float, str]:
    """Direction, target and metric name for these points: as they were last read, else their defaults."""
    points_hash = int(pd.util.hash_pandas_object(points, index=False).sum())
    kept = st.session_state.get("lc_reading") or state.load_last_reading()
    kept = kept if kept and kept.get("points") == points_hash else {}  # how these points were read last
    if "lc_lower" not in st.session_state and kept:  # a new session, or back from another page: widget state is gone
        st.session_state["lc_lower"] = kept["lower"]
    c1, c2, c3 = st.columns(3)
    lower = c2.checkbox("Lower is better (error, loss)", key="lc_lower")
    # New points (or the other direction) get new widgets with their own default target and metric name: a
    # widget keeps what the browser last sent for its key, so only a new key shows the new default.
    data_key = (points_hash, lower)
    if st.session_state.get("lc_data_key") != data_key:
        st.session_state["lc_data_key"] = data_key
        st.session_state["lc_data_version"] = st.session_state.get("lc_data_version", 0) + 1
    version = st.session_state["lc_data_version"]
    default_target = lc.default_target(points["metric"], not lower)
    kept = kept if kept.get("lower") == lower else {}
    # the values go in through the state only: a default value beside it makes Streamlit warn
    st.session_state.setdefault(f"lc_metric_name_{version}", kept.get("metric_name", "error" if lower else "accuracy"))
    st.session_state.setdefault(f"lc_target_{version}", kept.get("target", default_target))
    metric_name = c3.text_input(METRIC_NAME, key=f"lc_metric_name_{version}")
    target = c1.number_input(TARGET, step=0.005, format="%.3f", key=f"lc_target_{version}")
    reading = {"points": points_hash, "lower": lower, "target": target, "metric_name": metric_name}
    if st.session_state.get("lc_reading") != reading:
        st.session_state["lc_reading"] = reading
        state.save_last_reading(reading)
    return lower, target, metric_name


def _labels(answer: dict, key: str, never: str) -> str:
    lt = answer["labels_to_target"]
    return never if lt is None else curve_fit.upper_end_text(lt[key])


def _answers_table(answers: dict, fits: dict) -> None:
    table = pd.DataFrame([
        {"model": name, "form": a["form"], "ceiling": round(a["ceiling"], 4),
         "labels to target": _labels(a, "estimate", "not reached"),
         "80% low": _labels(a, "low", "not reached"), "80% high": _labels(a, "high", "not reached"),
         "P(ceiling below target)": a["p_ceiling_below_target"],
         "extrapolation test (RMSE of log gap)": ", ".join(f"{f} {e:.3f}" for f, e in fits[name].holdout_error.items()
                                                          if np.isfinite(e))}
        for name, a in answers.items()])
    st.dataframe(table, hide_index=True, width="stretch",  # a percentage, as the verdicts write it
                 column_config={"P(ceiling below target)": st.column_config.NumberColumn(format="percent")})


def _send_to_planner(points: pd.DataFrame, answers: dict, target: float, higher_is_better: bool, origin: str) -> None:
    st.subheader("Use in the budget planner")
    best = min(answers, key=lambda m: (answers[m]["labels_to_target"] or {}).get("estimate", np.inf))
    model = st.selectbox("Model whose curve the planner uses", list(answers), index=list(answers).index(best),
                         key="lc_plan_model")
    if st.button("Send to the budget planner", key="lc_send", icon=":material/payments:"):
        result = lc.planner_answer(points, model, answers[model], target, higher_is_better, origin)
        st.session_state[RESULT_KEY] = result
        state.save_latest(result)
        st.success(f"Saved: the planner now uses {model}'s curve ({origin}).")


def main():
    st.title("Learning curves")
    st.caption("How does the metric grow with labelled data, and how many labels reach the target? Beyond the "
               "largest run, the curve's gain is learned from thousands of real curves of many data sets and model "
               "families (form gain+...), with an 80% band calibrated on curves it was not trained on; a power law "
               "with a ceiling, fitted on the gap to a perfect score, carries it on beyond that range and gives the "
               "ceiling. A curve that is flat or falls is answered too: more labels do not help that model.")
    points, origin = _points()
    if points is None:
        st.stop()
    lower, target, metric_name = _reading(points)
    try:
        fits = _fits(points, not lower)
        answers = {name: lc.summarize(fit, target) for name, fit in fits.items()}
    except InputError as e:
        st.error(str(e))
        st.stop()

    for name, fit in fits.items():  # beside the answer, never instead of it
        if warning := lc.direction_warning(name, fit):
            st.warning(warning.replace("say so", "untick 'Lower is better'" if lower else "tick 'Lower is better'"))
    st.plotly_chart(_chart(points, fits, target, not lower, answers, metric_name), width="stretch")
    for v in _verdicts(points, not lower, target).values():
        st.markdown(v["text"])
    _answers_table(answers, fits)
    _send_to_planner(points, answers, target, not lower, origin)

    with st.expander("Points"):
        st.dataframe(points, hide_index=True)
        st.download_button("Download points CSV", points.to_csv(index=False), "learning_curve_points.csv", "text/csv")


main()
