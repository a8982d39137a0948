"""Reviewers' claims on label-error candidates: who has which candidate open right now, kept in FiftyOne.

A claim lives on the label, like the decisions (:mod:`analysis.review.store`): label fields
``review_claim_by`` and ``review_claim_until`` (UTC), filterable in the App. Each reviewer's queue skips
the candidates another reviewer has claimed (:func:`unclaimed`); a claim is taken or renewed by one
conditional update per label, so two reviewers opening a candidate at the same moment never both get
it, and it ends with the reviewer's decision, with :func:`release`, or :data:`CLAIM_SECONDS` after
the reviewer's last action (an idle reviewer).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from analysis.data import fo_store
from analysis.review.store import (CLAIM_FIELDS, CLAIM_SECONDS, check_reviewer, label_fields, label_states,
                                   label_update, lit, now_ms, reviewed_labels, write_labels)

CLAIM_COLUMNS = ["label_field", "sample_id", "label_id", "claimed_by", "claimed_until"]


def claim_many(dataset, items: pd.DataFrame, reviewer: str, *, release: pd.DataFrame | None = None,
               seconds: float = CLAIM_SECONDS, now: dt.datetime | None = None) -> pd.DataFrame:
    """Claim the labels of ``items`` for ``reviewer`` for ``seconds`` from ``now`` (renewing their own claims).

    A claim tells other reviewers' queues to skip the label while this
    reviewer has it open; it ends with the reviewer's decision on it, with
    :func:`release`, or ``seconds`` after the last claim (an idle reviewer).
    Each label is claimed by one atomic update that succeeds only when the
    label has no live claim of someone else, so two reviewers claiming at
    once never both get it. ``release``: labels (same columns) whose claims
    of this reviewer end in the same request (the card they move on from).

    Returns the labels that another reviewer holds (:data:`CLAIM_COLUMNS`),
    empty when every claim is this reviewer's now.
    """
    reviewer = check_reviewer(reviewer, "opening candidates: a claim records who has them open")
    if items.empty:
        return pd.DataFrame(columns=CLAIM_COLUMNS)
    now = now or now_ms()
    free = {"$or": [{"review_claim_until": {"$not": {"$gt": now}}}, {"review_claim_by": reviewer}]}
    claimed = {"review_claim_by": lit(reviewer), "review_claim_until": lit(now + dt.timedelta(seconds=seconds))}
    ended = {name: lit(None) for name in CLAIM_FIELDS}
    rows = items[["label_field", "sample_id", "label_id"]]
    ops = [label_update(f, s, lid, claimed, free) for f, s, lid in rows.itertuples(index=False)]
    if release is not None:
        ops += [label_update(f, s, lid, ended, {"review_claim_by": reviewer})
                for f, s, lid in release[["label_field", "sample_id", "label_id"]].itertuples(index=False)]
    if write_labels(dataset, ops) == len(ops):
        return pd.DataFrame(columns=CLAIM_COLUMNS)
    states = label_states(dataset, rows)  # something did not match: whose are the claims now?
    held = [{"label_field": f, "sample_id": s, "label_id": lid, "claimed_by": st["review_claim_by"],
             "claimed_until": st["review_claim_until"]}
            for f, s, lid in rows.itertuples(index=False)
            if (st := states.get(lid)) and st["review_claim_by"] not in (None, reviewer)]
    return pd.DataFrame(held, columns=CLAIM_COLUMNS)


def claim(dataset, label_field: str, sample_id: str, label_id: str, reviewer: str, **kwargs) -> str | None:
    """Claim one label (see :func:`claim_many`); None when it is ``reviewer``'s now, else who holds it."""
    held = claim_many(dataset, pd.DataFrame([{"label_field": label_field, "sample_id": sample_id,
                                              "label_id": label_id}]), reviewer, **kwargs)
    return None if held.empty else held["claimed_by"].iloc[0]


def release(dataset, reviewer: str, keep=()) -> None:
    """End ``reviewer``'s claims, except on the label ids in ``keep`` (e.g. the candidate now open)."""
    from bson import ObjectId

    reviewer = check_reviewer(reviewer, "releasing claims")
    keep = [ObjectId(k) for k in keep]
    mine = {"$and": [{"$eq": ["$$d.review_claim_by", lit(reviewer)]}, {"$not": [{"$in": ["$$d._id", keep]}]}]}
    for field in label_fields(dataset):
        path = f"{field}.detections"
        new_label = {"$cond": [mine, {"$mergeObjects": ["$$d", {k: None for k in CLAIM_FIELDS}]}, "$$d"]}
        fo_store.update_many(dataset,
            {path: {"$elemMatch": {"review_claim_by": reviewer, "review_claim_until": {"$gt": now_ms()},
                                   "_id": {"$nin": keep}}}},
            [{"$set": {path: {"$map": {"input": f"${path}", "as": "d", "in": new_label}}}}])


def claims(dataset, now: dt.datetime | None = None) -> pd.DataFrame:
    """Live claims at ``now`` (default: now), one row per claimed label (:data:`CLAIM_COLUMNS`)."""
    rows = []
    for field in label_fields(dataset):
        rows += reviewed_labels(dataset, field, {"review_claim_until": {"$gt": now or now_ms()}},
                                 {"claimed_by": "$d.review_claim_by", "claimed_until": "$d.review_claim_until"})
    return pd.DataFrame(rows, columns=["label_field", "sample_id", "label_id", "label", "claimed_by",
                                       "claimed_until"])[CLAIM_COLUMNS]
