"""Budget planner: cost and calendar time to reach a metric target, four ways.

The question: "we need N more labels to reach the target (from the learning
curve); is it cheaper and faster to label more, label with pre-labelling, use
active learning, or let an ML engineer try a new approach?" Every input is an
explicit assumption (:class:`Assumptions`, :class:`EngineerPlan`) with a unit,
a default and a ``source`` note saying where the default comes from; the
learning curve supplies the labels needed when it can.

Options (:func:`compare`):

``random``      label ``N`` more items at random: labeller time only.
``prelabel``    the current model pre-labels; accepted pre-labels are corrected
                ``prelabel_speedup`` times faster, rejected ones are labelled
                from scratch; plus engineer hours to set it up.
``active``      active learning picks the items: ``N * (1 - al_savings)``
                labels, plus engineer hours to set it up.
``engineer``    the engineer's plan: ``plan_weeks`` of engineer time; with
                probability ``p_success`` it reaches the target after
                ``labels_after`` more labels, otherwise the team falls back to
                ``random`` labelling afterwards. Cost and time are expectations
                over both cases; the failure case is reported too.

People label only ``human_share`` of the items on every route: with human in
the loop, the model's confident answers are auto-accepted and only the rest go
to labellers (1.0 = people label everything). So labeller hours, not the labels
the model gets, scale by ``human_share``. Each of those items is labelled by
``overlap`` annotators (1 = once; more where a consensus of several people
is the label), which scales the labeller hours too.

Any assumption can be replaced by a measurement from the labelling lab
(:mod:`analysis.measurements`); :class:`Scenario` keeps which inputs are
measured so the table, the report and the JSON say so.

Units: money in the currency of the hourly rates, time in hours (effort)
and calendar weeks (elapsed). Pure functions, no Streamlit.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.curve_fit import MAX_LABELS, NO_UPPER_END, upper_end_text
from analysis.errors import InputError
from analysis.paths import data_home, load_json, save_json

TASKS = ("class", "box", "polygon", "mask")
OPTIONS = {
    "random": "Label more (random)",
    "prelabel": "Label more with pre-labelling",
    "active": "Active learning",
    "engineer": "Engineer's plan",
}


class BudgetError(InputError):
    """An assumption or scenario is invalid; the message says which and why."""


def _f(default, unit, source, low, high, label):
    """A numeric assumption: default, unit, where the default comes from, sensitivity range, label."""
    return field(default=default, metadata={"unit": unit, "source": source, "low": low, "high": high,
                                            "label": label})


@dataclass(frozen=True)
class Assumptions:
    """Cost-model assumptions; each field's metadata holds its unit, source note and sensitivity range."""

    labeller_rate: float = _f(
        20.0, "per hour", "Assumption: managed annotation workforces quote roughly 6-30 per hour "
        "depending on region; replace with your vendor's or team's rate.", 10.0, 40.0, "Labeller hourly rate")
    engineer_ratio: float = _f(
        12.0, "x labeller rate", "Issue brief: an ML engineer's hour costs 10-15x a labeller's hour.",
        10.0, 15.0, "ML-engineer rate / labeller rate")
    task: str = field(default="box", metadata={"unit": "", "source": "Choose the annotation type.",
                                                "label": "Task type"})
    sec_class: float = _f(
        3.0, "s per label", "Image-level class tags take 1-5 s in crowd set-ups (ImageNet-style verification).",
        1.0, 6.0, "Seconds per class label")
    sec_box: float = _f(
        7.0, "s per label", "Papadopoulos et al. 2017 (extreme clicking): 7 s per box; classic "
        "draw-and-verify took ~35 s.", 5.0, 35.0, "Seconds per box")
    sec_polygon: float = _f(
        79.0, "s per label", "Lin et al. 2014 (COCO): about 79 s per object polygon.", 40.0, 120.0,
        "Seconds per polygon")
    sec_mask: float = _f(
        100.0, "s per label", "Assumption: brush masks take polygon time or more; Cityscapes fine "
        "labelling took ~1.5 h per full image.", 60.0, 200.0, "Seconds per mask")
    labels_per_item: float = _f(
        1.0, "labels per item", "1 for classification; for detection/segmentation use your data's "
        "objects per image (see Dataset overview).", 1.0, 1.0, "Labels per item")
    overlap: float = _f(
        1.0, "annotators per item", "1 = each item labelled once; consensus set-ups use 3-5 annotators per item "
        "(measure how many you need, with the model's vote, on the Consensus page).", 1.0, 3.0,
        "Annotators per item (overlap)")
    qa_overhead: float = _f(
        0.25, "fraction of labelling time", "Assumption: review/QA adds 15-35% of labelling time in "
        "typical two-stage workflows.", 0.1, 0.5, "Review / QA overhead")
    prelabel_speedup: float = _f(
        3.0, "x faster per accepted pre-label", "Correcting a good pre-label is several times faster "
        "than drawing (up to ~10x when the model is decent); measure on a pilot batch.", 1.5, 10.0,
        "Pre-labelling speed-up")
    prelabel_acceptance: float = _f(
        0.7, "fraction of items", "Assumption: share of pre-labels that need only a quick fix; "
        "rises with model quality.", 0.4, 0.9, "Pre-label acceptance rate")
    prelabel_setup_hours: float = _f(
        16.0, "engineer hours", "Assumption: export predictions into the labelling tool and check them.",
        8.0, 40.0, "Pre-labelling set-up")
    al_savings: float = _f(
        0.3, "fraction of labels saved", "An assumption until measured: published savings range 0-60% "
        "and shrink against strong random baselines (Munjal et al. 2022).", 0.0, 0.6,
        "Active-learning label savings")
    human_share: float = _f(
        1.0, "share of items", "1 = people label every item; with human in the loop only items the model is "
        "not confident enough about go to people (measure it on the Human in the loop page).", 0.2, 1.0,
        "Share of items people still label")
    al_setup_hours: float = _f(
        40.0, "engineer hours", "Assumption: selection loop, retraining between rounds, tooling.",
        20.0, 80.0, "Active-learning set-up")
    labellers: float = _f(
        5.0, "people", "Assumption: labellers working in parallel.", 2.0, 10.0, "Labellers")
    engineers: float = _f(
        1.0, "people", "Engineers on the plan (and on set-up work).", 1.0, 1.0, "Engineers")
    hours_per_week: float = _f(
        35.0, "h per person-week", "Assumption: productive hours per person per week.", 30.0, 40.0,
        "Hours per week")

    @property
    def engineer_rate(self) -> float:
        """Engineer cost per hour (labeller rate x ratio)."""
        return self.labeller_rate * self.engineer_ratio

    @property
    def seconds_per_label(self) -> float:
        return getattr(self, f"sec_{self.task}")


