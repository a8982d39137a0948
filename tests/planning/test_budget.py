"""Budget planner cost model against hand-computed cases, scenarios and the report."""

import io
import json
import math
import re
from dataclasses import replace

import numpy as np
import pytest

from analysis.planning import budget as bd

# Hand-computable numbers: a label takes 36 s, QA adds 25%, so 1,000 labels = 12.5 labeller hours.
from analysis.planning import budget_report, scenarios

A = bd.Assumptions(labeller_rate=20.0, engineer_ratio=10.0, task="box", sec_box=36.0, labels_per_item=1.0,
                   qa_overhead=0.25, prelabel_speedup=4.0, prelabel_acceptance=0.5, prelabel_setup_hours=10.0,
                   al_savings=0.2, al_setup_hours=40.0, labellers=1.0, engineers=1.0, hours_per_week=25.0)
PLAN = bd.EngineerPlan(weeks=1.0, p_success=0.5, metric_after=0.9, labels_after=0.0)


def test_costs_match_hand_computation():
    t = bd.compare(1000, A, PLAN, target=0.85)
    # random: 12.5 h x 20 = 250; 12.5 h / (1 labeller x 25 h/week) = 0.5 weeks
    assert t.loc["random", "labeller_hours"] == pytest.approx(12.5)
    assert t.loc["random", "cost"] == pytest.approx(250.0)
    assert t.loc["random", "weeks"] == pytest.approx(0.5)
    # pre-labelling: speed factor 1 / (0.5/4 + 0.5) = 1.6 -> 7.8125 h x 20 + 10 engineer h x 200 = 2156.25
    assert bd.prelabel_speed_factor(A) == pytest.approx(1.6)
    assert t.loc["prelabel", "cost"] == pytest.approx(7.8125 * 20 + 2000)
    assert t.loc["prelabel", "weeks"] == pytest.approx(7.8125 / 25 + 10 / 25)
    # active learning: 800 labels = 10 h x 20 + 40 h x 200 = 8200
    assert t.loc["active", "labels"] == pytest.approx(800)
    assert t.loc["active", "cost"] == pytest.approx(8200.0)
    # engineer: 25 h x 200 = 5000 if it works; + 250 fallback if not; expectation at p = 0.5
    assert t.loc["engineer", "cost_if_works"] == pytest.approx(5000.0)
    assert t.loc["engineer", "cost_if_fails"] == pytest.approx(5250.0)
    assert t.loc["engineer", "cost"] == pytest.approx(5125.0)
    assert t.loc["engineer", "weeks"] == pytest.approx(0.5 * 1.0 + 0.5 * 1.5)
    assert bd.cheapest(t) == "random" and bd.cheapest(t, "weeks") == "random"


def test_break_even_is_where_costs_cross():
    # random costs 0.25 N; the plan 5000 + 0.5 x 0.25 N -> N = 40,000
    n = bd.break_even_labels(A, PLAN, target=0.85)
    assert n == pytest.approx(40_000)
    t = bd.compare(n, A, PLAN, target=0.85)
    assert t.loc["random", "cost"] == pytest.approx(t.loc["engineer", "cost"])
    beyond = bd.compare(50_000, A, PLAN, target=0.85)
    assert beyond.loc["engineer", "cost"] < beyond.loc["random", "cost"]
    # a plan that never works never breaks even
    assert math.isinf(bd.break_even_labels(A, bd.EngineerPlan(p_success=0.0), target=0.85))


def test_unreachable_target_leaves_only_the_plan():
    t = bd.compare(math.inf, A, PLAN, target=0.85)
    assert math.isinf(t.loc["random", "cost"]) and t.loc["random", "p_reach"] == 0
    assert t.loc["engineer", "cost"] == pytest.approx(5000.0) and t.loc["engineer", "p_reach"] == 0.5
    assert bd.cheapest(t) == "engineer"


