"""Job functions for tests/core/test_jobs.py (the worker imports them by name, as it does library functions)."""

import os
import time
from pathlib import Path

from analysis.core.errors import InputError


def _wait_for(path: Path, timeout_s: float = 60) -> None:
    """Block until ``path`` exists: the test's signal to go on (a condition, polled)."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.01)


def staged(folder: str, progress, stages: int = 3):
    """Run ``stages`` stages; each is skipped when its file exists (resume), and waits for ``go<k>``."""
    root = Path(folder)
    with open(root / "runs.txt", "a") as f:
        f.write(f"{os.getpid()}\n")
    for k in range(stages):
        done = root / f"stage{k}.done"
        if done.exists():
            continue
        progress(k / stages, f"stage {k}")
        (root / f"at{k}").touch()
        _wait_for(root / f"go{k}")
        with open(root / "executed.txt", "a") as f:
            f.write(f"{k}\n")
        done.touch()
    progress(1.0, "all stages")
    return {"stages": stages}


def refuses(progress):
    raise InputError("the input is unusable: say how\nsecond line")