@dataclass(frozen=True)
class EngineerPlan:
    """The engineer's proposal: effort, chance it works, metric and labels after it."""

    weeks: float = _f(2.0, "engineer weeks", "The engineer's own estimate (often optimistic).", 1.0, 6.0,
                      "Plan length")
    p_success: float = _f(0.5, "probability", "Assumption: chance the plan reaches its expected metric; "
                          "new methods often underdeliver, so discount the author's confidence.", 0.2, 0.9,
                          "Probability it works")
    metric_after: float = _f(0.85, "metric", "The engineer's expected metric if it works.", 0.0, 1.0,
                             "Expected metric after it")
    labels_after: float = _f(0.0, "labels", "Labels the plan still needs if it works.", 0.0, 5000.0,
                             "Labels it still needs")


def _check(obj):
    for f in fields(obj):
        v = getattr(obj, f.name)
        if f.name == "task":
            if v not in TASKS:
                raise BudgetError(f"task must be one of {', '.join(TASKS)}, got {v!r}")
            continue
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise BudgetError(f"{f.metadata['label']} must be a finite number >= 0, got {v!r}")
    for f in fields(obj):
        if f.name in ("p_success", "prelabel_acceptance", "al_savings", "human_share") and getattr(obj, f.name) > 1:
            raise BudgetError(f"{f.metadata['label']} is a fraction and must be at most 1")
    if isinstance(obj, Assumptions):
        if obj.prelabel_speedup < 1:
            raise BudgetError("pre-labelling speed-up must be at least 1 (1 = no faster)")
        if obj.overlap < 1:
            raise BudgetError("annotators per item must be at least 1")
        if obj.labellers <= 0 or obj.engineers <= 0 or obj.hours_per_week <= 0:
            raise BudgetError("labellers, engineers and hours per week must be positive")


def labelling_hours(n_items: float, a: Assumptions, speed_factor: float = 1.0) -> float:
    """Labeller hours for ``n_items``: items x human share x overlap x labels per item x seconds per label
    x (1 + QA) / speed.

    ``human_share`` is the share of items people still label (the rest the
    model's confident answers cover), so it scales the hours, not the items;
    ``overlap`` is how many annotators label each of those items.
    """
    return (n_items * a.human_share * a.overlap * a.labels_per_item * a.seconds_per_label * (1 + a.qa_overhead)
            / 3600.0 / speed_factor)


def prelabel_speed_factor(a: Assumptions) -> float:
    """Overall speed-up of pre-labelling: accepted items are ``speedup`` x faster, rejected ones are not."""
    return 1.0 / (a.prelabel_acceptance / a.prelabel_speedup + (1 - a.prelabel_acceptance))


