"""How a background job (:mod:`analysis.core.jobs`) looks on a page: its bar, with the time left as measured."""

import streamlit as st


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def time_left(job) -> str:
    """The job's time left, from the rate observed so far in this run (never a fixed promise)."""
    return (f"about {duration(job.eta_s)} left at the rate measured so far" if job.eta_s is not None
            else "measuring the rate...")


def progress_bar(job) -> None:
    st.progress(job.fraction, f"{job.message} ({job.fraction:.0%}; {time_left(job)})")


def last_outcome(job) -> None:
    """Say why a job of these settings has no result: it failed (with its one-line reason) or was interrupted."""
    if job.state == "failed":
        st.error(f"The last run with these settings failed: {job.error}. Change the settings, or run it again.")
    elif job.state == "interrupted":
        st.warning("The last run with these settings was interrupted (the app or the machine stopped). Run it again.")
