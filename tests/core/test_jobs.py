"""Background jobs through real worker processes: once per key, surviving their starter, resuming after a kill."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from analysis.core import jobs

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _targets_importable(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))


def _until(predicate, timeout_s=60):
    """Wait for a condition the job makes true (status files, marker files)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_a_job_runs_reports_progress_and_records_its_result(tmp_path):
    st = jobs.start("t-basic", "job_targets:staged", folder=str(tmp_path), stages=2)
    assert st.state == "running" and st.pid
    _until(lambda: (tmp_path / "at0").exists())
    _until(lambda: jobs.status("t-basic").message == "stage 0")
    (tmp_path / "go0").touch()
    _until(lambda: (tmp_path / "at1").exists())
    (tmp_path / "go1").touch()
    _until(lambda: jobs.status("t-basic").state == "done")
    done = jobs.status("t-basic")
    assert done.fraction == 1.0 and done.result == {"stages": 2} and done.error is None
    assert jobs.start("t-basic", "job_targets:staged", folder=str(tmp_path)).state == "done"  # not run again
    assert (tmp_path / "runs.txt").read_text().count("\n") == 1


def test_concurrent_starts_run_one_worker(tmp_path):
    barrier = threading.Barrier(4)
    states = []

    def starter():
        barrier.wait()  # all four call start() at the same moment
        states.append(jobs.start("t-once", "job_targets:staged", folder=str(tmp_path), stages=1).state)

    threads = [threading.Thread(target=starter) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert states == ["running"] * 4
    (tmp_path / "go0").touch()
    _until(lambda: jobs.status("t-once").state == "done")
    assert (tmp_path / "runs.txt").read_text().count("\n") == 1


def test_the_job_outlives_the_process_that_started_it(tmp_path):
    code = ("import sys; sys.path.insert(0, %r); from analysis.core import jobs; "
            "print(jobs.start('t-orphan', 'job_targets:staged', folder=%r, stages=1).pid)"
            % (str(Path(jobs.__file__).resolve().parents[2]), str(tmp_path)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ)
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.strip().splitlines()[-1])
    assert jobs.status("t-orphan").state == "running"  # its starter has exited
    (tmp_path / "go0").touch()
    _until(lambda: jobs.status("t-orphan").state == "done")
    assert jobs.status("t-orphan").pid == pid


def test_a_killed_job_shows_interrupted_and_resumes_at_its_last_finished_stage(tmp_path):
    st = jobs.start("t-kill", "job_targets:staged", folder=str(tmp_path), stages=3)
    (tmp_path / "go0").touch()
    _until(lambda: (tmp_path / "at1").exists())  # stage 0 finished, stage 1 waiting
    os.kill(st.pid, signal.SIGKILL)
    _until(lambda: jobs.status("t-kill").state == "interrupted")
    again = jobs.start("t-kill", "job_targets:staged", folder=str(tmp_path), stages=3)
    assert again.state == "running" and again.pid != st.pid
    (tmp_path / "go1").touch()
    (tmp_path / "go2").touch()
    _until(lambda: jobs.status("t-kill").state == "done")
    assert (tmp_path / "executed.txt").read_text().split() == ["0", "1", "2"]  # stage 0 ran once


def test_a_failing_job_says_why_in_one_line():
    jobs.start("t-fail", "job_targets:refuses")
    _until(lambda: jobs.status("t-fail").state == "failed")
    assert jobs.status("t-fail").error == "the input is unusable: say how"
    jobs.forget("t-fail")
    assert jobs.status("t-fail").state == "none"


def test_bad_keys_are_refused():
    with pytest.raises(jobs.InputError, match="job key"):
        jobs.status("../escape")


def test_the_estimate_comes_from_the_rate_observed_in_this_run():
    # resumed at 20% at t=100, at 40% at t=110: 20% per 10 s, so the remaining 60% take 30 s
    raw = {"fraction": 0.4, "first_fraction": 0.2, "first_at": 100.0, "updated_at": 110.0}
    assert jobs.seconds_left(raw, now=110.0) == pytest.approx(30.0)
    assert jobs.seconds_left(raw, now=115.0) == pytest.approx(25.0)  # time since the last report counts
    assert jobs.seconds_left({**raw, "fraction": 0.2}, now=110.0) is None  # no progress yet: no guess
    assert jobs.seconds_left({**raw, "updated_at": 101.0}, now=101.0) is None  # too early to measure