def _row(option, labels, lab_h, eng_h, a: Assumptions, extra_weeks=0.0, note=""):
    cost = lab_h * a.labeller_rate + eng_h * a.engineer_rate
    weeks = lab_h / (a.labellers * a.hours_per_week) + eng_h / (a.engineers * a.hours_per_week) + extra_weeks
    return {"option": option, "name": OPTIONS[option], "labels": labels, "labeller_hours": lab_h,
            "engineer_hours": eng_h, "cost": cost, "weeks": weeks, "note": note}


def compare(labels_needed: float, a: Assumptions = Assumptions(), plan: EngineerPlan = EngineerPlan(),
            target: float | None = None, measured=(), p_ceiling_below: float = 0.0) -> pd.DataFrame:
    """Cost and calendar time to reach the target for each option.

    Inputs: ``labels_needed`` more items to label at random to reach the
    target (``inf`` when the learning curve's ceiling is below it), the
    assumptions, the engineer's plan, the ``target`` metric (to check
    whether the plan's expected metric reaches it), the names of the
    ``measured`` assumptions (the notes say measured or assumed) and
    ``p_ceiling_below``, the probability that the metric's ceiling is below
    the target (the learning curve's ``p_ceiling_below_target``): labelling
    then never gets there, so the labelling routes reach it with ``1 - p``.

    Output: one row per option (index = option key) with ``labels``,
    ``labeller_hours``, ``engineer_hours``, ``cost`` (money), ``weeks``
    (calendar, set-up then labelling, sequential), ``note`` and ``p_reach``;
    the engineer row also has ``cost_if_fails`` and ``weeks_if_fails``.
    Unreachable options have ``inf`` cost and weeks.
    """
    _check(a)
    _check(plan)
    if not (labels_needed >= 0):
        raise BudgetError(f"labels needed must be >= 0 (or inf), got {labels_needed!r}")
    if not (0 <= p_ceiling_below <= 1):
        raise BudgetError(f"P(ceiling below target) must be a probability (0 to 1), got {p_ceiling_below!r}")
    p_labelling = (1 - p_ceiling_below) * float(math.isfinite(labels_needed))
    rows = [
        _row("random", labels_needed, labelling_hours(labels_needed, a), 0.0, a),
        _row("prelabel", labels_needed, labelling_hours(labels_needed, a, prelabel_speed_factor(a)),
             a.prelabel_setup_hours, a, note=f"{prelabel_speed_factor(a):.2f}x faster labelling overall"),
        _row("active", labels_needed * (1 - a.al_savings),
             labelling_hours(labels_needed * (1 - a.al_savings), a), a.al_setup_hours, a,
             note=f"{a.al_savings:.0%} fewer labels ({_status('al_savings', measured)})"),
    ]
    extra = ([f"people label {a.human_share:.0%} of the items ({_status('human_share', measured)})"]
             if a.human_share < 1 else [])
    extra += [f"{a.overlap:g} annotators per item ({_status('overlap', measured)})"] if a.overlap != 1 else []
    for r in rows:
        r["note"] = "; ".join([r["note"], *extra] if r["note"] else extra)
    for r in rows:
        r["p_reach"] = p_labelling
    plan_hours = plan.weeks * a.hours_per_week * a.engineers
    works = plan.p_success if target is None or plan.metric_after >= target else 0.0
    success = _row("engineer", plan.labels_after, labelling_hours(plan.labels_after, a), plan_hours, a)
    failure = _row("engineer", labels_needed, labelling_hours(labels_needed, a), plan_hours, a)
    keys = ("labels", "labeller_hours", "engineer_hours", "cost", "weeks")
    if works == 1:
        eng, note = {k: success[k] for k in keys}, "assumed certain to work"
    elif math.isinf(labels_needed) and works > 0:
        # no fallback reaches the target: report the attempt itself and its chance
        eng = {k: success[k] for k in keys}
        note = (f"the only route to the target, with probability {works:.0%}: more labels of this kind "
                "do not get there; cost and time are those of the attempt")
    else:
        eng = {k: works * success[k] + (1 - works) * failure[k] for k in keys}
        if works > 0:
            note = f"expected over success ({works:.0%}) and failure, which falls back to random labelling"
        elif math.isinf(labels_needed):
            note = "the plan's expected metric is below the target, and more labels of this kind do not get there"
        else:
            note = "the plan's expected metric is below the target: it only delays the fallback"
    rows.append({"option": "engineer", "name": OPTIONS["engineer"], **eng, "note": note,
                 "p_reach": works + (1 - works) * p_labelling,
                 "cost_if_fails": failure["cost"], "weeks_if_fails": failure["weeks"],
                 "cost_if_works": success["cost"], "weeks_if_works": success["weeks"]})
    return pd.DataFrame(rows).set_index("option")


def _status(name: str, measured) -> str:
    return "measured" if name in measured else "assumed"


def cheapest(table: pd.DataFrame, by: str = "cost") -> str | None:
    """The option with the lowest ``by`` (``cost`` or ``weeks``); ``None`` when no option reaches the target."""
    col = table[by]
    return str(col.idxmin()) if np.isfinite(col).any() else None


