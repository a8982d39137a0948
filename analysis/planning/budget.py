"""Budget planner: cost and calendar time to reach a metric target, five ways.

The question: "we need N more labels to reach the target (from the learning
curve); is it cheaper and faster to label more, label with pre-labelling, use
active learning, render synthetic data, or let an ML engineer try a new approach?" Every input is an
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
``synthetic``   rendered data replaces a share of the labels: ``N * (1 -
                synthetic_savings)`` labels, plus engineer hours to build the
                renderer (``synthetic_setup_hours``).
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
(:mod:`analysis.planning.measurements`); :class:`Scenario` keeps which inputs are
measured so the table, the report and the JSON say so.

Units: money in the currency of the hourly rates, time in hours (effort)
and calendar weeks (elapsed). Pure functions, no Streamlit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd

from analysis.core.errors import InputError
from analysis.planning.curve_fit import MAX_LABELS

TASKS = ("class", "box", "polygon", "mask")
#: Inputs that are shares (0 to 1).
FRACTIONS = ("p_success", "prelabel_acceptance", "al_savings", "synthetic_savings", "human_share")


OPTIONS = {
    "random": "Label more (random)",
    "prelabel": "Label more with pre-labelling",
    "active": "Active learning",
    "synthetic": "Synthetic data + labelling",
    "engineer": "Engineer's plan",
}


class BudgetError(InputError):
    """An assumption or scenario is invalid; the message says which and why."""


def assumption_field(default, unit, source, low, high, label):
    """A numeric assumption: default, unit, where the default comes from, sensitivity range, label."""
    return field(default=default, metadata={"unit": unit, "source": source, "low": low, "high": high,
                                            "label": label})


@dataclass(frozen=True)
class Assumptions:
    """Cost-model assumptions; each field's metadata holds its unit, source note and sensitivity range."""

    labeller_rate: float = assumption_field(
        20.0, "per hour", "Assumption: managed annotation workforces quote roughly 6-30 per hour "
        "depending on region; replace with your vendor's or team's rate.", 10.0, 40.0, "Labeller hourly rate")
    engineer_ratio: float = assumption_field(
        12.0, "x labeller rate", "Issue brief: an ML engineer's hour costs 10-15x a labeller's hour.",
        10.0, 15.0, "ML-engineer rate / labeller rate")
    task: str = field(default="box", metadata={"unit": "", "source": "Choose the annotation type.",
                                                "label": "Task type"})
    sec_class: float = assumption_field(
        3.0, "s per label", "Image-level class tags take 1-5 s in crowd set-ups (ImageNet-style verification).",
        1.0, 6.0, "Seconds per class label")
    sec_box: float = assumption_field(
        7.0, "s per label", "Papadopoulos et al. 2017 (extreme clicking): 7 s per box; classic "
        "draw-and-verify took ~35 s.", 5.0, 35.0, "Seconds per box")
    sec_polygon: float = assumption_field(
        79.0, "s per label", "Lin et al. 2014 (COCO): about 79 s per object polygon.", 40.0, 120.0,
        "Seconds per polygon")
    sec_mask: float = assumption_field(
        100.0, "s per label", "Assumption: brush masks take polygon time or more; Cityscapes fine "
        "labelling took ~1.5 h per full image.", 60.0, 200.0, "Seconds per mask")
    labels_per_item: float = assumption_field(
        1.0, "labels per item", "1 for classification; for detection/segmentation use your data's "
        "objects per image (see Dataset overview).", 1.0, 1.0, "Labels per item")
    overlap: float = assumption_field(
        1.0, "annotators per item", "1 = each item labelled once; consensus set-ups use 3-5 annotators per item "
        "(measure how many you need, with the model's vote, on the Consensus page).", 1.0, 3.0,
        "Annotators per item (overlap)")
    qa_overhead: float = assumption_field(
        0.25, "fraction of labelling time", "Assumption: review/QA adds 15-35% of labelling time in "
        "typical two-stage workflows.", 0.1, 0.5, "Review / QA overhead")
    prelabel_speedup: float = assumption_field(
        3.0, "x faster per accepted pre-label", "Correcting a good pre-label is several times faster "
        "than drawing (up to ~10x when the model is decent); measure on a pilot batch.", 1.5, 10.0,
        "Pre-labelling speed-up")
    prelabel_acceptance: float = assumption_field(
        0.7, "fraction of items", "Assumption: share of pre-labels that need only a quick fix; "
        "rises with model quality.", 0.4, 0.9, "Pre-label acceptance rate")
    prelabel_setup_hours: float = assumption_field(
        16.0, "engineer hours", "Assumption: export predictions into the labelling tool and check them.",
        8.0, 40.0, "Pre-labelling set-up")
    al_savings: float = assumption_field(
        0.3, "fraction of labels saved", "An assumption until measured: published savings range 0-60% "
        "and shrink against strong random baselines (Munjal et al. 2022).", 0.0, 0.6,
        "Active-learning label savings")
    human_share: float = assumption_field(
        1.0, "share of items", "1 = people label every item; with human in the loop only items the model is "
        "not confident enough about go to people (measure it on the Human in the loop page).", 0.2, 1.0,
        "Share of items people still label")
    al_setup_hours: float = assumption_field(
        40.0, "engineer hours", "Assumption: selection loop, retraining between rounds, tooling.",
        20.0, 80.0, "Active-learning set-up")
    synthetic_savings: float = assumption_field(
        0.0, "fraction of labels saved", "An assumption until measured: rendered data can save nothing, or even "
        "cost labels, when it looks unlike the real data (the sim-to-real gap); measure it on the Synthetic data "
        "page.", 0.0, 0.5, "Synthetic-data label savings")
    synthetic_setup_hours: float = assumption_field(
        80.0, "engineer hours", "Assumption: build a renderer and tune it until its output resembles the real "
        "data; the Synthetic data page's digit renderer is about 150 lines (a day), renderers of real scenes "
        "(3-D assets, domain randomisation) take weeks to months.", 16.0, 400.0, "Synthetic-data set-up (renderer)")
    labellers: float = assumption_field(
        5.0, "people", "Assumption: labellers working in parallel.", 2.0, 10.0, "Labellers")
    engineers: float = assumption_field(
        1.0, "people", "Engineers on the plan (and on set-up work).", 1.0, 1.0, "Engineers")
    hours_per_week: float = assumption_field(
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

    weeks: float = assumption_field(2.0, "engineer weeks", "The engineer's own estimate (often optimistic).", 1.0, 6.0,
                      "Plan length")
    p_success: float = assumption_field(0.5, "probability", "Assumption: chance the plan reaches its expected metric; "
                          "new methods often underdeliver, so discount the author's confidence.", 0.2, 0.9,
                          "Probability it works")
    metric_after: float = assumption_field(0.85, "metric", "The engineer's expected metric if it works.", 0.0, 1.0,
                             "Expected metric after it")
    labels_after: float = assumption_field(0.0, "labels", "Labels the plan still needs if it works.", 0.0, 5000.0,
                             "Labels it still needs")


def check_assumptions(obj):
    for f in fields(obj):
        v = getattr(obj, f.name)
        if f.name == "task":
            if v not in TASKS:
                raise BudgetError(f"task must be one of {', '.join(TASKS)}, got {v!r}")
            continue
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise BudgetError(f"{f.metadata['label']} must be a finite number >= 0, got {v!r}")
    for f in fields(obj):
        if f.name in FRACTIONS and getattr(obj, f.name) > 1:
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
    check_assumptions(a)
    check_assumptions(plan)
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
        _row("synthetic", labels_needed * (1 - a.synthetic_savings),
             labelling_hours(labels_needed * (1 - a.synthetic_savings), a), a.synthetic_setup_hours, a,
             note=f"{a.synthetic_savings:.0%} fewer labels ({_status('synthetic_savings', measured)}); the "
                  f"renderer takes {a.synthetic_setup_hours:g} engineer hours "
                  f"({_status('synthetic_setup_hours', measured)})"),
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
            return t.drop(index="engineer")["cost"].min() - t.loc["engineer", "cost"]

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
