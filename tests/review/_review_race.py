"""Reviewers in processes of their own, for the race tests (test_review_team.py, test_review_store.py).

Spawned processes import this module, not the test module: importing
conftest would give the process a database of its own instead of the test's.
"""


def review_everything(name: str, reviewer: str, status: str, barrier, results) -> None:
    """Claim every candidate, then decide each one with ``status``, in step with the other reviewer.

    Both processes pass ``barrier`` before claiming and again before each
    decision, after the candidate is on their screen (:func:`page_details`), so
    the two decisions on a label always overlap: both were shown the same
    state. Puts ``(reviewer, labels claimed, [(label_id, outcome, other reviewer, message)])``
    on ``results``.
    """
    from analysis.data import datasets
    from analysis.label_errors.fo_adapter import load_candidates
    from analysis.review import claims, store, tables

    ds = datasets.load(name)
    candidates = load_candidates(ds)
    barrier.wait(timeout=120)
    held_by_other = claims.claim_many(ds, candidates, reviewer)
    claimed = sorted(set(candidates["label_id"]) - set(held_by_other["label_id"]))
    outcomes = []
    for k in range(len(candidates)):
        shown = tables.page_details(ds, candidates.iloc[[k]])
        barrier.wait(timeout=120)
        try:
            store.decide_many(ds, shown, status, reviewer)
            outcomes.append((shown["label_id"].iloc[0], "stored", None, ""))
        except store.ReviewConflict as e:
            outcomes.append((shown["label_id"].iloc[0], "conflict", e.conflicts["by"].iloc[0], str(e)))
    results.put((reviewer, claimed, outcomes))


def decide_rounds(name: str, row: dict, reviewer: str, rounds: int, barrier) -> None:
    """After ``barrier``, decide one label ``rounds`` times: confirmed, dismissed, ... with comments ``round i``."""
    import pandas as pd

    from analysis.data import datasets
    from analysis.review import store

    ds = datasets.load(name)
    one = pd.DataFrame([row])
    barrier.wait(timeout=120)
    for i in range(rounds):
        store.decide_many(ds, one, ("confirmed", "dismissed")[i % 2], reviewer, f"round {i}")