def option_name(option: str | None) -> str:
    """An option's name; no option (:func:`cheapest`'s ``None``, missing in a table) reads as none reaching the
    target."""
    return OPTIONS[option] if isinstance(option, str) else "no option reaches the target"


def headline(table: pd.DataFrame) -> str:
    """The cheapest and the fastest option in words (the page's and the reports' wording)."""
    best, fastest = cheapest(table), cheapest(table, "weeks")
    if best is None:
        return "No option reaches the target with these numbers."
    return f"Cheapest: {OPTIONS[best]}. Fastest: {OPTIONS[fastest]}."


def break_even_labels(a: Assumptions = Assumptions(), plan: EngineerPlan = EngineerPlan(),
                      target: float | None = None, option: str = "random") -> float:
    """Labels needed at which ``option`` and the engineer's plan cost the same (``inf``: none up to
    ``MAX_LABELS``).

    Both costs are linear in the labels needed ``N``: ``option`` costs
    ``s_o + k_o N`` and the plan ``s_e + k_e N`` (its failure branch labels
    ``N``), so the break-even is ``(s_e - s_o) / (k_o - k_e)``. Beyond
    ``MAX_LABELS`` (the learning curves' horizon) counts as none: equal slopes
    (a plan that never works) differ only by rounding there, which would put
    the break-even at some 1e16 labels.
    """
    c0, c1 = compare(0.0, a, plan, target)["cost"], compare(1.0, a, plan, target)["cost"]
    k_o, k_e = c1[option] - c0[option], c1["engineer"] - c0["engineer"]
    if k_o <= k_e:
        return math.inf
    n = max((c0["engineer"] - c0[option]) / (k_o - k_e), 0.0)
    return n if n <= MAX_LABELS else math.inf


def break_even_text(n: float) -> str:
    """:func:`break_even_labels` vs random labelling in words."""
    if math.isfinite(n):
        return f"{n:,.0f} labels"
    return f"none up to {MAX_LABELS:,.0f} labels (the plan costs more than random labelling all the way)"


def sensitivity(labels_needed: float, a: Assumptions = Assumptions(), plan: EngineerPlan = EngineerPlan(),
                target: float | None = None) -> pd.DataFrame:
    """One-at-a-time sensitivity of the decision: each assumption at its low and high value.

    Output: one row per numeric assumption with its ``low``/``high`` values,
    the cost difference ``best labelling option - engineer plan`` at the
    base, low and high values (negative: labelling is cheaper), the cheapest
    option at low and high (missing: no option reaches the target), and
    ``flips`` (the cheapest option changes within the range). Sorted by the
    width of the swing, widest first. When labelling cannot reach the target
    (``labels_needed`` is ``inf``) the margins are ``inf`` (``nan`` where the
    plan cannot either): there is no cost difference to plot, only flips.
    """
    base_table = compare(labels_needed, a, plan, target)
    base = cheapest(base_table)

    def margin(t):
        with np.errstate(invalid="ignore"):  # inf - inf: no option reaches the target
            return t.loc[["random", "prelabel", "active"], "cost"].min() - t.loc["engineer", "cost"]

    rows = []
    for obj, key in ((a, "a"), (plan, "plan")):
        for f in fields(obj):
            lo, hi = f.metadata.get("low"), f.metadata.get("high")
            if lo is None or lo == hi or (key == "a" and f.name.startswith("sec_") and f.name != f"sec_{a.task}"):
                continue
            out = {"assumption": f.metadata["label"], "field": f.name, "unit": f.metadata["unit"],
                   "value": getattr(obj, f.name), "low": lo, "high": hi}
            for end, v in (("low", lo), ("high", hi)):
                aa, pp = (replace(a, **{f.name: v}), plan) if key == "a" else (a, replace(plan, **{f.name: v}))
                t = compare(labels_needed, aa, pp, target)
                out[f"margin_{end}"], out[f"cheapest_{end}"] = margin(t), cheapest(t)
            out["flips"] = out["cheapest_low"] != base or out["cheapest_high"] != base
            rows.append(out)
    df = pd.DataFrame(rows)
    df["margin_base"] = margin(base_table)
    swing = (df["margin_high"] - df["margin_low"]).abs()
    return df.assign(swing=swing).sort_values("swing", ascending=False, ignore_index=True)