def test_ceiling_below_target_lowers_the_chance_of_labelling():
    # the curve's ceiling is below the target with probability 0.37: labelling gets there with 0.63;
    # the plan works with 0.5, else its fallback labels and gets there with 0.63: 0.5 + 0.5 x 0.63
    t = bd.compare(1000, A, PLAN, target=0.85, p_ceiling_below=0.37)
    assert t.loc[["random", "prelabel", "active"], "p_reach"].tolist() == pytest.approx([0.63] * 3)
    assert t.loc["engineer", "p_reach"] == pytest.approx(0.815)
    assert t.loc["random", "cost"] == bd.compare(1000, A, PLAN, target=0.85).loc["random", "cost"]
    with pytest.raises(bd.BudgetError, match="P\\(ceiling below target\\) must be a probability"):
        bd.compare(1000, A, PLAN, p_ceiling_below=1.5)


def test_scenario_from_a_curve_counts_the_labels_beyond_the_current_ones():
    curve = {"target": 0.9, "current_labels": 1000, "current_metric": 0.8, "p_ceiling_below_target": 0.2,
             "labels_to_target": {"estimate": 5000, "low": 800, "high": None}}
    s = scenarios.scenario_from_curve(curve, scenarios.Scenario())
    assert (s.labels_needed, s.labels_low, s.labels_high) == (4000, 0, math.inf)  # 800 < 1000 now: none more
    assert (s.target, s.current_labels, s.current_metric, s.p_ceiling_below_target) == (0.9, 1000, 0.8, 0.2)
    assert s.labels_source == "measured"
    never = scenarios.scenario_from_curve({**curve, "labels_to_target": None}, scenarios.Scenario())
    assert never.labels_needed == never.labels_low == never.labels_high == math.inf


def test_plan_below_target_is_pure_delay():
    t = bd.compare(1000, A, bd.EngineerPlan(weeks=1.0, p_success=0.9, metric_after=0.8), target=0.85)
    assert t.loc["engineer", "cost"] == pytest.approx(5250.0)
    assert "below the target" in t.loc["engineer", "note"]


def test_sensitivity_finds_the_flipping_assumption():
    # at 36,000 labels pre-labelling (9,000 / 1.6 + 2,000 = 7,625) beats the plan (5,000 + 0.5 x 9,000);
    # at p_success 0.9 the plan costs 5,000 + 0.1 x 9,000 = 5,900 and wins
    sens = bd.sensitivity(36_000, A, PLAN, target=0.85).set_index("field")
    assert sens.loc["p_success", "flips"]
    assert sens.loc["p_success", "cheapest_high"] == "engineer"
    assert not sens.loc["al_setup_hours", "flips"]
    assert "sec_polygon" not in sens.index  # only the chosen task's time varies
    assert (sens["swing"].diff().dropna() <= 0).all()  # widest swing first


@pytest.mark.parametrize("kwargs, message", [
    ({"labeller_rate": -1.0}, "Labeller hourly rate must be a finite number >= 0"),
    ({"al_savings": 1.5}, "Active-learning label savings is a fraction"),
    ({"task": "cuboid"}, "task must be one of"),
    ({"prelabel_speedup": 0.5}, "speed-up must be at least 1"),
])
def test_invalid_assumptions(kwargs, message):
    with pytest.raises(bd.BudgetError, match=message):
        bd.compare(1000, bd.Assumptions(**kwargs))


def test_scenario_roundtrips_json_query_and_disk():
    s = scenarios.Scenario(name="q3 plan", labels_needed=math.inf, labels_low=9000.0, labels_high=math.inf,
                    labels_source="measured", assumptions=A, plan=PLAN)
    assert scenarios.Scenario.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    q = s.to_query()
    assert q["labels_needed"] == "inf" and q["assumptions.sec_box"] == "36.0"
    assert "target" not in q  # defaults stay out of the URL
    assert scenarios.Scenario.from_query(q) == s
    path = scenarios.save_scenario(s)
    assert path.name == "q3-plan.json" and "q3-plan" in scenarios.list_scenarios()
    assert scenarios.load_scenario("q3-plan") == s
    with pytest.raises(bd.BudgetError, match="not a number"):
        scenarios.Scenario.from_query({"target": "high"})
    with pytest.raises(bd.BudgetError, match="no saved scenario"):
        scenarios.load_scenario("nope")
    with pytest.raises(bd.BudgetError, match="not a scenario"):
        scenarios.Scenario.from_dict({"colour": "red"})


