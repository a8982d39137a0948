"""The Learning curves and Budget planner pages through Streamlit's AppTest (standalone, real library)."""

import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis import budget as bd
from analysis import learning_curves as lc

VIEWS = Path(__file__).resolve().parents[1] / "dashboard/views"


def _page(name: str) -> AppTest:
    return AppTest.from_file(str(VIEWS / name), default_timeout=180)


def _tiny_experiment(at: AppTest) -> AppTest:
    """Choose a quick experiment: digits, logistic regression + naive Bayes, 4 sizes, 2 seeds."""
    at.session_state["lc_source"] = "digits"
    at.session_state["lc_models"] = ["logreg", "nb"]
    at.session_state["lc_sizes"] = 4
    at.session_state["lc_seeds"] = 2
    return at


def test_learning_curves_runs_fits_and_sends_to_planner():
    at = _tiny_experiment(_page("learning_curves.py")).run()
    assert not at.exception
    assert at.title[0].value == "Learning curves"
    at.button(key="lc_run").click().run()  # runs the experiment (progress bar), then fits
    assert not at.exception and not at.error
    assert lc.stored_experiment("digits", ["logreg", "nb"], 4, 2) is not None
    assert len(at.get("plotly_chart")) == 1
    verdicts = [m.value for m in at.markdown if m.value.startswith("**logreg:")]
    assert verdicts and ("labels" in verdicts[0] or "ceiling" in verdicts[0])
    at.number_input(key="lc_target").set_value(0.999).run()  # beyond any ceiling of these curves
    assert not at.exception
    assert any("below the target" in m.value for m in at.markdown)
    at.number_input(key="lc_target").set_value(0.95).run()
    at.button(key="lc_send").click().run()
    assert not at.exception and at.success
    saved = lc.load_latest()
    assert saved["target"] == 0.95 and saved["model"] in ("logreg", "nb") and saved["current_labels"] > 0

    # reopening reads the persisted run: no button needed
    again = _tiny_experiment(_page("learning_curves.py")).run()
    assert not again.exception and len(again.get("plotly_chart")) == 1

    # the planner picks the answer up as measured
    plan = _page("budget.py").run()
    assert not plan.exception
    assert plan.toggle(key="bp_use_curve").value is True
    assert any("measured: learning-curve fit" in c.value for c in plan.caption)
    assert plan.number_input(key="bp_s_target").value == 0.95


def test_learning_curves_bad_direction_shows_message():
    at = _tiny_experiment(_page("learning_curves.py"))
    lc.cached_experiment("digits", ["logreg", "nb"], 4, 2, n_jobs=1)
    at.session_state["lc_lower"] = True  # accuracy is not an error
    at.run()
    assert not at.exception
    assert at.error and "rises as labels grow" in at.error[0].value


def test_budget_planner_interaction_save_load_share():
    lc.latest_result_path().unlink(missing_ok=True)
    at = _page("budget.py").run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert labels.count("Cost") == 4 and labels.count("Calendar weeks") == 4
    assert at.number_input(key="bp_a_labeller_rate").value == bd.Assumptions().labeller_rate
    before = [m.value for m in at.metric]
    at.number_input(key="bp_s_labels_needed").set_value(2_000_000.0).run()
    assert not at.exception and [m.value for m in at.metric] != before
    expected = bd.compare(2_000_000.0, target=bd.Scenario().target)
    assert at.metric[0].value == f"{expected.loc['random', 'cost']:,.0f}"
    assert any("Cheapest" in s.value for s in at.success)

    at.checkbox(key="bp_unreachable").check().run()
    assert not at.exception and at.metric[0].value == "not reachable"
    at.checkbox(key="bp_unreachable").uncheck().run()

    at.text_input(key="bp_s_name").input("big push").run()
    at.button(key="bp_save").click().run()
    assert "big-push" in bd.list_scenarios()
    assert bd.load_scenario("big-push").labels_needed == 2_000_000.0

    at.number_input(key="bp_s_labels_needed").set_value(10.0).run()
    at.selectbox(key="bp_saved").select("big-push").run()
    at.button(key="bp_load").click().run()
    assert not at.exception
    assert at.number_input(key="bp_s_labels_needed").value == 2_000_000.0

    at.button(key="bp_share").click().run()
    assert at.query_params["labels_needed"] == "2000000.0"


def test_budget_planner_starts_from_a_shared_url():
    lc.latest_result_path().unlink(missing_ok=True)
    at = _page("budget.py")
    at.query_params["labels_needed"] = "inf"
    at.query_params["assumptions.labeller_rate"] = "30"
    at.run()
    assert not at.exception
    assert at.number_input(key="bp_a_labeller_rate").value == 30.0
    assert at.checkbox(key="bp_unreachable").value is True
    assert at.metric[0].value == "not reachable"
    assert math.isfinite(float(at.metric[6].value.replace(",", "")))  # the plan is the only route

    bad = _page("budget.py")
    bad.query_params["target"] = "high"
    bad.run()
    assert not bad.exception and "shared link's scenario is invalid" in bad.error[0].value


def test_pages_run_inside_the_app():
    app = VIEWS.parent / "app.py"
    registered = app.read_text()
    if '"views/budget.py"' not in registered or '"views/learning_curves.py"' not in registered:
        # unregistered, switch_page would fall back to the default page (which builds the demo)
        pytest.skip("dashboard/app.py does not register the two pages yet")
    at = AppTest.from_file(str(app), default_timeout=180)
    lc.latest_result_path().unlink(missing_ok=True)
    at.switch_page("views/budget.py").run()
    assert not at.exception and at.title[0].value == "Budget planner"
    at.switch_page("views/learning_curves.py").run()
    assert not at.exception and at.title[0].value == "Learning curves"
