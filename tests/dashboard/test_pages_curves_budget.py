"""The Learning curves and Budget planner pages through Streamlit's AppTest (standalone, real library)."""

import json
import logging
import math
import re
from pathlib import Path

import pytest
from conftest import job_ended
from streamlit.testing.v1 import AppTest

from analysis.core.files import data_home
from analysis.planning import budget as bd
from analysis.planning import experiments, scenarios
from dashboard import state

VIEWS = Path(__file__).resolve().parents[2] / "dashboard/views"

# A learning-curve answer as the Learning curves page sends it (the audit's uneven.csv): the target is far
# off, the 80% interval has no upper end, and the ceiling is below the target with probability 37%.
CURVE = {"source": "uneven.csv", "model": "logreg", "target": 0.9, "higher_is_better": True,
         "current_labels": 1000, "current_metric": 0.8, "form": "pow3", "ceiling": 0.91,
         "labels_to_target": {"estimate": 9_339_775, "low": 250_000, "high": None},
         "p_ceiling_below_target": 0.37, "predicted": {}}


@pytest.fixture(autouse=True)
def _planner_as_new():
    """Each test opens the planner as a new user would: no inputs left from another test."""
    (data_home() / "budget/last_inputs.json").unlink(missing_ok=True)


def _page(name: str) -> AppTest:
    return AppTest.from_file(str(VIEWS / name), default_timeout=180)


def _target(at: AppTest):
    """The Learning curves page's target input (its key changes with the points, so found by its label)."""
    return next(w for w in at.number_input if w.label == "Target metric")


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
    at.button(key="lc_run").click().run()  # starts the experiment as a background job
    assert not at.exception and not at.error
    assert job_ended(experiments.experiment_status("digits", ["logreg", "nb"], 4, 2).key).state == "done"
    at.run()  # the page after the job's end: the curves, then the fits
    assert not at.exception and not at.error
    assert experiments.stored_experiment("digits", ["logreg", "nb"], 4, 2) is not None
    assert len(at.get("plotly_chart")) == 1
    verdicts = [m.value for m in at.markdown if m.value.startswith("**logreg:")]
    assert verdicts and ("labels" in verdicts[0] or "ceiling" in verdicts[0])
    _target(at).set_value(0.999).run()  # beyond any ceiling of these curves
    assert not at.exception
    assert any("change the model" in m.value and ("falls short of the target" in m.value or "does not reach the target"
                                                  in m.value) for m in at.markdown)
    _target(at).set_value(0.95).run()
    at.button(key="lc_send").click().run()
    assert not at.exception and at.success
    saved = state.load_latest()
    assert saved["target"] == 0.95 and saved["model"] in ("logreg", "nb") and saved["current_labels"] > 0

    # reopening reads the persisted run: no button needed, and a new session opens on the same choices
    again = _tiny_experiment(_page("learning_curves.py")).run()
    assert not again.exception and len(again.get("plotly_chart")) == 1
    fresh = _page("learning_curves.py").run()
    assert not fresh.exception and fresh.selectbox(key="lc_source").value == "digits"
    assert fresh.multiselect(key="lc_models").value == ["logreg", "nb"] and len(fresh.get("plotly_chart")) == 1

    # the planner picks the answer up as measured
    plan = _page("budget.py").run()
    assert not plan.exception
    assert plan.toggle(key="bp_use_curve").value is True
    assert any("measured: learning-curve fit" in c.value for c in plan.caption)
    assert plan.number_input(key="bp_s_target").value == 0.95


def _points_csv(ceilings: dict, sizes=(100, 200, 400, 800, 1600, 3200)) -> tuple[bytes, float]:
    """Points of ``metric = ceiling - 2 n^-0.5`` per model (``{model: (ceiling, largest size)}``), as CSV bytes,
    and the page's default target for them (the best point + 0.02)."""
    rows = [(m, n, c - 2 * n ** -0.5) for m, (c, top) in ceilings.items() for n in sizes if n <= top]
    text = "model,n_labels,metric\n" + "".join(f"{m},{n},{v:.4f}\n" for m, n, v in rows)
    return text.encode(), round(max(round(v, 4) for *_, v in rows) + 0.02, 3)


