"""Reviewers' decisions on label-error candidates, kept in FiftyOne.

A reviewer confirms or dismisses each candidate that
:func:`analysis.label_errors.fo_adapter.find_label_errors` wrote onto a label. The
decision lives on that label (a GT detection, or a predicted detection for
``missing``), where FiftyOne users look for it:

* label fields ``review_status`` (``confirmed`` / ``dismissed`` / ``disputed``;
  None while pending), ``review_by``, ``review_at`` (UTC), ``review_comment``,
  ``review_box`` (a corrected box the reviewer drew with a confirmation, in
  the label's relative ``[x, y, w, h]``; None otherwise), and
  ``review_history``: every decision ever made on the label, with who, when,
  the comment, the box drawn and a snapshot of the candidate it concerned
  (type, score, supporting label), so nothing is lost when a later run of the
  engine no longer flags the label;
* label tags ``error:confirmed`` / ``error:dismissed`` / ``error:disputed``,
  which the App's label-tag filter shows;
* saved views ``label-errors-pending`` / ``-confirmed`` / ``-dismissed`` / ``-disputed``.

Why decisions are safe: each decision is ONE MongoDB update of the sample
document that rewrites only the decided label inside its detections array (an
update pipeline; MongoDB applies single-document updates atomically). Two
reviewers deciding different labels of one image at the same time both land;
two decisions on the same label both stay in its history and the later one
sets the status, unless the decision carries the label's version as shown
(``review_version``): then a label that another reviewer decided since is
not stored over (:class:`ReviewConflict`), and the reviewer chooses to keep
that verdict or mark the label ``disputed``. Nothing is buffered in the app: a decision is in the database
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
from analysis.review import box_fix

VERDICTS = ("confirmed", "dismissed")
DISPUTED = "disputed"
STATUSES = (*VERDICTS, DISPUTED)
PENDING = "pending"
TAGS = {s: f"error:{s}" for s in STATUSES}
REVIEW_FIELDS = ("review_status", "review_by", "review_at", "review_comment", "review_box")
CLAIM_FIELDS = ("review_claim_by", "review_claim_until")
#: A claim lasts this long after the reviewer's last action on the candidate (seconds).
CLAIM_SECONDS = 180
SAVED_VIEWS = {"pending": "label-errors-pending", **{s: f"label-errors-{s}" for s in STATUSES}}
MAX_NAME, MAX_COMMENT = 100, 2000
DECISION_COLUMNS = ["label_field", "sample_id", "label_id", "label", "review_status", "review_by",
                    "review_at", "review_comment", "review_box", "error_type"]
HISTORY_COLUMNS = ["label_field", "sample_id", "label_id", "label", "status", "by", "at", "comment",
                   "error_type", "error_score", "error_match_id", "verdict", "box"]
_DONE = {"confirmed": "confirmed", "dismissed": "dismissed", DISPUTED: "marked as disputed",
         PENDING: "set back to pending"}


class ReviewError(InputError):
    """A decision cannot be stored (no reviewer name, unknown status, label gone...)."""


class ReviewConflict(ReviewError):
    """Some labels were decided by another reviewer since they were shown: those decisions were not stored.

    ``conflicts`` has one row per label not stored: ``label_field, sample_id,
    label_id``, the other reviewer's latest entry (``by, status, at``) and
    ``review_version``, the label's history length now (pass it back to
    decide again knowingly, e.g. to mark the label disputed). ``stored``
    counts the decisions that were stored.
    """

    def __init__(self, message: str, conflicts: pd.DataFrame, stored: int):
        super().__init__(message)
        self.conflicts, self.stored = conflicts, stored


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
    """Declare the review and claim fields, index them and save the review views (idempotent).

    Declared fields make the decisions filterable in the App's sidebar even
    before the first decision; the indexes keep reading decisions and live
    claims fast on large datasets.
    """
    import fiftyone as fo
    from fiftyone import ViewField as F

    schema = dataset.get_field_schema(flat=True)
    fields = label_fields(dataset)
    kinds = {"review_status": fo.StringField, "review_by": fo.StringField, "review_at": fo.DateTimeField,
             "review_comment": fo.StringField, "review_claim_by": fo.StringField,
             "review_claim_until": fo.DateTimeField}
    for field in fields:
        for name, kind in kinds.items():
            if f"{field}.detections.{name}" not in schema:
                dataset.add_sample_field(f"{field}.detections.{name}", kind)
        if f"{field}.detections.review_history" not in schema:
            dataset.add_sample_field(f"{field}.detections.review_history", fo.ListField, subfield=fo.DictField)
        if f"{field}.detections.review_box" not in schema:
            dataset.add_sample_field(f"{field}.detections.review_box", fo.ListField, subfield=fo.FloatField)
        dataset.create_index(f"{field}.detections.review_status")
        dataset.create_index(f"{field}.detections.review_claim_until")
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
        raise ReviewError(f"Unknown review status '{status}': use confirmed, dismissed, disputed or pending (undo).")
    reviewer = check_reviewer(reviewer, "deciding: every decision records who made it")
    comment = (comment or "").strip() or None
    if comment and len(comment) > MAX_COMMENT:
        raise ReviewError(f"The comment is longer than {MAX_COMMENT} characters.")
    return reviewer, comment


def check_reviewer(reviewer: str, why: str) -> str:
    reviewer = (reviewer or "").strip()
    if not reviewer:
        raise ReviewError(f"Enter your name before {why}.")
    if len(reviewer) > MAX_NAME:
        raise ReviewError(f"The reviewer name is longer than {MAX_NAME} characters.")
    return reviewer


def now_ms() -> dt.datetime:
    """UTC now as FiftyOne keeps it (naive), to the millisecond BSON stores."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def lit(v):
    # user text as a value, never a field path or operator ("$100")
    return {"$literal": v}


