"""Budget planner: cost and calendar time to the target for five options, with break-even and sensitivity."""

import sys
from dataclasses import fields, replace
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # also runs standalone (AppTest.from_file)

import json  # noqa: E402
import math  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import streamlit as st  # noqa: E402
from streamlit.errors import StreamlitPageNotFoundError  # noqa: E402

from analysis.core.errors import InputError  # noqa: E402
from analysis.planning import budget as bd  # noqa: E402
from analysis.planning import budget_report, measurements, scenarios  # noqa: E402
from analysis.planning.curve_fit import MAX_LABELS, NO_UPPER_END  # noqa: E402
from dashboard import state  # noqa: E402

COLORS = {"random": "#0072B2", "prelabel": "#E69F00", "active": "#009E73", "synthetic": "#D55E00",
          "engineer": "#CC79A7"}
SCALARS = ("name", "target", "current_labels", "current_metric", "labels_needed", "labels_low", "labels_high",
           "p_ceiling_below_target")


def _key(group: str, name: str) -> str:
    return f"bp_{group}_{name}"


def _shown(name: str, v):
    """A scenario value as its input holds it: an unbounded 80% high is empty (a number input cannot hold inf,
    and 0 would read as no labels); other infinities mean not reachable, ticked below, and show 0."""
    if isinstance(v, float) and math.isinf(v):
        return None if name == "labels_high" else 0.0
    return v


def _set_state(s: scenarios.Scenario) -> None:
    """Put a scenario into the widgets' session state (before the widgets are drawn)."""
    for name in SCALARS:
        st.session_state[_key("s", name)] = _shown(name, getattr(s, name))
    st.session_state["bp_unreachable"] = math.isinf(s.labels_needed)
    for group, obj in (("a", s.assumptions), ("p", s.plan)):
        for f in fields(obj):
            st.session_state[_key(group, f.name)] = getattr(obj, f.name)


def _input_keys() -> list[str]:
    """The session-state keys of every scenario input on the page."""
    return ([_key("s", name) for name in SCALARS] + ["bp_unreachable", "bp_use_curve"]
            + [_key(group, f.name) for group, cls in (("a", bd.Assumptions), ("p", bd.EngineerPlan))
               for f in fields(cls)])


def _load(source: str) -> None:
    """Load the chosen saved scenario (``"saved"``) or the uploaded scenario file (``"file"``) into the widgets
    (a callback: runs before they are drawn)."""
    ss = st.session_state
    upload = ss.get("bp_upload")
    if source == "file" and upload is None:
        return  # the file was removed from the uploader: keep the inputs
    try:
        _set_state(scenarios.load_scenario(ss["bp_saved"]) if source == "saved"
                   else scenarios.parse_scenario(upload.getvalue(), upload.name))
        ss["bp_use_curve"] = False
    except InputError as e:
        ss["bp_load_error"] = str(e)


def _put_in_url(q: dict) -> None:
    """Write the scenario's query parameters into the page URL; other parameters (the sidebar's dataset) stay."""
    for k in (set(st.query_params) & scenarios.Scenario.query_keys()) - q.keys():
        del st.query_params[k]
    for k, v in q.items():
        if st.query_params.get(k) != v:
            st.query_params[k] = v


def _curve_result() -> dict | None:
    return st.session_state.get("lc_result") or state.load_latest()


def _forget(name: str) -> None:
    """Go back from the measurement to the assumption's default (a callback: runs before the widgets)."""
    measurements.forget(name)
    st.session_state[_key("a", name)] = bd.Assumptions.__dataclass_fields__[name].default


def _number(group, f, container, measured: dict | None = None):
    m = f.metadata
    integer = m["unit"] in ("people",)
    key = _key(group, f.name)
    if measured:  # the measurement replaces the assumption until the user goes back to it
        st.session_state[key] = float(measured["value"])
    out = container.number_input(f"{m['label']} ({m['unit']})", min_value=0.0, step=1.0 if integer else None,
                                 key=key, disabled=bool(measured), help=f"Default source: {m['source']}")
    if measured:
        container.caption(f":material/science: {scenarios.measured_note(measured)}")
        container.button("Use the assumption instead", key=f"bp_forget_{f.name}", on_click=_forget,
                         args=(f.name,))
    return out


def _link(container, page: str, label: str, icon: str) -> None:
    """A link to another page of the app; its name as text where the page runs alone (``streamlit run
    dashboard/views/budget.py``, tests), as no other page is registered there."""
    try:
        container.page_link(page, label=label, icon=icon)
    except StreamlitPageNotFoundError:
        container.caption(f"{label} (open the app: streamlit run dashboard/app.py).")