def test_learning_curves_new_points_get_their_own_target_and_the_planner_each_models_own_run():
    at = _page("learning_curves.py")
    at.session_state["lc_mode"] = "Import a CSV"
    at.run()
    first, target = _points_csv({"cnn": (0.95, 3200), "logreg": (0.85, 1600)})  # logreg stops at 1,600
    at.get("file_uploader")[0].upload("a.csv", first, "text/csv").run()
    assert not at.exception and _target(at).value == pytest.approx(target)
    shown = at.dataframe[0].value.to_string()
    assert "over 1,000,000,000" in shown or "not reached" in shown
    _target(at).set_value(0.9).run()
    # the planner gets logreg's own largest run, not the largest size in the file
    at.selectbox(key="lc_plan_model").select("logreg").run()
    at.button(key="lc_send").click().run()
    saved = state.load_latest()
    assert saved["current_labels"] == 1600 and saved["current_metric"] == pytest.approx(0.85 - 2 / 40, abs=1e-4)
    # other points: the target follows them instead of keeping the one typed for the first file
    second, target = _points_csv({"cnn": (0.80, 3200), "logreg": (0.75, 3200)})
    at.get("file_uploader")[0].upload("b.csv", second, "text/csv").run()
    assert not at.exception and _target(at).value == pytest.approx(target)
    # a new session (reopened app) shows the last imported points: an uploaded file is gone by then
    again = _page("learning_curves.py").run()
    assert not again.exception and again.radio(key="lc_mode").value == "Import a CSV"
    assert any("last imported file, b.csv" in c.value for c in again.caption)
    assert len(again.get("plotly_chart")) == 1 and _target(again).value == pytest.approx(target)


def test_learning_curves_other_direction_is_a_warning_beside_the_answer():
    at = _tiny_experiment(_page("learning_curves.py"))
    experiments.cached_experiment("digits", ["logreg", "nb"], 4, 2, n_jobs=1)
    at.session_state["lc_lower"] = True  # accuracy is not an error
    at.run()
    assert not at.exception and not at.error
    assert at.warning and "rises steadily as labels grow" in at.warning[0].value
    assert "untick 'Lower is better'" in at.warning[0].value and "--" not in at.warning[0].value
    assert len(at.get("plotly_chart")) == 1 and any("**logreg: " in m.value for m in at.markdown)


def test_budget_planner_interaction_save_load_share():
    state.latest_result_path().unlink(missing_ok=True)
    at = _page("budget.py")
    at.query_params["dataset"] = "demo-digits"  # the sidebar's parameter: not a shared scenario
    at.run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert labels.count("Cost") == len(bd.OPTIONS) == labels.count("Calendar weeks")
    assert at.number_input(key="bp_a_labeller_rate").value == bd.Assumptions().labeller_rate
    before = [m.value for m in at.metric]
    at.number_input(key="bp_s_labels_needed").set_value(2_000_000.0).run()
    assert not at.exception and [m.value for m in at.metric] != before
    expected = bd.compare(2_000_000.0, target=scenarios.Scenario().target)
    assert at.metric[0].value == f"{expected.loc['random', 'cost']:,.0f}"
    assert any("Cheapest" in s.value for s in at.success)

    at.checkbox(key="bp_unreachable").check().run()
    assert not at.exception and at.metric[0].value == "not reachable"
    at.checkbox(key="bp_unreachable").uncheck().run()

    at.text_input(key="bp_s_name").input("big push").run()
    at.button(key="bp_save").click().run()
    assert "big-push" in scenarios.list_scenarios()
    assert scenarios.load_scenario("big-push").labels_needed == 2_000_000.0

    at.number_input(key="bp_s_labels_needed").set_value(10.0).run()
    at.selectbox(key="bp_saved").select("big-push").run()
    at.button(key="bp_load").click().run()
    assert not at.exception
    assert at.number_input(key="bp_s_labels_needed").value == 2_000_000.0

    at.button(key="bp_share").click().run()
    assert at.query_params["labels_needed"] == "2000000.0"
    assert at.query_params["dataset"] == "demo-digits"  # the other pages' parameters stay
    # once shared, the URL and its caption follow the inputs
    at.number_input(key="bp_a_labeller_rate").set_value(25.0).run()
    assert at.query_params["assumptions.labeller_rate"] == "25.0"
    share = [c.value for c in at.caption if "query part" in c.value]
    assert share and "labeller_rate=25.0" in share[0] and "labeller_rate=15.0" not in share[0]


def test_budget_planner_in_the_app_uses_the_curve_answer():
    # the sidebar writes ?dataset=... into the URL on every page; that is no shared scenario
    state.save_latest(CURVE)
    at = AppTest.from_file(str(VIEWS.parent / "app.py"), default_timeout=180)
    at.switch_page("views/budget.py").run()
    assert not at.exception and "dataset" in at.query_params
    assert at.toggle(key="bp_use_curve").value is True
    assert at.number_input(key="bp_s_target").value == 0.9
    assert not [e for e in at.error if "shared link" in e.value]


