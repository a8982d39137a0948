"""Reviewers as a team: claims keep their queues apart, and nobody's verdict is overwritten unseen."""

import datetime as dt
import multiprocessing

import pandas as pd
import pytest
from fiftyone import ViewField as F

from conftest import build_error_dataset

import _review_race as race
from analysis.label_errors.fo_adapter import load_candidates
from analysis.review import claims as review_claims
from analysis.review import exports as review_exports
from analysis.review import store as review
from analysis.review import tables as review_tables


@pytest.fixture
def ds(tmp_path):
    dataset = build_error_dataset(tmp_path, "review-team")
    review.prepare(dataset)
    return dataset


def test_two_processes_deciding_the_same_candidates_at_once(ds):
    """Reviewer A confirms and B dismisses every candidate, in two processes, each decision at the same moment."""
    candidates = load_candidates(ds)
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no copied database connections
    barrier, results = spawn.Barrier(2), spawn.Queue()
    procs = [spawn.Process(target=race.review_everything, args=("review-team", who, status, barrier, results))
             for who, status in (("reviewer A", "confirmed"), ("reviewer B", "dismissed"))]
    for p in procs:
        p.start()
    got = {who: (claimed, outcomes) for who, claimed, outcomes in (results.get(timeout=300) for _ in procs)}
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]

    # Claims taken at the same moment: every candidate went to exactly one reviewer.
    claimed_a, claimed_b = set(got["reviewer A"][0]), set(got["reviewer B"][0])
    assert not claimed_a & claimed_b and claimed_a | claimed_b == set(candidates["label_id"])

    # Each label got exactly one stored decision; the other reviewer was told whose and was not stored over.
    outcomes = pd.DataFrame([(who, *o) for who, (_, rows) in got.items() for o in rows],
                            columns=["reviewer", "label_id", "outcome", "other", "message"])
    per_label = outcomes.pivot(index="label_id", columns="reviewer", values="outcome")
    assert len(per_label) == len(candidates)
    assert (per_label.apply(sorted, axis=1).map(tuple) == ("conflict", "stored")).all()
    history = review.history(ds)
    assert history.groupby("label_id").size().eq(1).all() and len(history) == len(candidates)
    current = review.decisions(ds).set_index("label_id")
    for row in outcomes[outcomes["outcome"] == "conflict"].itertuples():
        winner = "reviewer B" if row.reviewer == "reviewer A" else "reviewer A"
        verb = "dismissed" if winner == "reviewer B" else "confirmed"
        assert row.other == winner and row.message.startswith(f"{winner} {verb} this ")
        assert "s ago" in row.message and "not stored" in row.message
        assert current.loc[row.label_id, ["review_by", "review_status"]].tolist() == [winner, verb]
    assert set(outcomes["reviewer"]) == {"reviewer A", "reviewer B"}
    assert review_claims.claims(ds).empty  # a decision ends the claim


def test_a_conflict_is_kept_or_marked_disputed_and_disputes_are_filterable_and_exported(ds, tmp_path):
    cands = load_candidates(ds)
    low = cands[cands["error_type"] == "low_iou"].iloc[[0]]
    shown_to_a = review_tables.page_details(ds, low)
    shown_to_b = review_tables.page_details(ds, low)
    assert shown_to_a["review_version"].tolist() == [0]
    review.decide_many(ds, shown_to_b, "dismissed", "reviewer B")
    with pytest.raises(review.ReviewConflict, match=r"^reviewer B dismissed this \d+ s ago") as caught:
        review.decide_many(ds, shown_to_a, "confirmed", "reviewer A", "6 px off")
    assert review.decisions(ds).set_index("label_id").loc[low.label_id.iloc[0], "review_status"] == "dismissed"
    # "Keep theirs" stores nothing; "mark disputed" decides knowingly, on the version the conflict reported.
    conflict = caught.value.conflicts
    review.decide_many(ds, conflict, "disputed", "reviewer A", "6 px off", verdict="confirmed")
    label_id = low.label_id.iloc[0]
    current = review.decisions(ds).set_index("label_id")
    assert current.loc[label_id, ["review_status", "review_by"]].tolist() == ["disputed", "reviewer A"]
    last = review.history(ds).iloc[-1]
    assert (last["status"], last["by"], last["verdict"], last["comment"]) == (
        "disputed", "reviewer A", "confirmed", "6 px off")

    # In FiftyOne: a label tag and a saved view; in the page's table: a status to filter on.
    assert ds.count_label_tags() == {"error:disputed": 1}
    assert len(ds.load_saved_view(review.SAVED_VIEWS["disputed"]).filter_labels(
        "ground_truth", F("review_status") == "disputed")) == 1
    table = review_tables.review_table(review_tables.indexed_candidates(cands), review.decisions(ds))
    assert review_tables.filter_table(table, statuses=["disputed"])["label_id"].tolist() == [label_id]
    assert review_tables.progress_by_type(table).set_index("error_type").loc["low_iou", "disputed"] == 1

    # Exports: the history says who disputed with which verdict; the corrected COCO leaves the box alone.
    exported = pd.read_csv(__import__("io").StringIO(review_exports.decisions_export(ds, "csv")))
    assert exported[["status", "by", "verdict"]].values.tolist()[-1] == ["disputed", "reviewer A", "confirmed"]
    _, log = review_exports.write_corrected_coco(ds, tmp_path / "fixed.json")
    assert log.set_index("label_id").loc[label_id, ["applied", "note"]].tolist() == [
        False, "disputed: reviewers disagree, not applied"]
    assert review_exports.fix_summary(log) == "0 fixes applied, 0 not applicable, 1 disputed (left as they are)"