def _widgets(curve, measured: dict) -> scenarios.Scenario:
    st.subheader("Where we are and what we need")
    use_curve = False
    if curve:
        # on unless a loaded scenario or a shared link turned it off: the state alone sets it, as a default value
        # besides the state makes Streamlit warn
        st.session_state.setdefault("bp_use_curve", True)
        use_curve = st.toggle(f"Use the learning-curve answer ({curve.get('model')} on {curve.get('source')})",
                              key="bp_use_curve")
    if use_curve:  # show the curve's numbers in the (disabled) fields below
        fitted = scenarios.scenario_from_curve(curve, scenarios.Scenario())
        for name in SCALARS[1:]:
            st.session_state[_key("s", name)] = _shown(name, getattr(fitted, name))
        st.session_state["bp_unreachable"] = math.isinf(fitted.labels_needed)
    c = st.columns(4)
    c[0].number_input("Target metric", key=_key("s", "target"), format="%.3f", disabled=use_curve)
    c[1].number_input("Current metric", key=_key("s", "current_metric"), format="%.3f", disabled=use_curve)
    c[2].number_input("Labels so far (items)", min_value=0.0, key=_key("s", "current_labels"), disabled=use_curve)
    c[3].number_input("P(ceiling below target) (probability)", min_value=0.0, max_value=1.0, format="%.2f",
                      key=_key("s", "p_ceiling_below_target"), disabled=use_curve,
                      help="Chance that more labels of this kind never reach the target; the labelling options "
                           "reach it with 1 minus this. The learning curve's estimate when used; typed in, 0 "
                           "assumes the labels needed are enough.")
    c = st.columns(4)
    c[0].number_input("More labels needed (items)", min_value=0.0, key=_key("s", "labels_needed"),
                      disabled=use_curve, help="Random labelling; the learning curve's estimate when used.")
    if not curve:
        c[0].caption("No learning curve fitted yet: these numbers are typed in. A curve fitted to your labels "
                     "says how many more are needed, with an interval.")
        _link(c[0], "views/learning_curves.py", "Fit one on the Learning curves page", ":material/show_chart:")
    c[1].number_input("80% low", min_value=0.0, key=_key("s", "labels_low"), disabled=use_curve)
    # value=None lets the field be emptied (over the horizon) and, unlike another default, makes no state warning
    c[2].number_input("80% high", value=None, min_value=0.0, key=_key("s", "labels_high"), disabled=use_curve,
                      placeholder=NO_UPPER_END,
                      help=f"Empty: {NO_UPPER_END} (some of the curve's draws do not reach the target within "
                           f"{MAX_LABELS:,.0f} labels).")
    c[3].checkbox("Not reachable by labelling", key="bp_unreachable", disabled=use_curve,
                  help="The curve's ceiling is below the target.")

    st.subheader("Assumptions")
    st.caption("Every default below is an assumption with its source in the (?) help; edit them to your numbers. "
               "Inputs marked :material/science: are measured in the Labelling lab.")
    a_fields = [f for f in fields(bd.Assumptions)]
    cols = st.columns(3)
    cols[0].selectbox("Task type", bd.TASKS, key=_key("a", "task"), help=bd.Assumptions.__dataclass_fields__[
        "task"].metadata["source"])
    for i, f in enumerate(f for f in a_fields if f.name != "task"):
        _number("a", f, cols[(i + 1) % 3], measured.get(f.name))
    st.subheader("The engineer's plan")
    cols = st.columns(4)
    for i, f in enumerate(fields(bd.EngineerPlan)):
        _number("p", f, cols[i])

    ss = st.session_state
    a = bd.Assumptions(**{f.name: ss[_key("a", f.name)] for f in a_fields})
    p = bd.EngineerPlan(**{f.name: ss[_key("p", f.name)] for f in fields(bd.EngineerPlan)})
    s = scenarios.Scenario(**{n: ss[_key("s", n)] for n in SCALARS}, assumptions=a, plan=p, labels_source="assumed")
    if s.labels_high is None:  # the empty 80% high
        s = replace(s, labels_high=math.inf)
    if ss["bp_unreachable"]:
        s = replace(s, labels_needed=math.inf, labels_low=math.inf, labels_high=math.inf)
    if use_curve:
        s = scenarios.scenario_from_curve(curve, s)
    return scenarios.with_measurements(s, measured)