@pytest.mark.parametrize("text, message", [
    ("{not json", "plan.json is not valid JSON"),
    ("", "plan.json: the file is empty"),
    (" \n", "plan.json: the file is empty"),
    ("[1, 2]", "must be a JSON object"),
    ('{"target": "high"}', "target must be a number"),
    ('{"target": NaN}', "target must be a number"),
    ('{"labels_needed": true}', "labels_needed must be a number"),
    ('{"labels_low": -5}', "labels_low must be >= 0"),
    ('{"p_ceiling_below_target": 2}', "p_ceiling_below_target must be a probability"),
    ('{"name": 3}', "name must be text"),
    ('{"labels_source": "guessed"}', "labels_source must be"),
    ('{"assumptions": [1]}', "assumptions must be a JSON object"),
    ('{"plan": {"weeks": "two"}}', "Plan length must be a finite number"),
])
def test_scenario_files_are_checked(text, message):
    with pytest.raises(bd.BudgetError, match=message):
        scenarios.parse_scenario(text, "plan.json")


def test_scenario_file_roundtrip():
    s = scenarios.Scenario(name="file", labels_needed=700.0, labels_high=math.inf, p_ceiling_below_target=0.2,
                    assumptions=A, plan=PLAN)
    assert scenarios.parse_scenario(json.dumps(s.to_dict()).encode(), "file.json") == s


def test_html_report_is_self_contained():
    page = budget_report.html_report(scenarios.Scenario(assumptions=A, plan=PLAN, labels_needed=1000.0))
    assert page.startswith("<!doctype html>") and "<svg" in page and "<script" not in page
    assert "Cheapest: Label more (random)" in page and "Papadopoulos" in page


def test_report_says_where_the_labels_needed_come_from():
    typed = scenarios.Scenario(assumptions=A, plan=PLAN, labels_needed=40_000.0, labels_low=30_000.0,
                        labels_high=50_000.0)
    page = budget_report.html_report(typed)
    assert "Labels needed: 40,000 more labels (80% interval 30,000 to 50,000); assumed: typed in." in page
    assert "Learning curve:" not in page  # a typed-in number is not the curve's
    fitted = replace(typed, labels_high=math.inf, labels_source="measured")
    assert ("40,000 more labels (80% interval 30,000 to over 1,000,000,000); measured: learning-curve fit"
            in budget_report.html_report(fitted))


def test_png_report_is_one_a4_page():
    from PIL import Image

    png = budget_report.png_report(scenarios.Scenario(assumptions=A, plan=PLAN, labels_needed=1000.0, labels_high=math.inf))
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size == (827, 1169)  # A4 portrait at 100 dpi
        # drawn on, not blank: the page holds dark text and the blue bars
        assert min(im.convert("L").getdata()) < 50 and (0, 114, 178, 255) in set(im.getdata())


def test_human_share_scales_labeller_hours_not_labels():
    # people label half the items: 1,000 labels take 6.25 h instead of 12.5 h
    half = replace(A, human_share=0.5)
    t = bd.compare(1000, half, PLAN, target=0.85)
    assert t.loc["random", "labels"] == pytest.approx(1000)
    assert t.loc["random", "labeller_hours"] == pytest.approx(6.25)
    assert t.loc["random", "cost"] == pytest.approx(125.0)
    # active learning: 800 labels -> 5 h x 20 + 40 h x 200 = 8100
    assert t.loc["active", "cost"] == pytest.approx(8100.0)
    # the plan's fallback labels at random too: 5000 + 125 if it fails
    assert t.loc["engineer", "cost_if_fails"] == pytest.approx(5125.0)
    assert "people label 50% of the items (assumed)" in t.loc["random", "note"]
    assert "people label" not in bd.compare(1000, A, PLAN, target=0.85).loc["random", "note"]
    with pytest.raises(bd.BudgetError, match="Share of items people still label is a fraction"):
        bd.compare(1000, replace(A, human_share=1.2))


def test_overlap_multiplies_labeller_hours():
    # three annotators per item: 1,000 labels take 37.5 h instead of 12.5 h; together with a 50% human share 18.75 h
    t = bd.compare(1000, replace(A, overlap=3.0, human_share=0.5), PLAN, target=0.85)
    assert t.loc["random", "labels"] == pytest.approx(1000)
    assert t.loc["random", "labeller_hours"] == pytest.approx(18.75)
    assert "3 annotators per item (assumed)" in t.loc["random", "note"]
    assert "people label 50% of the items" in t.loc["random", "note"]
    assert "annotators per item" not in bd.compare(1000, A, PLAN).loc["random", "note"]
    with pytest.raises(bd.BudgetError, match="annotators per item must be at least 1"):
        bd.compare(1000, replace(A, overlap=0.5))