def flips_text(sens: pd.DataFrame) -> str:
    """The assumptions that flip the decision, each with the cheapest option at both ends of its range."""
    flips = sens[sens["flips"]]
    return ", ".join(f"{r.assumption} ({r.low:g}: {option_name(r.cheapest_low)}; {r.high:g}: "
                     f"{option_name(r.cheapest_high)})" for r in flips.itertuples()) or "nothing"


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    """Everything a plan depends on: assumptions, the engineer's plan and the learning-curve numbers.

    ``labels_needed`` (more items to label at random), its 80% interval
    ``labels_low``/``labels_high`` (``inf``: unbounded),
    ``p_ceiling_below_target`` (the chance that more labels never reach the
    target) and ``labels_source``: ``"measured"`` (from a learning-curve
    fit) or ``"assumed"`` (typed in). ``measured``
    maps the assumptions that are measurements (:mod:`analysis.measurements`)
    to ``{"source", "measured_at", ...}``; the others are assumptions.
    Scenarios saved before ``measured`` existed load with none measured.
    """

    name: str = "scenario"
    target: float = 0.85
    current_labels: float = 1000.0
    current_metric: float = 0.70
    labels_needed: float = 5000.0
    labels_low: float = 5000.0
    labels_high: float = 5000.0
    p_ceiling_below_target: float = 0.0
    labels_source: str = "assumed"
    assumptions: Assumptions = Assumptions()
    plan: EngineerPlan = EngineerPlan()
    measured: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        return json.loads(json.dumps(d, default=str).replace("Infinity", "null"))

    @classmethod
    def from_dict(cls, d: dict) -> "Scenario":
        """Build from :meth:`to_dict` output; unknown keys and wrong types are rejected with a message."""
        if not isinstance(d, dict):
            raise BudgetError("a scenario must be a JSON object")
        d = dict(d)
        for group in ("assumptions", "plan"):
            if not isinstance(d.get(group, {}), dict):
                raise BudgetError(f"the scenario's {group} must be a JSON object")
        try:
            a = Assumptions(**d.pop("assumptions", {}))
            p = EngineerPlan(**d.pop("plan", {}))
            measured = d.pop("measured", {}) or {}
            if not isinstance(measured, dict) or set(measured) - {f.name for f in fields(Assumptions)}:
                raise BudgetError("the scenario's 'measured' must map assumption names to their sources")
            for k in ("labels_needed", "labels_low", "labels_high"):
                if k in d and d[k] is None:
                    d[k] = math.inf
            s = cls(**d, assumptions=a, plan=p, measured=measured)
        except TypeError as e:
            raise BudgetError(f"not a scenario: {e}") from None
        _check_scalars(s)
        _check(s.assumptions)
        _check(s.plan)
        return s

    @classmethod
    def query_keys(cls) -> frozenset:
        """The query parameters :meth:`to_query` can write (a URL may carry other pages' parameters too)."""
        return frozenset(_flat(cls()))

    def to_query(self) -> dict:
        """Flat ``{key: str}`` for URL query parameters (only values that differ from the defaults).

        Which inputs are measured does not travel in a URL: a shared link's values read as typed in.
        """
        default = Scenario()
        q = {k: v for k, v in _flat(self).items() if _flat(default).get(k) != v}
        return {k: ("inf" if isinstance(v, float) and math.isinf(v) else str(v)) for k, v in q.items()}

    @classmethod
    def from_query(cls, q) -> "Scenario":
        """Inverse of :meth:`to_query`; values are parsed by each field's type."""
        base = _flat(cls())
        flat = dict(base)
        for k, v in dict(q).items():
            if k not in base:
                continue
            if isinstance(base[k], str):
                flat[k] = str(v)
            else:
                try:
                    flat[k] = float(v)
                except (TypeError, ValueError):
                    raise BudgetError(f"query parameter {k}={v!r} is not a number") from None
        nested = {"assumptions": {}, "plan": {}}
        for k, v in flat.items():
            group, _, name = k.partition(".")
            if name:
                nested[group][name] = v
            else:
                nested[k] = v
        return cls.from_dict(nested)


def _check_scalars(s: Scenario) -> None:
    """A scenario read from a file or a URL: its own numbers and texts have the right types and ranges."""
    for f in fields(s):
        v = getattr(s, f.name)
        if f.name in ("assumptions", "plan", "measured"):
            continue
        if isinstance(f.default, str):
            if not isinstance(v, str):
                raise BudgetError(f"the scenario's {f.name} must be text, got {v!r}")
            continue
        # bool is an int to Python, but true/false is no number of labels; inf only where it means unbounded
        if (not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v)
                or (math.isinf(v) and not f.name.startswith("labels_"))):
            raise BudgetError(f"the scenario's {f.name} must be a number, got {v!r}")
    if s.labels_source not in ("measured", "assumed"):
        raise BudgetError(f"the scenario's labels_source must be 'measured' or 'assumed', got {s.labels_source!r}")
    for name in ("current_labels", "labels_needed", "labels_low", "labels_high"):
        if getattr(s, name) < 0:
            raise BudgetError(f"the scenario's {name} must be >= 0, got {getattr(s, name)!r}")
    if not 0 <= s.p_ceiling_below_target <= 1:
        raise BudgetError(f"the scenario's p_ceiling_below_target must be a probability (0 to 1), "
                          f"got {s.p_ceiling_below_target!r}")
    check_horizon(s)


