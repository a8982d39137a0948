"""Where the project keeps files it generates (demo images, cached results).

``LABELDASH_HOME`` overrides the default ``~/.local/share/labeldash``; tests set
it to a temporary folder so they never touch a user's files.
"""

import json
import os
from pathlib import Path


def data_home() -> Path:
    """Return the project's data folder, creating it if needed."""
    home = Path(os.environ.get("LABELDASH_HOME") or Path.home() / ".local/share/labeldash")
    home.mkdir(parents=True, exist_ok=True)
    return home


def save_json(relative: str, obj) -> None:
    """Write ``obj`` as JSON to ``data_home() / relative`` (folders created): where a page was left, say."""
    path = data_home() / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def load_json(relative: str):
    """What :func:`save_json` wrote to ``relative``, or ``None`` when it is absent or not JSON."""
    try:
        return json.loads((data_home() / relative).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