def test_measurements_replace_assumptions_and_are_reported():
    measured = {"al_savings": {"value": 0.45, "source": "AL simulation on mnist5k", "detail": {"low": 0.3},
                               "measured_at": "2026-11-25T10:00:00+00:00"},
                "human_share": {"value": 0.25, "source": "human in the loop", "detail": {},
                                "measured_at": "2026-11-24T09:00:00+00:00"}}
    s = scenarios.with_measurements(scenarios.Scenario(assumptions=A, plan=PLAN, labels_needed=1000.0), measured)
    assert s.assumptions.al_savings == 0.45 and s.assumptions.human_share == 0.25
    assert s.assumptions.labeller_rate == A.labeller_rate
    t = bd.compare(s.labels_needed, s.assumptions, s.plan, s.target, s.measured)
    # 550 labels x 36 s x 1.25 x 0.25 / 3600 = 1.71875 h
    assert t.loc["active", "labeller_hours"] == pytest.approx(1.71875)
    assert "45% fewer labels (measured)" in t.loc["active", "note"]
    assert "(measured)" in t.loc["random", "note"]
    inputs = scenarios.inputs_table(s).set_index("field")
    assert inputs.loc["al_savings", "status"] == "measured"
    assert inputs.loc["al_savings", "from"] == "measured: AL simulation on mnist5k, 2026-11-25"
    assert inputs.loc["labeller_rate", "status"] == "assumed"
    assert (inputs["status"] == "measured").sum() == 2  # labels_needed is typed in here
    # the report and the scenario JSON say what is measured; old JSON without it still loads
    page = budget_report.html_report(s)
    assert "Measured: Active-learning label savings, Share of items people still label." in page
    d = json.loads(json.dumps(s.to_dict()))
    assert d["measured"]["al_savings"]["source"] == "AL simulation on mnist5k"
    assert scenarios.Scenario.from_dict(d) == s
    del d["measured"], d["assumptions"]["human_share"]
    old = scenarios.Scenario.from_dict(d)
    assert old.measured == {} and old.assumptions.human_share == 1.0
    with pytest.raises(bd.BudgetError, match="'measured' must map assumption names"):
        scenarios.Scenario.from_dict({**d, "measured": {"colour": {}}})


def test_break_even_beyond_the_curves_horizon_reads_as_none():
    # a plan that never works has the same slope as random labelling: rounding alone once put the
    # break-even at 10,390,379,927,963,962 labels
    never = bd.EngineerPlan(p_success=0.0)
    assert math.isinf(bd.break_even_labels(bd.Assumptions(), never, target=0.85))
    below = bd.EngineerPlan(metric_after=0.85)  # below the target: never works either
    assert math.isinf(bd.break_even_labels(bd.Assumptions(), below, target=0.9))
    assert bd.break_even_text(math.inf) == ("none up to 1,000,000,000 labels (the plan costs more than random "
                                            "labelling all the way)")
    assert bd.break_even_text(bd.break_even_labels(A, PLAN, target=0.85)) == "40,000 labels"


def test_sensitivity_when_labelling_cannot_reach_the_target():
    # labelling never gets there: no cost margin is finite, and where the plan misses the target too no option
    # is cheapest (not "random", the first of four infinite costs)
    sens = bd.sensitivity(math.inf, A, PLAN, target=0.85).set_index("field")
    assert not np.isfinite(sens[["margin_low", "margin_high", "margin_base"]].to_numpy()).any()
    assert bd.option_name(sens.loc["metric_after", "cheapest_low"]) == "no option reaches the target"
    assert sens.loc["metric_after", "flips"] and not sens.loc["labeller_rate", "flips"]
    assert bd.flips_text(sens.reset_index()) == ("Expected metric after it (0: no option reaches the target; "
                                                 "1: Engineer's plan)")
    assert bd.cheapest(bd.compare(math.inf, A, PLAN, target=0.95)) is None