def test_budget_planner_shows_the_curve_answer_as_it_is():
    state.save_latest(CURVE)
    at = _page("budget.py").run()
    assert not at.exception and at.toggle(key="bp_use_curve").value is True
    # an 80% high beyond the curves' horizon reads as such, never 0
    high = at.number_input(key="bp_s_labels_high")
    assert high.value is None and high.proto.placeholder == "over 1,000,000,000"
    assert any("9,338,775 more labels (80% interval 249,000 to over 1,000,000,000)" in c.value for c in at.caption)
    # labelling reaches the target only if the ceiling is not below it: 1 - 0.37
    assert at.number_input(key="bp_s_p_ceiling_below_target").value == 0.37
    random = next(c.value for c in at.caption if c.value.startswith("9,338,775 labels"))
    assert "probability 63%" in random and "from the learning curve" in random
    assert not any("probability 100%" in c.value for c in at.caption)


def test_budget_planner_reads_an_unreachable_target_in_words():
    # the curve's ceiling is below the target: no labels needed; the plan (0.85) misses the 0.9 target too
    state.save_latest({**CURVE, "labels_to_target": None})
    at = _page("budget.py").run()
    assert not at.exception and at.checkbox(key="bp_unreachable").value is True
    texts = [e.value for kind in ("caption", "info", "error", "success") for e in at.get(kind)]
    assert not [t for t in texts if re.search(r"\b(inf|nan)\b", t)], texts
    assert not [t for t in texts if re.search(r"\d{1,3}(,\d{3}){4,}", t)], texts  # nothing like 10^12 or more
    # the plan's 0.85 misses the 0.9 target: no "if it works" outcome that reaches nothing
    assert ("Engineer's plan: its expected metric 0.85 is below the target 0.9, so it does not get there even if it "
            "works; it counts as failing: not reachable (falling back to random labelling).") in texts
    assert any(t.startswith("Break-even vs random labelling: none up to 1,000,000,000 labels") for t in texts)
    # no empty sensitivity chart: only the break-even one, and the flips say what they flip to
    assert len(at.get("plotly_chart")) == 1 and any("No sensitivity chart" in i.value for i in at.info)
    assert ("Flips the decision within its range: Expected metric after it (0: no option reaches the target; "
            "1: Engineer's plan)") in texts
    inputs = at.dataframe[0].value.set_index("input")  # the page's one table
    assert inputs.loc["More labels needed", "value"] == "not reachable"


def test_budget_planner_sets_the_curve_toggle_one_way(monkeypatch):
    # loading a scenario turns the curve answer off through the session state: a default value on the toggle as
    # well made Streamlit warn (once per process, so the flag is reset)
    from streamlit.elements.lib import policies

    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger(policies.__name__).addHandler(handler)
    try:
        state.save_latest(CURVE)
        at = _page("budget.py").run()
        assert at.toggle(key="bp_use_curve").value is True
        exported = scenarios.Scenario(name="typed", labels_needed=4321.0)
        at.file_uploader(key="bp_upload").set_value(("p.json", json.dumps(exported.to_dict()).encode(),
                                                     "application/json")).run()
    finally:
        logging.getLogger(policies.__name__).removeHandler(handler)
    assert not at.exception and at.toggle(key="bp_use_curve").value is False
    assert at.number_input(key="bp_s_labels_needed").value == 4321.0
    assert not messages, messages  # no widget gets a default value beside its state (the 80% high neither)


def test_budget_charts_titles_fit():
    state.latest_result_path().unlink(missing_ok=True)
    at = _page("budget.py").run()
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert len(titles) == 2
    # half of a 1400 px page holds about 60 characters of title per line
    lines = [re.sub("<[^>]+>", "", line) for t in titles for line in t.split("<br>")]
    assert max(map(len, lines)) <= 60, lines


def test_budget_planner_loads_an_exported_file():
    state.latest_result_path().unlink(missing_ok=True)
    at = _page("budget.py").run()
    exported = scenarios.Scenario(name="from a file", labels_needed=123_456.0, labels_high=math.inf,
                           assumptions=bd.Assumptions(labeller_rate=33.0))
    upload = at.file_uploader(key="bp_upload")
    upload.set_value(("plan.json", json.dumps(exported.to_dict()).encode(), "application/json")).run()
    assert not at.exception and not at.error
    assert at.number_input(key="bp_s_labels_needed").value == 123_456.0
    assert at.number_input(key="bp_a_labeller_rate").value == 33.0
    assert at.text_input(key="bp_s_name").value == "from a file"
    for content, message in ((b"{not json", "is not valid JSON"), (b"", "the file is empty"),
                             (b'{"colour": "red"}', "not a scenario"),
                             (b'[1, 2]', "must be a JSON object"), (b'{"target": "high"}', "target must be a number"),
                             (b'{"assumptions": {"labeller_rate": "a lot"}}', "Labeller hourly rate must be")):
        at.file_uploader(key="bp_upload").set_value(("bad.json", content, "application/json")).run()
        assert not at.exception, content
        assert len(at.error) == 1 and message in at.error[0].value and "\n" not in at.error[0].value, content
        assert at.number_input(key="bp_s_labels_needed").value == 123_456.0  # the last good scenario stays


