"""Where the pages were left, kept across sessions and restarts (small JSON files under ``$LABELDASH_HOME``).

* the Learning curves page: its last view (experiment or imported points), how it read them
  (direction, target, metric name), and its latest answer, which the Budget planner picks up;
* the Budget planner: its inputs as on screen;
* the Synthetic data page: its inputs as on screen.

Pages read and write their state only through these functions; the library knows nothing of widgets.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.core.errors import InputError
from analysis.core.files import data_home, load_json, save_json
from analysis.planning.learning_curves import read_points

_LAST_VIEW, _LAST_READING, _LATEST = (f"learning_curves/{name}.json"
                                      for name in ("last_view", "last_reading", "latest_result"))


def save_last_view(view: dict, points: pd.DataFrame | None = None) -> None:
    """Remember what the Learning curves page shows, so that a new session opens there.

    ``view``: the page's choices (JSON-able: the experiment's source, models,
    sizes and seeds, or an imported file's name); ``points``: the imported
    points, kept with it (an uploaded file is gone after the session).
    """
    if points is not None:
        csv = (data_home() / _LAST_VIEW).with_suffix(".csv")
        csv.parent.mkdir(parents=True, exist_ok=True)
        points.to_csv(csv, index=False)
    save_json(_LAST_VIEW, view)


def load_last_view() -> tuple[dict, pd.DataFrame | None] | None:
    """What :func:`save_last_view` kept: ``(view, imported points or None)``, or ``None``."""
    view = load_json(_LAST_VIEW)
    csv = (data_home() / _LAST_VIEW).with_suffix(".csv")
    try:
        return None if view is None else (view, read_points(csv) if view.get("imported") and csv.exists() else None)
    except InputError:
        return None


def save_last_reading(reading: dict) -> None:
    """Remember how the page reads the points on screen, so that it comes back so (JSON-able
    ``{"points": hash of the points, "lower": bool, "target": float, "metric_name": str}``)."""
    save_json(_LAST_READING, reading)


def load_last_reading() -> dict | None:
    """What :func:`save_last_reading` kept, or ``None``."""
    return load_json(_LAST_READING)


def latest_result_path() -> Path:
    return data_home() / _LATEST


def save_latest(result: dict) -> None:
    """Persist the learning-curve answer the budget planner picks up (one JSON object)."""
    save_json(_LATEST, result)


def load_latest() -> dict | None:
    """The last answer saved by :func:`save_latest`, or ``None``."""
    return load_json(_LATEST)


def save_budget_inputs(inputs: dict) -> None:
    """Remember the planner's inputs as on screen (``{widget key: value}``), so that a reopened app shows them."""
    save_json("budget/last_inputs.json", inputs)


def load_budget_inputs() -> dict:
    """What :func:`save_budget_inputs` kept (only plain values), or ``{}``."""
    kept = load_json("budget/last_inputs.json")
    if not isinstance(kept, dict):
        return {}
    return {k: v for k, v in kept.items() if v is None or isinstance(v, (bool, int, float, str))}


def save_synthetic_inputs(inputs: dict) -> None:
    """Remember the Synthetic data page's inputs (``{widget key: value}``; ranges as lists), so that a reopened app
    shows them, and so their saved run."""
    save_json("synthetic_data/last_inputs.json", inputs)


def load_synthetic_inputs() -> dict:
    """What :func:`save_synthetic_inputs` kept, or ``{}``."""
    kept = load_json("synthetic_data/last_inputs.json")
    return kept if isinstance(kept, dict) else {}