def check_horizon(s: Scenario) -> None:
    """Finite labels needed are at most ``MAX_LABELS`` (beyond: not reachable); :class:`BudgetError` if not."""
    if math.isfinite(s.labels_needed) and s.labels_needed > MAX_LABELS:
        raise BudgetError(f"{s.labels_needed:,.0f} more labels is beyond {MAX_LABELS:,.0f}, the learning curves' "
                          "horizon: count it as not reachable by labelling")


def interval_note(s: Scenario) -> str | None:
    """A warning when typed-in labels needed lie outside their own 80% interval (``None`` when they do not, or
    when the numbers are a learning curve's)."""
    if s.labels_source != "assumed" or s.labels_low <= s.labels_needed <= s.labels_high:
        return None
    return (f"The 80% interval typed in ({s.labels_low:,.0f} to {upper_end_text(s.labels_high)}) does not hold the "
            f"labels needed ({s.labels_needed:,.0f}); an empty 80% high means {NO_UPPER_END}.")


def scenario_table(s: Scenario) -> pd.DataFrame:
    """:func:`compare` for a scenario: its labels needed, assumptions, plan, target, measurements and ceiling risk."""
    return compare(s.labels_needed, s.assumptions, s.plan, s.target, s.measured, s.p_ceiling_below_target)


def save_last_inputs(inputs: dict) -> None:
    """Remember the planner's inputs as on screen (``{widget key: value}``), so that a reopened app shows them."""
    save_json("budget/last_inputs.json", inputs)


def load_last_inputs() -> dict:
    """What :func:`save_last_inputs` kept (only plain values), or ``{}``."""
    kept = load_json("budget/last_inputs.json")
    if not isinstance(kept, dict):
        return {}
    return {k: v for k, v in kept.items() if v is None or isinstance(v, (bool, int, float, str))}


def labels_summary(s: Scenario) -> str:
    """The labels needed, their 80% interval and where they come from (the page's and the reports' wording)."""
    if math.isinf(s.labels_needed):
        head = "not reachable by labelling"
    else:
        head = (f"{s.labels_needed:,.0f} more labels (80% interval {s.labels_low:,.0f} to "
                f"{upper_end_text(s.labels_high)})")
    return f"{head}; {'measured: learning-curve fit' if s.labels_source == 'measured' else 'assumed: typed in'}"


def with_measurements(s: Scenario, measured: dict[str, dict]) -> Scenario:
    """``s`` with every measured assumption's value replaced and its provenance kept in ``s.measured``.

    ``measured`` is :func:`analysis.measurements.load` output: ``{name:
    {"value", "source", "measured_at", "detail"}}``.
    """
    from analysis import measurements

    assumptions, _ = measurements.apply(s.assumptions, measured)
    notes = {k: {key: v.get(key) for key in ("source", "measured_at", "detail")} for k, v in measured.items()}
    out = replace(s, assumptions=assumptions, measured=notes)
    _check(out.assumptions)
    return out


def measured_note(entry: dict) -> str:
    """``"measured: <source>, <date>"`` for one measurement's provenance."""
    return f"measured: {entry.get('source', '')}, {str(entry.get('measured_at', ''))[:10]}"


def inputs_table(s: Scenario) -> pd.DataFrame:
    """Every numeric input of the plan with ``status`` measured or assumed, and where its value comes from.

    Columns: ``field``, ``input`` (label), ``value`` (as text, so that an
    ``inf`` labels needed reads "not reachable"), ``unit``, ``status``
    (``"measured"`` or ``"assumed"``) and ``from`` (the measurement's source and
    date, or the default's source note). The first row is the labels needed.
    """
    rows = [{"field": "labels_needed", "input": "More labels needed", "value": _input_text(s.labels_needed),
             "unit": "items",
             "status": s.labels_source, "from": "learning-curve fit" if s.labels_source == "measured" else
             "typed in"}]
    for obj in (s.assumptions, s.plan):
        for f in fields(obj):
            if f.name == "task":
                continue
            m = s.measured.get(f.name) if obj is s.assumptions else None
            rows.append({"field": f.name, "input": f.metadata["label"], "value": _input_text(getattr(obj, f.name)),
                         "unit": f.metadata["unit"], "status": "measured" if m else "assumed",
                         "from": measured_note(m) if m else f.metadata["source"]})
    return pd.DataFrame(rows)


def _input_text(v: float) -> str:
    """An input's value as the inputs table shows it: counts with separators, rates and fractions as typed."""
    return amount_text(v) if not math.isfinite(v) or v >= 1000 else f"{v:g}"


