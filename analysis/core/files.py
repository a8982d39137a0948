"""Where the project keeps files it generates (demo images, cached results), and how it writes them.

``LABELDASH_HOME`` overrides the default ``~/.local/share/labeldash``; tests set
it to a temporary folder so they never touch a user's files.
"""

import hashlib
import json
import os
from pathlib import Path

import pandas as pd


def data_home() -> Path:
    """Return the project's data folder, creating it if needed."""
    home = Path(os.environ.get("LABELDASH_HOME") or Path.home() / ".local/share/labeldash")
    home.mkdir(parents=True, exist_ok=True)
    return home


def save_json(relative: str, obj) -> None:
    """Write ``obj`` as JSON to ``data_home() / relative`` (folders created): where a page was left, say."""
    write_atomic(data_home() / relative, json.dumps(obj))


def load_json(relative: str):
    """What :func:`save_json` wrote to ``relative``, or ``None`` when it is absent or not JSON."""
    try:
        return json.loads((data_home() / relative).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def run_path(folder: str, source: str, request) -> Path:
    """Where a persisted simulation of ``request`` (any JSON-able description) on ``source`` lives."""
    key = hashlib.sha1(json.dumps(request).encode()).hexdigest()[:10]
    return data_home() / folder / f"{source}-{key}.csv"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (folders created) so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_csv(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` to ``path`` atomically: a half-written file must never look like a finished run."""
    write_atomic(path, df.to_csv(index=False))