def label_update(label_field: str, sample_id: str, label_id: str, changes: dict, element: dict | None = None):
    """One atomic update of one label inside its sample's detections array.

    ``changes`` maps label attributes to aggregation expressions (``$$d`` is
    the stored label); ``element`` adds conditions the stored label must meet
    (a query on the array element), else nothing is written. ``$map`` runs on
    the stored array at write time, so concurrent updates of other labels of
    the same sample are never overwritten.
    """
    from bson import ObjectId
    from pymongo import UpdateOne

    oid = ObjectId(label_id)
    path = f"{label_field}.detections"
    new_label = {"$cond": [{"$eq": ["$$d._id", oid]}, {"$mergeObjects": ["$$d", changes]}, "$$d"]}
    pipeline = [{"$set": {path: {"$map": {"input": f"${path}", "as": "d", "in": new_label}},
                          "last_modified_at": "$$NOW"}}]
    return UpdateOne({"_id": ObjectId(sample_id), path: {"$elemMatch": {"_id": oid, **(element or {})}}}, pipeline)


def _decision_changes(status: str, reviewer: str, comment: str | None, now: dt.datetime,
                      verdict: str | None, box: list[float] | None = None) -> dict:
    """The label's new review fields, tags and history entry; the decision ends the label's claim.

    ``review_box`` is the box of this decision: a later decision without one clears it (the history keeps it).
    """
    d = "$$d"
    entry = {"status": lit(status), "by": lit(reviewer), "at": lit(now), "comment": lit(comment),
             "error_type": f"{d}.error_type", "error_score": f"{d}.error_score",
             "error_match_id": f"{d}.error_match_id", "verdict": lit(verdict), "box": lit(box)}
    other_tags = {"$setDifference": [{"$ifNull": [f"{d}.tags", []]}, list(TAGS.values())]}
    decided = status in STATUSES
    return {
        "tags": {"$concatArrays": [other_tags, [TAGS[status]]]} if decided else other_tags,
        "review_history": {"$concatArrays": [{"$ifNull": [f"{d}.review_history", []]}, [entry]]},
        "review_status": lit(status if decided else None),
        "review_by": lit(reviewer if decided else None),
        "review_at": lit(now if decided else None),
        "review_comment": lit(comment if decided else None),
        "review_box": lit(box),
        **{name: lit(None) for name in CLAIM_FIELDS},
    }


