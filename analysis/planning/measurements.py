"""Measured values that replace the budget planner's assumptions.

The labelling-techniques lab measures on the team's own data what the planner
otherwise assumes (active-learning savings, pre-labelling speed-up, the share
of items people still have to label...). A measurement is stored under the
name of the :class:`analysis.planning.budget.Assumptions` field it replaces, with the
value in that field's unit, a one-line ``source`` saying how it was measured
and optional ``detail`` (interval, dataset, run settings). The planner uses a
measurement instead of the default and shows which inputs are measured.

Stored as one JSON file in :func:`analysis.core.files.data_home`; every write
replaces the file atomically so a crash never leaves it half-written.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import fields, replace
from datetime import datetime, timezone
from pathlib import Path

from analysis.core.errors import InputError
from analysis.core.files import data_home
from analysis.planning.budget import Assumptions


class MeasurementError(InputError):
    """A measurement names no planner assumption, or its value is not a finite number."""


def _path() -> Path:
    return data_home() / "measurements.json"


def _assumption_names() -> set[str]:
    return {f.name for f in fields(Assumptions) if f.type in (float, "float")}


def load() -> dict[str, dict]:
    """All stored measurements: ``{assumption name: {"value", "source", "detail", "measured_at"}}``.

    A missing or unreadable file means no measurements (the planner falls back
    to its assumptions).
    """
    try:
        data = json.loads(_path().read_text())
    except (OSError, ValueError):
        return {}
    known = _assumption_names()
    return {k: v for k, v in data.items() if k in known and isinstance(v, dict) and "value" in v}


def _write(data: dict) -> None:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".measurements-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)


def record(name: str, value: float, source: str, detail: dict | None = None) -> dict:
    """Store ``value`` as the measured value of the planner assumption ``name``; return the entry.

    ``name`` is an :class:`analysis.planning.budget.Assumptions` field (e.g.
    ``"al_savings"``, ``"prelabel_speedup"``); ``value`` is in that field's unit.
    A later record of the same name replaces the earlier one.
    """
    if name not in _assumption_names():
        raise MeasurementError(f"'{name}' is not a budget assumption; known: {', '.join(sorted(_assumption_names()))}.")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise MeasurementError(f"The measured value of {name} must be a number, got {value!r}.") from None
    if not math.isfinite(value):
        raise MeasurementError(f"The measured value of {name} must be finite, got {value}.")
    entry = {"value": value, "source": str(source), "detail": detail or {},
             "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    data = load()
    data[name] = entry
    _write(data)
    return entry


def forget(name: str) -> None:
    """Drop the measurement of ``name`` so the planner uses its assumption again."""
    data = load()
    if data.pop(name, None) is not None:
        _write(data)


def apply(assumptions, measured: dict[str, dict] | None = None):
    """``assumptions`` with every measured field replaced; returns ``(new assumptions, measured names)``."""
    measured = load() if measured is None else measured
    values = {k: v["value"] for k, v in measured.items()}
    return replace(assumptions, **values), sorted(values)