def _break_even_chart(s: scenarios.Scenario, table: pd.DataFrame):
    finite = [v for v in (s.labels_needed, s.labels_high) if math.isfinite(v)]
    be = bd.break_even_labels(s.assumptions, s.plan, s.target)
    right = max(finite + ([be * 1.5] if math.isfinite(be) and be < 1e8 else []) + [1000.0]) * 1.2
    grid = np.linspace(0, right, 60)
    costs = pd.DataFrame([bd.compare(n, s.assumptions, s.plan, s.target)["cost"] for n in grid], index=grid)
    fig = go.Figure()
    for opt in costs.columns:
        fig.add_trace(go.Scatter(x=grid, y=costs[opt], name=bd.OPTIONS[opt], line=dict(color=COLORS[opt])))
    if math.isfinite(s.labels_needed):
        fig.add_vrect(x0=s.labels_low, x1=min(s.labels_high, right), fillcolor="#999", opacity=0.15, line_width=0)
        fig.add_vline(x=s.labels_needed, line=dict(dash="dot"), annotation_text=f"needed ({s.labels_source})")
    if math.isfinite(be) and be <= right:
        fig.add_vline(x=be, line=dict(color=COLORS["engineer"], dash="dash"), annotation_text="break-even",
                      annotation_position="bottom right")
    # two short lines: one long line is cut off in half of a wide page
    fig.update_layout(title="Break-even: cost vs labels needed<br><sup>the engineer's plan falls back to labelling "
                            "if it fails</sup>", xaxis_title="more labels needed (items)", yaxis_title="cost",
                      height=420)
    return fig, be


def _sensitivity_chart(sens: pd.DataFrame):
    """The cost margins as bars; ``None`` when no margin is finite (labelling cannot reach the target)."""
    sens = sens.replace([np.inf, -np.inf], np.nan).dropna(subset=["margin_low", "margin_high"]).head(10)[::-1]
    if sens.empty:
        return None
    fig = go.Figure()
    base = float(sens["margin_base"].iloc[0])
    for end, color in (("low", "#56B4E9"), ("high", "#D55E00")):
        fig.add_trace(go.Bar(y=sens["assumption"], x=sens[f"margin_{end}"] - base, base=base, orientation="h",
                             name=f"at the {end} end", marker_color=color,
                             customdata=sens[[end, "unit"]].to_numpy(),
                             hovertemplate="%{y} = %{customdata[0]} %{customdata[1]}<br>margin %{x:,.0f}"))
    fig.add_vline(x=0, line=dict(color="black"))
    fig.update_layout(barmode="overlay", height=420, title="Sensitivity: cost of best labelling minus the plan"
                      "<br><sup>below 0: labelling is cheaper than the engineer's plan</sup>",
                      xaxis_title="cost difference")
    return fig


def _start(curve: dict | None) -> None:
    """The inputs a session starts from (a shared link, the learning curve, where the page was left), once."""
    if "bp_ready" not in st.session_state:
        # only the planner's own parameters make a shared link: the sidebar puts ?dataset= in every page's URL
        shared = {k: v for k, v in st.query_params.to_dict().items() if k in scenarios.Scenario.query_keys()}
        try:
            start = scenarios.Scenario.from_query(shared)
        except InputError as e:
            st.error(f"The shared link's scenario is invalid ({e}); using the defaults.")
            start = scenarios.Scenario()
        if curve and not shared:
            start = scenarios.scenario_from_curve(curve, start)
        _set_state(start)
        if not shared:  # a reopened app shows the inputs as they were left
            st.session_state.update({k: v for k, v in state.load_budget_inputs().items() if k in _input_keys()})
        st.session_state["bp_ready"] = True
        st.session_state["bp_sharing"] = bool(shared)  # a shared link's URL keeps following the inputs
        if shared:
            st.session_state["bp_use_curve"] = False  # a shared link carries its own numbers
    else:
        # Streamlit drops a widget's state when a run does not draw it (another page was open): put the inputs back
        for k, v in st.session_state.get("bp_kept", {}).items():
            st.session_state.setdefault(k, v)


