"""Background jobs that outlive the page, the browser tab and the app that started them.

A job is a call of a library function (``"module:function"`` with JSON-able
keyword arguments) run in a detached worker process. It keeps going when the
tab closes or the Streamlit server stops, and is started at most once per key:
the worker holds an exclusive lock on ``jobs/<key>/lock`` for its whole life,
so a second :func:`start` (another session, another tab, a restarted app) sees
it running and only reads its status.

The function gets ``progress(fraction, message)``; each call is written
atomically to ``jobs/<key>/status.json``, which :func:`status` reads, with a
time estimate from the rate observed so far in this run. Resuming is the
function's own business: it keeps what each finished stage produced (on disk)
and skips it when called again, so starting a job again after a crash or a
kill continues from its last finished stage.

Files under ``data_home()/jobs/<key>/``: ``spec.json`` (what to run),
``status.json``, ``log.txt`` (the worker's output, tracebacks included).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import importlib
import json
import os
import select
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from analysis.core.errors import InputError
from analysis.core.files import data_home, write_atomic

#: Seconds :func:`start` waits for a new worker to take its lock.
START_TIMEOUT_S = 60
#: Progress is written at most this often (seconds), and always at fraction 0 and 1.
WRITE_EVERY_S = 0.5


@dataclass(frozen=True)
class JobStatus:
    """What a job is doing. ``state``: ``none`` (never started), ``running``, ``done``, ``failed`` or
    ``interrupted`` (its worker died: killed, or the machine restarted; starting it again resumes).

    ``fraction`` in [0, 1]; ``eta_s``: seconds left at the rate observed in this run (None until it can be
    measured); ``elapsed_s``: seconds since this run started; ``result``: what the function returned.
    """

    key: str
    state: str
    fraction: float = 0.0
    message: str = ""
    elapsed_s: float | None = None
    eta_s: float | None = None
    error: str | None = None
    result: object = None
    pid: int | None = None

    @property
    def active(self) -> bool:
        return self.state == "running"


def _dir(key: str) -> Path:
    if not key or not all(c.isalnum() or c in "-_." for c in key):
        raise InputError(f"A job key is letters, digits, '-', '_' and '.', got {key!r}.")
    path = data_home() / "jobs" / key
    path.mkdir(parents=True, exist_ok=True)
    return path


def _now() -> float:
    return time.time()


def _held(lock_path: Path) -> bool:
    """Whether a live worker holds ``lock_path`` (a lock we can take is nobody's)."""
    with open(lock_path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def status(key: str) -> JobStatus:
    """The job's status now (see :class:`JobStatus`)."""
    folder = _dir(key)
    raw = _read(folder / "status.json")
    if not raw:
        return JobStatus(key, "running" if _held(folder / "lock") else "none")
    state = raw.get("state", "none")
    if state == "running" and not _held(folder / "lock"):
        state = "interrupted"
    now = _now()
    elapsed = now - raw["run_started_at"] if raw.get("run_started_at") else None
    eta = seconds_left(raw, now) if state == "running" else None
    return JobStatus(key, state, raw.get("fraction", 0.0), raw.get("message", ""), elapsed, eta, raw.get("error"),
                     raw.get("result"), raw.get("pid"))


def seconds_left(raw: dict, now: float) -> float | None:
    """Seconds a running job still needs at the rate observed in this run, or None until it can be measured.

    ``raw``: the status file (``fraction`` and ``updated_at`` now, ``first_fraction`` and ``first_at`` when
    this run first reported: a resumed run starts part way). Measured after at least 1% and 2 s of progress.
    """
    f, f0, t0, t = raw.get("fraction", 0.0), raw.get("first_fraction"), raw.get("first_at"), raw.get("updated_at")
    if f0 is None or t is None or f - f0 < 0.01 or t - t0 < 2:
        return None
    rate = (f - f0) / (t - t0)  # fraction per second
    return max(0.0, (1 - f) / rate - (now - t))


def start(key: str, target: str, **kwargs) -> JobStatus:
    """Run ``target`` (``"package.module:function"``) with ``kwargs`` as job ``key``, unless it runs already.

    Returns the status once the worker runs (or the running job's status).
    A job that is done is not run again: call :func:`forget` first to redo
    it. Raises :class:`InputError` when the worker cannot start.
    """
    folder = _dir(key)
    with open(folder / "start.lock", "a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # two sessions starting at once: one starts, the other sees it running
        current = status(key)
        if current.state in ("running", "done"):
            return current
        write_atomic(folder / "spec.json", json.dumps({"target": target, "kwargs": kwargs}))
        ready_r, ready_w = os.pipe()
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
                   LABELDASH_JOB_READY_FD=str(ready_w), LABELDASH_HOME=str(data_home()))
        with open(folder / "log.txt", "ab") as log:
            subprocess.Popen([sys.executable, "-m", "analysis.core.jobs", key], cwd=root, env=env,
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             pass_fds=(ready_w,), start_new_session=True)  # its own session: survives the app
        os.close(ready_w)
        try:
            ready, _, _ = select.select([ready_r], [], [], START_TIMEOUT_S)
            ok = bool(ready) and os.read(ready_r, 1) == b"1"
        finally:
            os.close(ready_r)
        if not ok:
            raise InputError(f"The background job {key!r} did not start within {START_TIMEOUT_S} s; see "
                             f"{folder / 'log.txt'}.")
        return status(key)


def keys() -> list[str]:
    """Every job this data folder has seen."""
    root = data_home() / "jobs"
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def forget(key: str) -> None:
    """Drop a finished, failed or interrupted job's status, so that :func:`start` runs it anew."""
    folder = _dir(key)
    if _held(folder / "lock"):
        raise InputError(f"The job {key!r} is running; wait for it or cancel it first.")
    (folder / "status.json").unlink(missing_ok=True)


def cancel(key: str) -> None:
    """Stop a running job (its worker ends; its finished stages stay for a later start)."""
    st = status(key)
    if st.state == "running" and st.pid:
        try:
            os.killpg(st.pid, 15)
        except ProcessLookupError:
            pass


class _Reporter:
    """The worker's ``progress`` callback: atomic, throttled status writes."""

    def __init__(self, folder: Path, pid: int):
        self.path, self.last = folder / "status.json", 0.0
        self.doc = {"state": "running", "pid": pid, "fraction": 0.0, "message": "Starting",
                    "run_started_at": _now(), "first_fraction": None, "first_at": None}

    def write(self, **changes) -> None:
        self.doc.update(changes, updated_at=_now())
        write_atomic(self.path, json.dumps(self.doc))

    def __call__(self, fraction: float, message: str) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        now = _now()
        if self.doc["first_fraction"] is None:
            self.doc.update(first_fraction=fraction, first_at=now)
        if now - self.last >= WRITE_EVERY_S or fraction in (0.0, 1.0):
            self.last = now
            self.write(fraction=fraction, message=str(message))
        else:
            self.doc.update(fraction=fraction, message=str(message))


def _work(key: str) -> int:
    """The worker: take the lock (or leave: another worker has it), signal ready, run, record the outcome."""
    folder = _dir(key)
    lock = open(folder / "lock", "a")
    ready_fd = int(os.environ.pop("LABELDASH_JOB_READY_FD", "-1"))
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if ready_fd >= 0:
            os.write(ready_fd, b"1")  # the job runs: what the caller wanted
        return 0
    spec = json.loads((folder / "spec.json").read_text())
    report = _Reporter(folder, os.getpid())
    report.write()
    if ready_fd >= 0:
        os.write(ready_fd, b"1")
        os.close(ready_fd)
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M:%S} job {key}: {spec['target']}", flush=True)
    try:
        module, function = spec["target"].split(":")
        result = getattr(importlib.import_module(module), function)(**spec["kwargs"], progress=report)
    except InputError as e:
        report.write(state="failed", error=str(e).splitlines()[0] if str(e) else type(e).__name__)
        return 2
    except BaseException as e:  # noqa: BLE001 - every failure is recorded, with its traceback in the log
        traceback.print_exc()
        report.write(state="failed", error=f"{type(e).__name__}: {e}"[:500])
        return 1
    report.write(state="done", fraction=1.0, message="Done", result=result)
    return 0


if __name__ == "__main__":
    sys.exit(_work(sys.argv[1]))
