"""Reviewers' decisions on label-error candidates, kept in FiftyOne.

A reviewer confirms or dismisses each candidate that
:func:`analysis.label_errors.fo_adapter.find_label_errors` wrote onto a label. The
decision lives on that label (a GT detection, or a predicted detection for
``missing``), where FiftyOne users look for it:

* label fields ``review_status`` (``confirmed`` / ``dismissed``; None while
  pending), ``review_by``, ``review_at`` (UTC), ``review_comment``, and
  ``review_history``: every decision ever made on the label, with who, when,
  the comment and a snapshot of the candidate it concerned (type, score,
  supporting label), so nothing is lost when a later run of the engine no
  longer flags the label;
* label tags ``error:confirmed`` / ``error:dismissed``, which the App's
  label-tag filter shows;
* saved views ``label-errors-pending`` / ``-confirmed`` / ``-dismissed``.

Why decisions are safe: each decision is ONE MongoDB update of the sample
document that rewrites only the decided label inside its detections array (an
update pipeline; MongoDB applies single-document updates atomically). Two
reviewers deciding different labels of one image at the same time both land;
two decisions on the same label both stay in its history and the later one
sets the status. Nothing is buffered in the app: a decision is in the database
when :func:`decide` returns, so reloads, restarts and a killed server lose
nothing. User text (names, comments) travels as ``$literal`` values, so a
comment such as ``"$100"`` is never read as a field path.

The pure tables built on these decisions are in :mod:`analysis.review.tables`, the
exports in :mod:`analysis.review.exports`; FiftyOne I/O happens here, in bulk.

Command line: ``python -m analysis.review --help``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

import analysis  # noqa: F401  (FiftyOne environment defaults)
from analysis.core.errors import InputError
from analysis.data import fo_store
from analysis.label_errors.fo_adapter import RUN_KEY

STATUSES = ("confirmed", "dismissed")


PENDING = "pending"


TAGS = {"confirmed": "error:confirmed", "dismissed": "error:dismissed"}


REVIEW_FIELDS = ("review_status", "review_by", "review_at", "review_comment")


SAVED_VIEWS = {"pending": "label-errors-pending", "confirmed": "label-errors-confirmed",
               "dismissed": "label-errors-dismissed"}


MAX_NAME, MAX_COMMENT = 100, 2000


DECISION_COLUMNS = ["label_field", "sample_id", "label_id", "label", "review_status", "review_by",
                    "review_at", "review_comment", "error_type"]


HISTORY_COLUMNS = ["label_field", "sample_id", "label_id", "label", "status", "by", "at", "comment",
                   "error_type", "error_score", "error_match_id"]


class ReviewError(InputError):
    """A decision cannot be stored (no reviewer name, unknown status, label gone...)."""


def label_fields(dataset) -> tuple[str, str]:
    """``(gt_field, pred_field)`` of the latest label-error run; ReviewError when there is none."""
    if RUN_KEY not in dataset.list_runs():
        raise ReviewError(f"Dataset '{dataset.name}' has no label-error results yet: run "
                          "'Find label errors' (or python -m analysis.label_errors_fo) first.")
    config = dataset.get_run_info(RUN_KEY).config
    return config.gt_field, config.pred_field


def run_finished_at(dataset) -> str | None:
    """When the latest label-error run finished (ISO time); a cache key for its candidates."""
    if RUN_KEY not in dataset.list_runs():
        return None
    return dataset.load_run_results(RUN_KEY).finished_at


def prepare(dataset) -> None:
    """Declare the review fields, index the status and save the review views (idempotent).

    Declared fields make the decisions filterable in the App's sidebar even
    before the first decision; the index keeps reading decisions fast on
    large datasets.
    """
    import fiftyone as fo
    from fiftyone import ViewField as F

    schema = dataset.get_field_schema(flat=True)
    fields = label_fields(dataset)
    kinds = {"review_status": fo.StringField, "review_by": fo.StringField, "review_at": fo.DateTimeField,
             "review_comment": fo.StringField}
    for field in fields:
        for name, kind in kinds.items():
            if f"{field}.detections.{name}" not in schema:
                dataset.add_sample_field(f"{field}.detections.{name}", kind)
        if f"{field}.detections.review_history" not in schema:
            dataset.add_sample_field(f"{field}.detections.review_history", fo.ListField, subfield=fo.DictField)
        dataset.create_index(f"{field}.detections.review_status")
    views = {
        "pending": dataset.match_labels(
            filter=(F("error_type") != None) & (F("review_status") == None), fields=list(fields)),  # noqa: E711
        **{s: dataset.match_labels(tags=TAGS[s], fields=list(fields)) for s in STATUSES},
    }
    existing = set(dataset.list_saved_views())
    for status, view in views.items():
        if SAVED_VIEWS[status] not in existing:
            dataset.save_view(SAVED_VIEWS[status], view,
                              description=f"Label-error candidates {status} by reviewers (labeldash)")


def _check_decision(status: str, reviewer: str, comment: str | None) -> tuple[str, str | None]:
    if status not in (*STATUSES, PENDING):
        raise ReviewError(f"Unknown review status '{status}': use confirmed, dismissed or pending (undo).")
    reviewer = (reviewer or "").strip()
    if not reviewer:
        raise ReviewError("Enter your name before deciding: every decision records who made it.")
    if len(reviewer) > MAX_NAME:
        raise ReviewError(f"The reviewer name is longer than {MAX_NAME} characters.")
    comment = (comment or "").strip() or None
    if comment and len(comment) > MAX_COMMENT:
        raise ReviewError(f"The comment is longer than {MAX_COMMENT} characters.")
    return reviewer, comment


def _decision_update(label_id: str, status: str, reviewer: str, comment: str | None, now: dt.datetime) -> list:
    """The update pipeline that rewrites only label ``label_id`` of a detections array.

    ``$map`` runs on the stored array at write time, so concurrent decisions
    on other labels of the same sample are never overwritten.
    """
    from bson import ObjectId

    def lit(v):
        return {"$literal": v}

    d = "$$d"
    entry = {"status": lit(status), "by": lit(reviewer), "at": lit(now), "comment": lit(comment),
             "error_type": f"{d}.error_type", "error_score": f"{d}.error_score",
             "error_match_id": f"{d}.error_match_id"}
    other_tags = {"$setDifference": [{"$ifNull": [f"{d}.tags", []]}, list(TAGS.values())]}
    decided = status in STATUSES
    changes = {
        "tags": {"$concatArrays": [other_tags, [TAGS[status]]]} if decided else other_tags,
        "review_history": {"$concatArrays": [{"$ifNull": [f"{d}.review_history", []]}, [entry]]},
        "review_status": lit(status if decided else None),
        "review_by": lit(reviewer if decided else None),
        "review_at": lit(now if decided else None),
        "review_comment": lit(comment if decided else None),
    }
    return ObjectId(label_id), {"$cond": [{"$eq": [f"{d}._id", ObjectId(label_id)]},
                                          {"$mergeObjects": [d, changes]}, d]}


def _update_op(label_field: str, sample_id: str, label_id: str, status, reviewer, comment, now):
    from bson import ObjectId
    from pymongo import UpdateOne

    oid, new_label = _decision_update(label_id, status, reviewer, comment, now)
    path = f"{label_field}.detections"
    pipeline = [{"$set": {path: {"$map": {"input": f"${path}", "as": "d", "in": new_label}},
                          "last_modified_at": "$$NOW"}}]
    return UpdateOne({"_id": ObjectId(sample_id), f"{path}._id": oid}, pipeline)


def decide_many(dataset, items: pd.DataFrame, status: str, reviewer: str, comment: str | None = None) -> int:
    """Store one decision for each row of ``items`` (columns ``label_field, sample_id, label_id``).

    Args:
        status: ``confirmed``, ``dismissed`` or ``pending`` (undo: back to
            pending; the history keeps the undone decision).
        reviewer: the reviewer's name (required).
        comment: optional free text.

    Returns the number of labels decided. Each row is its own atomic update
    (sent together in one bulk request). Raises :class:`ReviewError` for bad
    input or when labels no longer exist (the others are stored).
    """
    reviewer, comment = _check_decision(status, reviewer, comment)
    if items.empty:
        return 0
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)  # FiftyOne keeps naive UTC
    ops = [_update_op(f, s, lid, status, reviewer, comment, now)
           for f, s, lid in items[["label_field", "sample_id", "label_id"]].itertuples(index=False)]
    from pymongo.errors import PyMongoError

    try:
        matched = fo_store.update_labels(dataset, ops, items["sample_id"])
    except PyMongoError as e:
        raise ReviewError(f"The database did not answer ({type(e).__name__}): the decision may not be stored. "
                          "Try again when it is back (deciding again is safe).") from None
    if matched < len(ops):
        raise ReviewError(f"{len(ops) - matched} of {len(ops)} labels no longer exist in "
                          f"'{dataset.name}' (deleted or re-imported); the other decisions are stored.")
    return matched


def decide(dataset, label_field: str, sample_id: str, label_id: str, status: str, reviewer: str,
           comment: str | None = None) -> None:
    """Store one decision on one label (see :func:`decide_many`)."""
    decide_many(dataset, pd.DataFrame([{"label_field": label_field, "sample_id": sample_id,
                                        "label_id": label_id}]), status, reviewer, comment)


def reviewed_labels(dataset, field: str, match: dict, project: dict) -> list[dict]:
    """Raw aggregation over the labels of ``field`` that satisfy ``match`` (uses the status index)."""
    path = f"{field}.detections"
    pipeline = [
        {"$match": {f"{path}.{k}": v for k, v in match.items()}},
        {"$project": {"d": f"${path}"}},
        {"$unwind": "$d"},
        {"$match": {f"d.{k}": v for k, v in match.items()}},
        {"$project": {"_id": 0, "sample_id": {"$toString": "$_id"}, "label_id": {"$toString": "$d._id"},
                      "label": "$d.label", **project}},
    ]
    return [dict(r, label_field=field) for r in fo_store.aggregate(dataset, pipeline)]


def decisions(dataset) -> pd.DataFrame:
    """Current decisions: one row per decided label (:data:`DECISION_COLUMNS`)."""
    rows = []
    for field in label_fields(dataset):
        rows += reviewed_labels(dataset, field, {"review_status": {"$in": list(STATUSES)}},
                                 {**{k: f"$d.{k}" for k in REVIEW_FIELDS}, "error_type": "$d.error_type"})
    return pd.DataFrame(rows, columns=DECISION_COLUMNS)


def history(dataset) -> pd.DataFrame:
    """Every decision ever stored, oldest first (:data:`HISTORY_COLUMNS`): who decided what, when."""
    rows = []
    for field in label_fields(dataset):
        for r in reviewed_labels(dataset, field, {"review_history.0": {"$exists": True}},
                                  {"h": "$d.review_history"}):
            rows += [{**{k: r[k] for k in ("label_field", "sample_id", "label_id", "label")}, **h}
                     for h in r.pop("h")]
    out = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    return out.sort_values("at", kind="stable").reset_index(drop=True)