def _flat(s: Scenario) -> dict:
    out = {}
    for f in fields(s):
        v = getattr(s, f.name)
        if f.name == "measured":
            continue
        if f.name in ("assumptions", "plan"):
            out.update({f"{f.name}.{g.name}": getattr(v, g.name) for g in fields(v)})
        else:
            out[f.name] = v
    return out


def scenarios_dir() -> Path:
    path = data_home() / "scenarios"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip()).strip("-.")
    if not slug:
        raise BudgetError("a scenario needs a name with letters or digits")
    return slug


def save_scenario(s: Scenario) -> Path:
    """Write ``s`` as JSON to ``data_home()/scenarios/<name>.json``; returns the path."""
    path = scenarios_dir() / f"{_slug(s.name)}.json"
    path.write_text(json.dumps(s.to_dict(), indent=2))
    return path


def list_scenarios() -> list[str]:
    return sorted(p.stem for p in scenarios_dir().glob("*.json"))


def parse_scenario(text: str | bytes, file_name: str) -> Scenario:
    """A scenario from the JSON text of a file (saved or exported); ``file_name`` names it in messages."""
    try:
        d = json.loads(text)
    except ValueError as e:  # not JSON, or bytes that are no text at all
        raise BudgetError(f"{file_name} is not valid JSON: {e}") from None
    return Scenario.from_dict(d)


def load_scenario(name_or_path) -> Scenario:
    """Read a saved scenario by name (or a JSON file path)."""
    path = Path(name_or_path)
    if not path.suffix:
        path = scenarios_dir() / f"{_slug(str(name_or_path))}.json"
    try:
        return parse_scenario(path.read_bytes(), path.name)
    except FileNotFoundError:
        raise BudgetError(f"no saved scenario {str(name_or_path)!r}") from None


# --------------------------------------------------------------------------- one-page report


def amount_text(v: float) -> str:
    """A count, hours or an amount, rounded; ``inf`` reads as "not reachable"."""
    return "not reachable" if not math.isfinite(v) else f"{v:,.0f}"


def weeks_text(v: float) -> str:
    """Calendar weeks to one decimal; ``inf`` reads as "not reachable"."""
    return "not reachable" if not math.isfinite(v) else f"{v:.1f}"


def outcome_text(cost: float, weeks: float) -> str:
    """``"<cost> in <weeks> weeks"``, or "not reachable" when either is ``inf``."""
    if not (math.isfinite(cost) and math.isfinite(weeks)):
        return "not reachable"
    return f"{cost:,.0f} in {weeks:.1f} weeks"


def plan_outcomes_text(s: Scenario, table: pd.DataFrame) -> str:
    """The engineer's plan if it works and if it fails, in words (``table``: :func:`scenario_table` of ``s``)."""
    eng = table.loc["engineer"]
    fails = f"{outcome_text(eng['cost_if_fails'], eng['weeks_if_fails'])} (falling back to random labelling)"
    if s.plan.metric_after < s.target:
        return (f"Engineer's plan: its expected metric {s.plan.metric_after:g} is below the target {s.target:g}, so it "
                f"does not get there even if it works; it counts as failing: {fails}.")
    works = outcome_text(eng["cost_if_works"], eng["weeks_if_works"])
    return f"Engineer's plan if it works: {works}; if it fails: {fails}."


def _svg_bars(table: pd.DataFrame, col: str, title: str, width=420, bar_h=22) -> str:
    """A static horizontal bar chart (inline SVG: the report must work offline)."""
    vals = table[col].replace(np.inf, np.nan)
    top = float(vals.max()) if vals.notna().any() and vals.max() > 0 else 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{bar_h * len(table) + 30}" '
             f'font-family="sans-serif" font-size="12"><text x="0" y="14" font-weight="bold">'
             f'{html.escape(title)}</text>']
    for i, (key, v) in enumerate(vals.items()):
        y = 24 + i * bar_h
        w = 0 if np.isnan(v) else (width - 230) * v / top
        label = (amount_text if col == "cost" else weeks_text)(v)
        parts.append(f'<text x="0" y="{y + 14}">{html.escape(OPTIONS[key])}</text>'
                     f'<rect x="170" y="{y + 3}" width="{w:.1f}" height="{bar_h - 8}" fill="#0072B2"/>'
                     f'<text x="{175 + w:.1f}" y="{y + 14}">{label}</text>')
    return "".join(parts) + "</svg>"