def test_budget_planner_starts_from_a_shared_url():
    state.latest_result_path().unlink(missing_ok=True)
    at = _page("budget.py")
    at.query_params["labels_needed"] = "inf"
    at.query_params["assumptions.labeller_rate"] = "30"
    at.run()
    assert not at.exception
    assert at.number_input(key="bp_a_labeller_rate").value == 30.0
    assert at.checkbox(key="bp_unreachable").value is True
    assert at.metric[0].value == "not reachable"
    engineer_cost = at.metric[2 * list(bd.OPTIONS).index("engineer")]  # two metrics per option
    assert math.isfinite(float(engineer_cost.value.replace(",", "")))  # the plan is the only route

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
    state.latest_result_path().unlink(missing_ok=True)
    at.switch_page("views/budget.py").run()
    assert not at.exception and at.title[0].value == "Budget planner"
    at.switch_page("views/learning_curves.py").run()
    assert not at.exception and at.title[0].value == "Learning curves"


def test_planner_and_curves_keep_their_inputs_when_the_user_comes_back():
    # Streamlit drops a widget's state when a run does not draw it (another page was open): the planner crashed
    # on the way back (KeyError 'bp_s_name') and the curves page forgot its direction, target and metric name
    state.latest_result_path().unlink(missing_ok=True)
    at = AppTest.from_file(str(VIEWS.parent / "app.py"), default_timeout=180)
    at.switch_page("views/budget.py").run()
    at.number_input(key="bp_a_labeller_rate").set_value(33.0).run()
    at.switch_page("views/load_data.py").run()
    at.switch_page("views/budget.py").run()
    assert not at.exception and at.number_input(key="bp_a_labeller_rate").value == 33.0
    assert at.text_input(key="bp_s_name").value == scenarios.Scenario().name
    # a reopened app (a new session) too
    again = _page("budget.py").run()
    assert not again.exception and again.number_input(key="bp_a_labeller_rate").value == 33.0

    error_points = ("model,n_labels,metric\n" + "".join(f"cnn,{n},{0.03 + 2 * n ** -0.5:.4f}\n"
                                                        for n in (100, 200, 400, 800, 1600, 3200))).encode()
    at.switch_page("views/learning_curves.py").run()
    at.radio(key="lc_mode").set_value("Import a CSV").run()
    at.get("file_uploader")[0].upload("e.csv", error_points, "text/csv").run()
    at.checkbox(key="lc_lower").check().run()
    _target(at).set_value(0.04).run()
    next(w for w in at.text_input if w.label == "Metric name").set_value("top-1 error").run()
    at.switch_page("views/budget.py").run()
    at.switch_page("views/learning_curves.py").run()
    assert not at.exception and not at.error
    assert at.checkbox(key="lc_lower").value is True and _target(at).value == pytest.approx(0.04)
    assert next(w for w in at.text_input if w.label == "Metric name").value == "top-1 error"
    # and a reopened app (a new session) reads the last points the same way
    again = _page("learning_curves.py").run()
    assert not again.exception and not again.error and again.checkbox(key="lc_lower").value is True
    assert _target(again).value == pytest.approx(0.04)


def test_budget_planner_80_high_can_be_emptied_and_a_bad_interval_is_flagged():
    state.latest_result_path().unlink(missing_ok=True)
    at = _page("budget.py").run()
    at.number_input(key="bp_s_labels_needed").set_value(500_000.0).run()
    assert any("does not hold the labels needed (500,000)" in w.value for w in at.warning)
    at.number_input(key="bp_s_labels_high").set_value(None).run()  # emptied: over the horizon, not 0
    assert not at.exception and not at.warning
    assert any("500,000 more labels (80% interval 5,000 to over 1,000,000,000)" in c.value for c in at.caption)
    at.number_input(key="bp_s_labels_needed").set_value(1e16).run()
    assert "beyond 1,000,000,000, the learning curves' horizon" in at.error[0].value


def test_budget_planner_without_a_curve_says_so_beside_the_labels_needed_and_links_to_the_curves():
    state.latest_result_path().unlink(missing_ok=True)
    at = AppTest.from_file(str(VIEWS.parent / "app.py"), default_timeout=180)
    at.switch_page("views/budget.py").run()
    assert not at.exception
    assert any(c.value.startswith("No learning curve fitted yet: these numbers are typed in") for c in at.caption)
    links = [e.proto for e in at.get("page_link")]
    assert [(p.label, p.page) for p in links] == [("Fit one on the Learning curves page", "learning_curves")]
    standalone = _page("budget.py").run()  # no other page registered: the link reads as text
    assert not standalone.exception and any("Learning curves page (open the app" in c.value for c in standalone.caption)
    state.save_latest(CURVE)
    at = _page("budget.py").run()
    assert not any(c.value.startswith("No learning curve fitted yet") for c in at.caption)