def write_labels(dataset, ops, sample_ids=None) -> int:
    """Send label updates in one unordered request; the number of labels matched (see
    :func:`analysis.data.fo_store.update_labels`). A database that does not answer is a ReviewError."""
    from pymongo.errors import PyMongoError

    try:
        return fo_store.update_labels(dataset, ops, sample_ids)
    except PyMongoError as e:
        raise ReviewError(f"The database did not answer ({type(e).__name__}): the decision may not be stored. "
                          "Try again when it is back (deciding again is safe).") from None


def label_states(dataset, items: pd.DataFrame) -> dict[str, dict]:
    """The stored review state of the labels in ``items`` (``label_field, sample_id, label_id``), read now.

    Returns ``{label_id: {"history": [...], "review_status", "review_by",
    "review_at", "review_comment", "review_claim_by", "review_claim_until"}}``; labels that no
    longer exist are absent. ``len(history)`` is the label's review version.
    """
    from bson import ObjectId

    out = {}
    for field, rows in items.groupby("label_field", observed=True):
        path = f"{field}.detections"
        lids = [ObjectId(x) for x in rows["label_id"]]
        pipeline = [
            {"$match": {"_id": {"$in": [ObjectId(x) for x in set(rows["sample_id"])]}}},
            {"$project": {"d": f"${path}"}}, {"$unwind": "$d"}, {"$match": {"d._id": {"$in": lids}}},
            {"$project": {"_id": 0, "label_id": {"$toString": "$d._id"},
                          "history": {"$ifNull": ["$d.review_history", []]},
                          **{k: f"$d.{k}" for k in (*REVIEW_FIELDS, *CLAIM_FIELDS)}}},
        ]
        out.update({r.pop("label_id"): r for r in fo_store.aggregate(dataset, pipeline)})
    return out


def ago_text(seconds: float) -> str:
    """``20 s``, ``3 min``, ``2 h`` or ``4 days``: how long ago, for people."""
    seconds = max(float(seconds), 0.0)
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size * (2 if unit == "days" else 1):
            return f"{seconds // size:.0f} {unit}"
    return f"{seconds:.0f} s"


def conflict_text(by: str, status: str, at: dt.datetime, now: dt.datetime | None = None) -> str:
    """E.g. ``reviewer B dismissed this 20 s ago``."""
    return f"{by} {_DONE.get(status, status)} this {ago_text(((now or now_ms()) - at).total_seconds())} ago"


