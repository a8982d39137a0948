"""Budget scenarios: everything a plan depends on (:class:`Scenario`), checked, with the learning
curve's numbers and the lab's measurements folded in, and saved, listed and loaded as JSON files under
``$LABELDASH_HOME/budget/scenarios/``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import pandas as pd

from analysis.core.files import data_home
from analysis.planning import measurements
from analysis.planning.budget import (
    Assumptions,
    BudgetError,
    EngineerPlan,
    amount_text,
    check_assumptions,
    compare,
    outcome_text,
)
from analysis.planning.curve_fit import MAX_LABELS, NO_UPPER_END, upper_end_text


@dataclass(frozen=True)
class Scenario:
    """Everything a plan depends on: assumptions, the engineer's plan and the learning-curve numbers.

    ``labels_needed`` (more items to label at random), its 80% interval
    ``labels_low``/``labels_high`` (``inf``: unbounded),
    ``p_ceiling_below_target`` (the chance that more labels never reach the
    target) and ``labels_source``: ``"measured"`` (from a learning-curve
    fit) or ``"assumed"`` (typed in). ``measured``
    maps the assumptions that are measurements (:mod:`analysis.planning.measurements`)
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
        check_assumptions(s.assumptions)
        check_assumptions(s.plan)
        return s

    @classmethod
    def query_keys(cls) -> frozenset:
        """The query parameters :meth:`to_query` can write (a URL may carry other pages' parameters too)."""
        return frozenset(flat_inputs(cls()))

    def to_query(self) -> dict:
        """Flat ``{key: str}`` for URL query parameters (only values that differ from the defaults).

        Which inputs are measured does not travel in a URL: a shared link's values read as typed in.
        """
        default = Scenario()
        q = {k: v for k, v in flat_inputs(self).items() if flat_inputs(default).get(k) != v}
        return {k: ("inf" if isinstance(v, float) and math.isinf(v) else str(v)) for k, v in q.items()}

    @classmethod
    def from_query(cls, q) -> "Scenario":
        """Inverse of :meth:`to_query`; values are parsed by each field's type."""
        base = flat_inputs(cls())
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

    ``measured`` is :func:`analysis.planning.measurements.load` output: ``{name:
    {"value", "source", "measured_at", "detail"}}``.
    """
    assumptions, _ = measurements.apply(s.assumptions, measured)
    notes = {k: {key: v.get(key) for key in ("source", "measured_at", "detail")} for k, v in measured.items()}
    out = replace(s, assumptions=assumptions, measured=notes)
    check_assumptions(out.assumptions)
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
    rows = [{"field": "labels_needed", "input": "More labels needed", "value": input_text(s.labels_needed),
             "unit": "items",
             "status": s.labels_source, "from": "learning-curve fit" if s.labels_source == "measured" else
             "typed in"}]
    for obj in (s.assumptions, s.plan):
        for f in fields(obj):
            if f.name == "task":
                continue
            m = s.measured.get(f.name) if obj is s.assumptions else None
            rows.append({"field": f.name, "input": f.metadata["label"], "value": input_text(getattr(obj, f.name)),
                         "unit": f.metadata["unit"], "status": "measured" if m else "assumed",
                         "from": measured_note(m) if m else f.metadata["source"]})
    return pd.DataFrame(rows)


def input_text(v: float) -> str:
    """An input's value as the inputs table shows it: counts with separators, rates and fractions as typed."""
    return amount_text(v) if not math.isfinite(v) or v >= 1000 else f"{v:g}"


def flat_inputs(s: Scenario) -> dict:
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
    if not (text.strip() if isinstance(text, str) else text.strip(b" \t\r\n\xef\xbb\xbf")):
        raise BudgetError(f"{file_name}: the file is empty. Choose a scenario saved with \"Export JSON\".")
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


def plan_outcomes_text(s: Scenario, table: pd.DataFrame) -> str:
    """The engineer's plan if it works and if it fails, in words (``table``: :func:`scenario_table` of ``s``)."""
    eng = table.loc["engineer"]
    fails = f"{outcome_text(eng['cost_if_fails'], eng['weeks_if_fails'])} (falling back to random labelling)"
    if s.plan.metric_after < s.target:
        return (f"Engineer's plan: its expected metric {s.plan.metric_after:g} is below the target {s.target:g}, so it "
                f"does not get there even if it works; it counts as failing: {fails}.")
    works = outcome_text(eng["cost_if_works"], eng["weeks_if_works"])
    return f"Engineer's plan if it works: {works}; if it fails: {fails}."


def scenario_from_curve(result: dict, base: Scenario) -> Scenario:
    """``base`` with the target, the current labels and metric, the labels still needed (more than now, with their
    80% interval; ``inf`` where the curve does not get there) and the chance that the ceiling is below the target,
    from a learning-curve answer (:func:`analysis.planning.learning_curves.planner_answer`)."""
    lt = result.get("labels_to_target")
    now = float(result["current_labels"])

    def more(v):
        return math.inf if v is None else max(float(v) - now, 0.0)

    est, lo, hi = (more(lt["estimate"]), more(lt["low"]), more(lt["high"])) if lt else (math.inf,) * 3
    return replace(base, target=float(result["target"]), current_labels=now,
                   current_metric=float(result["current_metric"]), labels_needed=est, labels_low=lo,
                   labels_high=hi, p_ceiling_below_target=float(result.get("p_ceiling_below_target", 0.0)),
                   labels_source="measured")