def html_report(s: Scenario) -> str:
    """A self-contained one-page HTML report (tables and inline SVG charts, no scripts)."""
    table = scenario_table(s)
    sens = sensitivity(s.labels_needed, s.assumptions, s.plan, s.target)
    rows = "".join(
        f"<tr><td>{html.escape(r['name'])}</td><td>{amount_text(r['labels'])}</td>"
        f"<td>{amount_text(r['labeller_hours'])}</td><td>{r['engineer_hours']:,.0f}</td>"
        f"<td>{amount_text(r['cost'])}</td><td>{weeks_text(r['weeks'])}</td>"
        f"<td>{html.escape(r['note'])}</td></tr>" for _, r in table.iterrows())
    inputs = inputs_table(s)
    a_rows = "".join(
        f"<tr><td>{html.escape(r['input'])}</td><td>{html.escape(r['value'])}</td><td>{html.escape(r['unit'])}</td>"
        f"<td>{r['status']}</td><td>{html.escape(r['from'])}</td></tr>" for _, r in inputs.iterrows())
    measured = inputs.loc[inputs["status"] == "measured", "input"]
    s_rows = "".join(
        f"<tr><td>{html.escape(r['assumption'])}</td><td>{r['low']:g} .. {r['high']:g}</td>"
        f"<td>{option_name(r['cheapest_low'])} / {option_name(r['cheapest_high'])}</td>"
        f"<td>{'yes' if r['flips'] else 'no'}</td></tr>" for _, r in sens.head(8).iterrows())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(s.name)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:1em auto}}td,th{{border-bottom:1px solid #ddd;
padding:2px 6px;text-align:left;font-size:13px}}table{{border-collapse:collapse;margin-bottom:1em}}</style></head>
<body><h1>Budget plan: {html.escape(s.name)}</h1>
<p>Target metric {s.target:g}; now {s.current_metric:.4g} with {s.current_labels:,.0f} labels.
Labels needed: {html.escape(labels_summary(s))}.</p>
<p><b>{headline(table)}</b></p>
<p>Measured: {html.escape(", ".join(measured)) or "nothing"}. Everything else is an assumption.</p>
<table><tr><th>Option</th><th>Labels</th><th>Labeller h</th><th>Engineer h</th><th>Cost</th><th>Weeks</th>
<th>Note</th></tr>{rows}</table>
{_svg_bars(table, 'cost', 'Cost')} {_svg_bars(table, 'weeks', 'Calendar weeks')}
<h2>What flips the decision</h2><table><tr><th>Assumption</th><th>Range</th><th>Cheapest at low / high</th>
<th>Flips</th></tr>{s_rows}</table>
<h2>Inputs: measured or assumed</h2><table><tr><th>Input</th><th>Value</th><th>Unit</th><th>Status</th>
<th>Measurement, or source of the default</th></tr>
{a_rows}</table></body></html>"""


def png_report(s: Scenario) -> bytes:
    """The one-page report as a PNG (A4 portrait at 100 dpi): headline, options table, cost and time bars,
    and the assumptions that flip the decision. For slides and chats where HTML does not travel."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory
    import matplotlib.pyplot as plt

    table = scenario_table(s)
    sens = sensitivity(s.labels_needed, s.assumptions, s.plan, s.target)
    names = [OPTIONS[k] for k in table.index]
    fig = plt.figure(figsize=(8.27, 11.69), dpi=100)
    fig.text(0.05, 0.96, f"Budget plan: {s.name}", fontsize=16, weight="bold")
    fig.text(0.05, 0.90, f"Target {s.target:g}; now {s.current_metric:.4g} with {s.current_labels:,.0f} labels.\n"
             f"Labels needed: {labels_summary(s)}.\n{headline(table)}", fontsize=10, va="bottom", wrap=True)
    ax = fig.add_axes([0.05, 0.66, 0.9, 0.2])
    ax.axis("off")
    cells = ax.table(cellText=[[n, amount_text(r.labels), amount_text(r.labeller_hours), f"{r.engineer_hours:,.0f}",
                                amount_text(r.cost), weeks_text(r.weeks)] for n, r in zip(names, table.itertuples())],
                     colLabels=["Option", "Labels", "Labeller h", "Engineer h", "Cost", "Weeks"], loc="center",
                     colWidths=[0.35, 0.13, 0.13, 0.13, 0.13, 0.13])
    cells.auto_set_font_size(False)
    cells.set_fontsize(9)
    cells.scale(1, 1.6)
    for i, (col, title) in enumerate((("cost", "Cost"), ("weeks", "Calendar weeks"))):
        ax = fig.add_axes([0.32, 0.42 - 0.2 * i, 0.6, 0.15])
        vals = table[col].replace(np.inf, np.nan)
        ax.barh(names, vals.fillna(0), color="#0072B2")
        for y, v in enumerate(vals):
            label = " " + (amount_text if col == "cost" else weeks_text)(v)
            ax.text(0 if np.isnan(v) else v, y, label, va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10, loc="left")
    fig.text(0.05, 0.12, f"What flips the decision within its range: {flips_text(sens)}", fontsize=10, wrap=True)
    fig.text(0.05, 0.04, f"Measured inputs: {', '.join(s.measured) or 'none'}; everything else is an assumption.",
             fontsize=8, color="#555555", wrap=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