def _options(s: scenarios.Scenario, table, sens) -> None:
    """The options side by side, the verdict, the break-even and sensitivity charts."""
    st.subheader("Options side by side")
    if note := scenarios.interval_note(s):
        st.warning(note)
    st.caption(f"Labels needed: {scenarios.labels_summary(s)}; everything else: the assumptions above.")
    ceiling = (f"P(ceiling below target) {s.p_ceiling_below_target:.0%}, "
               + ("from the learning curve" if s.labels_source == "measured" else "assumed"))
    cols = st.columns(len(table))
    for col, (opt, r) in zip(cols, table.iterrows()):
        col.markdown(f"**{r['name']}**")
        col.metric("Cost", bd.amount_text(r["cost"]))
        col.metric("Calendar weeks", bd.weeks_text(r["weeks"]))
        col.caption(f"{r['labels']:,.0f} labels; {r['labeller_hours']:,.0f} labeller h, {r['engineer_hours']:,.0f} "
                    f"engineer h; reaches the target with probability {r['p_reach']:.0%} ({ceiling}). {r['note']}"
                    if math.isfinite(r["labels"]) else r["note"])
    (st.error if bd.cheapest(table) is None else st.success)(bd.headline(table))
    st.caption(scenarios.plan_outcomes_text(s, table))

    c1, c2 = st.columns(2)
    fig, be = _break_even_chart(s, table)
    c1.plotly_chart(fig, width="stretch")
    c1.caption(f"Break-even vs random labelling: {bd.break_even_text(be)}")
    sens_fig = _sensitivity_chart(sens)
    if sens_fig is None:
        c2.info("No sensitivity chart: labelling does not reach the target at any value of the assumptions, so there "
                "is no cost difference to plot.")
    else:
        c2.plotly_chart(sens_fig, width="stretch")
    c2.caption(f"Flips the decision within its range: {bd.flips_text(sens)}")


def _measured_or_assumed(s: scenarios.Scenario) -> None:
    st.subheader("Measured or assumed")
    inputs = scenarios.inputs_table(s)
    n_measured = int((inputs["status"] == "measured").sum())
    st.caption(f"{n_measured} of {len(inputs)} inputs are measured; the rest are assumptions. Measure more in the "
               "Labelling lab pages (\"Use this number in the budget\").")
    st.dataframe(inputs.drop(columns="field"), hide_index=True, key="bp_inputs")


def _scenario_files(s: scenarios.Scenario) -> None:
    """Save, load, export and share scenarios."""
    st.subheader("Scenarios")
    c1, c2, c3 = st.columns(3)
    name = c1.text_input("Scenario name", key=_key("s", "name"))
    if c1.button("Save scenario", key="bp_save", icon=":material/save:"):
        try:
            path = scenarios.save_scenario(replace(s, name=name))
            st.toast(f"Saved {path.name}")
        except InputError as e:
            st.error(str(e))
    saved = scenarios.list_scenarios()
    choice = c2.selectbox("Saved scenarios", saved, key="bp_saved", index=None, placeholder="none saved yet"
                          if not saved else "pick one")
    c2.button("Load", key="bp_load", disabled=choice is None, on_click=_load, args=("saved",))
    c2.file_uploader("Load a scenario file (JSON)", type="json", key="bp_upload", on_change=_load, args=("file",),
                     help="A scenario exported with \"Export JSON\" (or saved on another machine).")
    if st.session_state.get("bp_load_error"):
        c2.error(st.session_state.pop("bp_load_error"))
    c3.download_button("Export JSON", json.dumps(s.to_dict(), indent=2), f"{name or 'scenario'}.json",
                       "application/json", key="bp_json")
    c3.download_button("Export one-page report (HTML)", budget_report.html_report(s), f"{name or 'scenario'}.html", "text/html",
                       key="bp_html")
    c3.download_button("Export one-page report (PNG)", lambda: budget_report.png_report(s), f"{name or 'scenario'}.png",
                       "image/png", key="bp_png", on_click="ignore")
    if st.button("Put this scenario in the page URL (to share)", key="bp_share", icon=":material/link:"):
        st.session_state["bp_sharing"] = True
    if st.session_state.get("bp_sharing"):  # from then on the URL follows the inputs, so a copied link is never stale
        query = s.to_query()
        _put_in_url(query)
        st.caption(f"Share this page's address: it follows the inputs above; its scenario query part is "
                   f"`?{urlencode(query)}`.")


def main():
    st.title("Budget planner")
    st.caption("Cost and calendar time to reach the target: label more, label with pre-labelling, active learning, "
               "synthetic data, or the engineer's plan. Costs are in the hourly rates' currency.")

    curve = _curve_result()
    _start(curve)
    try:
        s = _widgets(curve, measurements.load())
        kept = {k: st.session_state[k] for k in _input_keys() if k in st.session_state}
        st.session_state["bp_kept"] = kept
        scenarios.check_horizon(s)
        table = scenarios.scenario_table(s)
        sens = bd.sensitivity(s.labels_needed, s.assumptions, s.plan, s.target)
    except InputError as e:
        st.error(str(e))
        st.stop()
    if st.session_state.get("bp_saved_inputs") != kept:  # once per change; inputs that work only
        state.save_budget_inputs(kept)
        st.session_state["bp_saved_inputs"] = kept

    _options(s, table, sens)
    _measured_or_assumed(s)
    _scenario_files(s)


main()