def decide_many(dataset, items: pd.DataFrame, status: str, reviewer: str, comment: str | None = None, *,
                verdict: str | None = None) -> int:
    """Store one decision for each row of ``items`` (columns ``label_field, sample_id, label_id``).

    Args:
        items: the labels; an optional ``review_version`` column (the label's
            history length when it was shown, :func:`page_details`) makes the
            decision conditional: a label that another reviewer decided since
            then is not stored over (see :class:`ReviewConflict`). Without it,
            or where it is missing, the decision is stored whatever happened.
            An optional ``review_box`` column: the corrected box the reviewer
            drew (relative ``[x, y, w, h]``, :mod:`analysis.review.box_fix`),
            stored in the same update; only with ``confirmed``.
        status: ``confirmed``, ``dismissed``, ``disputed`` or ``pending``
            (undo: back to pending; the history keeps the undone decision).
        reviewer: the reviewer's name (required).
        comment: optional free text.
        verdict: for ``disputed``: the verdict this reviewer would give
            (``confirmed`` or ``dismissed``), kept in the history entry.

    Returns the number of labels decided. Each row is its own atomic update
    (sent together in one bulk request); a decision also ends the label's
    claim. Raises :class:`ReviewConflict` when some labels were decided by
    another reviewer since shown, :class:`ReviewError` for bad input or when
    labels no longer exist (the others are stored in both cases).
    """
    reviewer, comment = _check_decision(status, reviewer, comment)
    if status == DISPUTED and verdict not in VERDICTS:
        raise ReviewError("Marking a label disputed records the verdict you would give: confirmed or dismissed.")
    if items.empty:
        return 0
    boxes = _checked_boxes(items, status)
    now = now_ms()
    verdict = verdict if status == DISPUTED else None
    changes = {lid: _decision_changes(status, reviewer, comment, now, verdict, boxes.get(lid))
               for lid in items["label_id"]}
    todo = items[["label_field", "sample_id", "label_id"]].assign(
        review_version=items["review_version"] if "review_version" in items else None)
    stored, conflicts, gone = 0, [], 0
    for _ in range(3):  # a version moved on by this reviewer's own decisions (another tab) is no conflict: retry
        # a version shown: the label's history must not have grown since (no entry at that index yet)
        ops = [label_update(f, s, lid, changes[lid],
                             None if pd.isna(v) else {f"review_history.{int(v)}": {"$exists": False}})
               for f, s, lid, v in todo.itertuples(index=False)]
        if write_labels(dataset, ops, items["sample_id"]) == len(ops):
            stored += len(ops)
            break
        states = label_states(dataset, todo)
        retry = []
        for row in todo.itertuples(index=False):
            state = states.get(row.label_id)
            if state is None:
                gone += 1
                continue
            history = state["history"]
            if any(e.get("by") == reviewer and e.get("at") == now and e.get("status") == status for e in history):
                stored += 1
                continue
            seen = len(history) if pd.isna(row.review_version) else int(row.review_version)
            others = [e for e in history[seen:] if e.get("by") != reviewer]
            if others:
                last = others[-1]
                conflicts.append({"label_field": row.label_field, "sample_id": row.sample_id,
                                  "label_id": row.label_id, "by": last.get("by"), "status": last.get("status"),
                                  "at": last.get("at"), "review_version": len(history)})
            else:
                retry.append(row._replace(review_version=len(history)))
        if not retry:
            break
        todo = pd.DataFrame(retry)
    if conflicts:
        table = pd.DataFrame(conflicts)
        if len(table) == 1:
            text = f"{conflict_text(*table.iloc[0][['by', 'status', 'at']], now)}, after it was shown to you"
        else:
            text = (f"{len(table)} of {len(items)} labels were decided by other reviewers after they were shown "
                    f"to you ({', '.join(f'{b}: {n}' for b, n in table['by'].value_counts().items())})")
        raise ReviewConflict(f"{text}: your decision on {'it' if len(table) == 1 else 'them'} was not stored"
                             f"{f'; {stored} others were' if stored else ''}"
                             f"{f'; {gone} labels no longer exist' if gone else ''}.", table, stored)
    if gone:
        raise ReviewError(f"{gone} of {len(items)} labels no longer exist in "
                          f"'{dataset.name}' (deleted or re-imported); the other decisions are stored.")
    return stored


def _checked_boxes(items: pd.DataFrame, status: str) -> dict[str, list[float]]:
    """``{label_id: box}`` of the rows of ``items`` that carry a drawn box, each checked."""
    if "review_box" not in items:
        return {}
    drawn = {lid: b for lid, b in zip(items["label_id"], items["review_box"])
             if b is not None and not (isinstance(b, float) and pd.isna(b))}  # NaN: a row built without one
    if drawn and status != "confirmed":
        raise ReviewError(f"A corrected box goes with a confirmation, not with '{status}': confirm the "
                          "candidate, or clear the box first.")
    try:
        return {lid: box_fix.check_box(b) for lid, b in drawn.items()}
    except box_fix.BoxFixError as e:
        raise ReviewError(str(e)) from None


def decide(dataset, label_field: str, sample_id: str, label_id: str, status: str, reviewer: str,
           comment: str | None = None, *, review_version: int | None = None, verdict: str | None = None,
           box: list[float] | None = None) -> None:
    """Store one decision on one label (see :func:`decide_many`); ``box``: the corrected box drawn, if any."""
    decide_many(dataset, pd.DataFrame([{"label_field": label_field, "sample_id": sample_id, "label_id": label_id,
                                        "review_version": review_version, "review_box": box}]), status, reviewer,
                comment, verdict=verdict)


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