def test_own_decisions_in_another_tab_are_no_conflict(ds):
    row = load_candidates(ds).iloc[[0]]
    tab1, tab2 = review_tables.page_details(ds, row), review_tables.page_details(ds, row)
    review.decide_many(ds, tab1, "confirmed", "alice")
    assert review.decide_many(ds, tab2, "dismissed", "alice") == 1
    assert review.history(ds)["status"].tolist() == ["confirmed", "dismissed"]
    # without a version (the CLI, old callers) a decision is stored whatever happened before
    review.decide_many(ds, row[["label_field", "sample_id", "label_id"]], "confirmed", "bob")
    assert review.decisions(ds)["review_by"].tolist() == ["bob"]


def test_claims_keep_queues_apart_are_renewed_and_expire_when_idle(ds):
    cands = review_tables.indexed_candidates(load_candidates(ds))
    first, second = cands.iloc[[0]], cands.iloc[[1]]
    assert review_claims.claim_many(ds, first, "alice").empty
    assert review_claims.claim(ds, *first[["label_field", "sample_id", "label_id"]].iloc[0], "bob") == "alice"
    live = review_claims.claims(ds)
    assert live[["label_id", "claimed_by"]].values.tolist() == [[first.label_id.iloc[0], "alice"]]
    assert first.label_id.iloc[0] not in review_tables.unclaimed(cands, live, "bob").index  # bob's queue skips it
    assert len(review_tables.unclaimed(cands, live, "alice")) == len(cands)  # alice's own claim is in hers

    # alice moves on: her new candidate is claimed, the old one released
    review_claims.claim_many(ds, second, "alice")
    review_claims.release(ds, "alice", keep=second["label_id"])
    assert review_claims.claims(ds)["label_id"].tolist() == [second.label_id.iloc[0]]

    # an idle claim expires: taken 200 s ago, it is no longer live, and bob can take it
    long_ago = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(seconds=200)
    review_claims.claim_many(ds, second, "alice", now=long_ago)  # renewing from the past: it ended 20 s ago
    assert review_claims.claims(ds).empty
    assert review_claims.claim_many(ds, second, "bob").empty
    with pytest.raises(review.ReviewError, match="Enter your name"):
        review_claims.claim_many(ds, first, " ")


def test_ago_text_reads_like_people_talk():
    assert [review.ago_text(s) for s in (0.4, 20, 59, 61, 3 * 3600 + 5, 3 * 86400)] == [
        "0 s", "20 s", "59 s", "1 min", "3 h", "3 days"]


def test_moving_on_ends_the_claim_on_the_card_before_in_the_same_request(ds):
    cands = load_candidates(ds)
    first, second = cands.iloc[[0]], cands.iloc[[1]]
    review_claims.claim_many(ds, first, "alice")
    assert review_claims.claim_many(ds, second, "alice", release=first).empty
    assert review_claims.claims(ds)["label_id"].tolist() == [second.label_id.iloc[0]]
    # releasing a claim that is not (or no longer) yours changes nothing of the others'
    review_claims.claim_many(ds, first, "bob")
    assert review_claims.claim_many(ds, second, "alice", release=first).empty
    assert sorted(map(tuple, review_claims.claims(ds)[["label_id", "claimed_by"]].values.tolist())) == sorted(
        [(first.label_id.iloc[0], "bob"), (second.label_id.iloc[0], "alice")])