def test_reports_read_an_unreachable_target_in_words():
    s = scenarios.Scenario(assumptions=A, plan=PLAN, target=0.95, labels_needed=math.inf, labels_low=math.inf,
                    labels_high=math.inf)
    assert scenarios.inputs_table(s).set_index("field").loc["labels_needed", "value"] == "not reachable"
    page = budget_report.html_report(s)
    assert not re.search(r"\b(inf|Infinity|nan|None)\b", page)
    assert "<td>More labels needed</td><td>not reachable</td>" in page
    assert "No option reaches the target with these numbers." in page and "Cheapest:" not in page
    assert budget_report.png_report(s).startswith(b"\x89PNG")  # the same wording, drawn


def test_a_plan_that_misses_the_target_is_not_shown_as_working():
    reaches = scenarios.Scenario(assumptions=A, plan=PLAN, target=0.85, labels_needed=40_000.0)
    text = scenarios.plan_outcomes_text(reaches, scenarios.scenario_table(reaches))
    assert text.startswith("Engineer's plan if it works: ") and "; if it fails: " in text
    short = replace(reaches, target=0.95)  # the plan's 0.9 is below it
    table = scenarios.scenario_table(short)
    assert scenarios.plan_outcomes_text(short, table) == (
        "Engineer's plan: its expected metric 0.9 is below the target 0.95, so it does not get there even if it "
        f"works; it counts as failing: {table.loc['engineer', 'cost']:,.0f} in {table.loc['engineer', 'weeks']:.1f} "
        "weeks (falling back to random labelling).")
    assert table.loc["engineer", "note"] == ("the plan's expected metric is below the target: it only delays the "
                                             "fallback")
    neither = scenarios.scenario_table(replace(short, labels_needed=math.inf, labels_low=math.inf, labels_high=math.inf))
    assert neither.loc["engineer", "note"] == ("the plan's expected metric is below the target, and more labels of "
                                               "this kind do not get there")


def test_typed_labels_needed_outside_their_interval_or_horizon_are_flagged():
    s = scenarios.Scenario(labels_needed=500_000.0, labels_low=300_000.0, labels_high=0.0)
    assert scenarios.interval_note(s) == ("The 80% interval typed in (300,000 to 0) does not hold the labels needed "
                                   "(500,000); an empty 80% high means over 1,000,000,000.")
    assert scenarios.interval_note(replace(s, labels_high=math.inf)) is None  # an open interval holds it
    assert scenarios.interval_note(replace(s, labels_source="measured")) is None  # a curve's numbers are its own
    with pytest.raises(bd.BudgetError, match="beyond 1,000,000,000, the learning curves' horizon"):
        scenarios.check_horizon(scenarios.Scenario(labels_needed=1e16, labels_low=5000.0, labels_high=math.inf))
    with pytest.raises(bd.BudgetError, match="beyond 1,000,000,000"):  # a shared link is checked too
        scenarios.Scenario.from_query({"labels_needed": "1e16"})


def test_synthetic_data_route_by_hand():
    a = replace(A, synthetic_savings=0.25, synthetic_setup_hours=20.0)
    t = bd.compare(1000, a, PLAN, target=0.85)
    # 750 labels = 9.375 labeller h x 20 = 187.5, plus 20 engineer h x 200 = 4,000 to build the renderer
    assert t.loc["synthetic", "labels"] == pytest.approx(750)
    assert t.loc["synthetic", "cost"] == pytest.approx(4187.5)
    assert t.loc["synthetic", "weeks"] == pytest.approx(9.375 / 25 + 20 / 25)
    assert "25% fewer labels (assumed)" in t.loc["synthetic", "note"]
    assert "20 engineer hours (assumed)" in t.loc["synthetic", "note"]
    measured = bd.compare(1000, a, PLAN, target=0.85, measured=("synthetic_savings",))
    assert "25% fewer labels (measured)" in measured.loc["synthetic", "note"]
    # until measured it saves nothing: the renderer's hours on top of random labelling
    default = bd.compare(1000, A, PLAN, target=0.85)
    assert default.loc["synthetic", "labels"] == 1000
    assert default.loc["synthetic", "cost"] == pytest.approx(default.loc["random", "cost"] + 80 * 200)
    with pytest.raises(bd.BudgetError, match="Synthetic-data label savings is a fraction"):
        bd.compare(1000, replace(A, synthetic_savings=1.5))
