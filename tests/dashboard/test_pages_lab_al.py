"""Labelling-lab pages (active learning, pseudo-labelling) and their hand-over to the budget planner, via AppTest."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.planning import budget as bd
from analysis.planning import measurements, scenarios

VIEWS = Path(__file__).resolve().parents[2] / "dashboard/views"


@pytest.fixture(autouse=True)
def _own_data_home(tmp_path, monkeypatch):
    """A data folder per test: no saved run, measurement or curve answer from other tests."""
    monkeypatch.setenv("LABELDASH_HOME", str(tmp_path))


def _page(name: str) -> AppTest:
    return AppTest.from_file(str(VIEWS / name), default_timeout=180)


def _tiny_al(at: AppTest, init: int = 20) -> AppTest:
    """A quick simulation: digits, random vs margin, 2 seeds, 80 labels."""
    at.session_state["al_source"] = "digits"
    at.session_state["al_strategies"] = ["random", "margin"]
    at.session_state["al_seeds"] = 2
    at.session_state["al_init"] = init
    at.session_state["al_budget"] = 80
    return at


def test_active_learning_runs_and_feeds_the_planner():
    at = _tiny_al(_page("active_learning.py")).run()
    assert not at.exception and at.title[0].value == "Active learning"
    assert any("Simulated." in c.value for c in at.caption)
    at.button(key="al_run").click().run()  # runs with a progress bar
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 1 and len(at.dataframe) == 1
    assert any(m.value.startswith("**Best:") for m in at.markdown)
    default = at.number_input(key="al_target").value  # random's accuracy at the budget
    lower = round(default - 0.05, 4)
    at.number_input(key="al_target").set_value(lower).run()
    assert not at.exception and any(f"reaches {lower:.4f}" in m.value for m in at.markdown)
    at.button(key="al_use").click().run()
    assert not at.exception and "now uses" in at.success[0].value
    stored = measurements.load()["al_savings"]
    assert 0 <= stored["value"] <= 1 and "active-learning simulation on digits" in stored["source"]
    assert stored["detail"]["simulated"] is True

    plan = _page("budget.py").run()
    assert not plan.exception
    field = plan.number_input(key="bp_a_al_savings")
    assert field.value == pytest.approx(stored["value"]) and field.disabled
    assert any(c.value.endswith(scenarios.measured_note(stored)) for c in plan.caption)
    inputs = next(d.value for d in plan.dataframe if "status" in d.value.columns).set_index("input")
    assert inputs.loc["Active-learning label savings", "status"] == "measured"
    assert inputs.loc["Labeller hourly rate", "status"] == "assumed"

    plan.button(key="bp_forget_al_savings").click().run()  # back to the assumption
    assert not plan.exception
    assert "al_savings" not in measurements.load()
    assert plan.number_input(key="bp_a_al_savings").value == bd.Assumptions().al_savings
    assert not plan.number_input(key="bp_a_al_savings").disabled


def test_active_learning_bad_settings_show_a_message():
    at = _tiny_al(_page("active_learning.py"), init=5).run()  # fewer seed items than classes
    at.button(key="al_run").click().run()
    assert not at.exception and "seed set" in at.error[0].value
    at.session_state["al_strategies"] = ["margin"]
    at.run()
    assert not at.exception and "Include **random**" in at.info[0].value


def test_pseudo_labelling_runs_and_shows_gain_and_noise():
    at = _page("pseudo_labelling.py")
    at.session_state["pl_source"] = "digits"
    at.session_state["pl_thresholds"] = [0.8, 0.95]
    at.session_state["pl_labelled"] = 30
    at.session_state["pl_seeds"] = 2
    at.run()
    assert not at.exception and at.title[0].value == "Pseudo-labelling"
    at.button(key="pl_run").click().run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 1
    table = at.dataframe[0].value
    assert list(table["threshold"]) == [0.8, 0.95] and table["noise"].between(0, 1).all()
    assert any("Best threshold" in m.value for m in at.markdown) or at.warning
    at.run()  # reopening reads the saved run: no button needed
    assert not at.exception and len(at.get("plotly_chart")) == 1


def test_lab_pages_run_inside_the_app():
    app = VIEWS.parent / "app.py"
    at = AppTest.from_file(str(app), default_timeout=180)
    at.switch_page("views/active_learning.py").run()
    assert not at.exception and at.title[0].value == "Active learning"
    at.switch_page("views/pseudo_labelling.py").run()
    assert not at.exception and at.title[0].value == "Pseudo-labelling"
