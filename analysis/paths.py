"""Where the project keeps files it generates (demo images, cached results).

``LABELDASH_HOME`` overrides the default ``~/.local/share/labeldash``; tests set
it to a temporary folder so they never touch a user's files.
"""

import os
from pathlib import Path


def data_home() -> Path:
    """Return the project's data folder, creating it if needed."""
    home = Path(os.environ.get("LABELDASH_HOME") or Path.home() / ".local/share/labeldash")
    home.mkdir(parents=True, exist_ok=True)
    return home
