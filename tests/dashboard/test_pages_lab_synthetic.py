"""The Synthetic data lab page and its hand-over to the budget planner, via AppTest."""

from pathlib import Path

import pytest
from conftest import job_ended
from streamlit.testing.v1 import AppTest

from analysis.core import jobs
from analysis.planning import measurements

VIEWS = Path(__file__).resolve().parents[2] / "dashboard/views"


@pytest.fixture(autouse=True)
def _own_data_home(tmp_path, monkeypatch):
    """A data folder per test: no saved run, page state or measurement from other tests."""
    monkeypatch.setenv("LABELDASH_HOME", str(tmp_path))


def _page() -> AppTest:
    return AppTest.from_file(str(VIEWS / "synthetic_data.py"), default_timeout=240)


def _tiny(at: AppTest) -> AppTest:
    """A quick run: logistic regression, 2 seeds, real 20 and 100, +250 synthetic, 250 synthetic alone."""
    at.session_state["sy_learner"] = "logreg"
    at.session_state["sy_seeds"] = 2
    at.session_state["sy_real"] = [20, 100]
    at.session_state["sy_mixed"] = [250]
    at.session_state["sy_synthetic"] = [250]
    return at


def test_synthetic_data_page_runs_prices_reopens_and_feeds_the_planner():
    at = _tiny(_page()).run()
    assert not at.exception and at.title[0].value == "Synthetic data"
    assert any("Simulated." in c.value for c in at.caption)
    assert len(at.get("image")) == 2  # rendered digits over real ones
    assert any("digits per second on one core" in c.value for c in at.caption)
    at.button(key="sy_run").click().run()
    assert not at.exception and not at.error
    # the run is a background job: the page shows its progress (or, if it was that quick, its result)
    assert at.get("progress") or len(at.get("plotly_chart")) == 2
    (key,) = [k for k in jobs.keys() if k.startswith("synthetic-data-")]
    assert job_ended(key).state == "done"
    at.run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 2  # the sim-to-real gap; real only vs real + synthetic
    assert any("+250 synthetic" in m.value for m in at.markdown)  # where mixing helps or hurts
    at.selectbox(key="sy_at_real").set_value(100).run()
    at.selectbox(key="sy_at_synthetic").set_value(250).run()
    worth = [m.value for m in at.markdown if "250 synthetic digits" in m.value and "at 100 real labels" in m.value]
    assert worth and any(w in worth[0] for w in ("are worth about", "cost about"))
    at.button(key="sy_use").click().run()
    assert not at.exception and "now uses" in at.success[0].value
    stored = measurements.load()["synthetic_savings"]
    assert 0 <= stored["value"] <= 1 and "synthetic-data simulation on MNIST-5k" in stored["source"]
    assert stored["detail"]["simulated"] is True and stored["detail"]["real"] == 100

    plan = AppTest.from_file(str(VIEWS / "budget.py"), default_timeout=240).run()
    assert not plan.exception
    field = plan.number_input(key="bp_a_synthetic_savings")
    assert field.value == pytest.approx(stored["value"]) and field.disabled
    inputs = next(d.value for d in plan.dataframe if "status" in d.value.columns).set_index("input")
    assert inputs.loc["Synthetic-data label savings", "status"] == "measured"
    assert inputs.loc["Synthetic-data set-up (renderer)", "status"] == "assumed"  # the renderer's hours
    assert "Synthetic data + labelling" in [m.value.strip("*") for m in plan.markdown]

    again = _page().run()  # a new session: the inputs as they were left, and their saved run without a click
    assert not again.exception and again.session_state["sy_real"] == [20, 100]
    assert len(again.get("plotly_chart")) == 2
    assert len(again.selectbox(key="sy_saved").options) == 1  # the saved run, to reopen


def test_synthetic_data_page_bad_settings_get_a_message():
    at = _tiny(_page())
    at.session_state["sy_fonts"] = []
    at.run()
    assert not at.exception and "pick at least one font" in at.error[0].value
    at.session_state["sy_fonts"] = ["DejaVuSans"]
    at.session_state["sy_mixed"] = []
    at.session_state["sy_synthetic"] = []
    at.run()
    assert not at.exception and "nothing synthetic to measure" in at.error[0].value


def test_synthetic_data_page_runs_inside_the_app_and_keeps_its_inputs():
    at = AppTest.from_file(str(VIEWS.parent / "app.py"), default_timeout=240)
    at.switch_page("views/synthetic_data.py").run()
    assert not at.exception and at.title[0].value == "Synthetic data"
    at.multiselect(key="sy_fonts").set_value(["DejaVuSerif"]).run()
    at.slider(key="sy_rotation").set_value((-30.0, 30.0)).run()
    at.switch_page("views/pseudo_labelling.py").run()  # its run drops the synthetic page's widget state
    at.switch_page("views/synthetic_data.py").run()
    assert not at.exception and not at.error
    assert at.multiselect(key="sy_fonts").value == ["DejaVuSerif"]
    assert at.slider(key="sy_rotation").value == (-30.0, 30.0)

