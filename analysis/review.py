"""Reviewers' decisions on label-error candidates, kept in FiftyOne.

A reviewer confirms or dismisses each candidate that
:func:`analysis.label_errors_fo.find_label_errors` wrote onto a label. The
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

Pure helpers (:func:`review_table`, :func:`filter_table`,
:func:`progress_by_type`, :func:`precision_by_band`, :func:`apply_fixes`) work on
DataFrames; FiftyOne I/O happens in bulk at the edges.

Command line: ``python -m analysis.review --help``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import analysis  # noqa: F401  (FiftyOne environment defaults)
from analysis.errors import InputError
from analysis.label_errors import ERROR_TYPES
from analysis.label_errors_fo import RUN_KEY, load_candidates

STATUSES = ("confirmed", "dismissed")
PENDING = "pending"
TAGS = {"confirmed": "error:confirmed", "dismissed": "error:dismissed"}
REVIEW_FIELDS = ("review_status", "review_by", "review_at", "review_comment")
SAVED_VIEWS = {"pending": "label-errors-pending", "confirmed": "label-errors-confirmed",
               "dismissed": "label-errors-dismissed"}
TYPE_TITLES = {"low_iou": "Low IoU", "missing": "Missing label", "spurious": "Spurious",
               "wrong_class": "Wrong class", "duplicate": "Duplicate"}
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
    import fiftyone.core.sample as fos
    from pymongo.errors import PyMongoError

    try:
        result = dataset._sample_collection.bulk_write(ops, ordered=False)
    except PyMongoError as e:
        raise ReviewError(f"The database did not answer ({type(e).__name__}): the decision may not be stored. "
                          "Try again when it is back (deciding again is safe).") from None
    # only in-memory copies of the samples touched (a whole dataset.reload() costs ~30 ms per decision)
    fos.Sample._reload_docs(dataset._sample_collection_name, sample_ids=set(items["sample_id"]))
    if result.matched_count < len(ops):
        raise ReviewError(f"{len(ops) - result.matched_count} of {len(ops)} labels no longer exist in "
                          f"'{dataset.name}' (deleted or re-imported); the other decisions are stored.")
    return result.matched_count


def decide(dataset, label_field: str, sample_id: str, label_id: str, status: str, reviewer: str,
           comment: str | None = None) -> None:
    """Store one decision on one label (see :func:`decide_many`)."""
    decide_many(dataset, pd.DataFrame([{"label_field": label_field, "sample_id": sample_id,
                                        "label_id": label_id}]), status, reviewer, comment)


def _reviewed_labels(dataset, field: str, match: dict, project: dict) -> list[dict]:
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
    return [dict(r, label_field=field) for r in dataset._sample_collection.aggregate(pipeline)]


def decisions(dataset) -> pd.DataFrame:
    """Current decisions: one row per decided label (:data:`DECISION_COLUMNS`)."""
    rows = []
    for field in label_fields(dataset):
        rows += _reviewed_labels(dataset, field, {"review_status": {"$in": list(STATUSES)}},
                                 {**{k: f"$d.{k}" for k in REVIEW_FIELDS}, "error_type": "$d.error_type"})
    return pd.DataFrame(rows, columns=DECISION_COLUMNS)


def history(dataset) -> pd.DataFrame:
    """Every decision ever stored, oldest first (:data:`HISTORY_COLUMNS`): who decided what, when."""
    rows = []
    for field in label_fields(dataset):
        for r in _reviewed_labels(dataset, field, {"review_history.0": {"$exists": True}},
                                  {"h": "$d.review_history"}):
            rows += [{**{k: r[k] for k in ("label_field", "sample_id", "label_id", "label")}, **h}
                     for h in r.pop("h")]
    out = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    return out.sort_values("at", kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------- pure helpers

def indexed_candidates(candidates: pd.DataFrame) -> pd.DataFrame:
    """``candidates`` ready for repeated review: indexed by ``label_id``, categorical text columns.

    Same rows, order and columns. Pass the result to :func:`review_table`,
    :func:`orphaned` and :func:`filter_table` when calling them again and
    again on one engine run (the page does on every click): the label_id
    index keeps its hash table between calls and categorical columns filter
    and count by their codes, which makes those calls ~10x faster on 50,000
    candidates than on plain string columns.
    """
    # object columns: taking rows of 50,000 Python strings is ~10x faster than of pandas' Arrow strings
    out = candidates.astype({"error_type": pd.CategoricalDtype([*ERROR_TYPES]), "label": "category",
                             "label_field": "category", "sample_id": object, "filepath": object,
                             "label_id": object})
    return out.set_index(pd.Index(out["label_id"], name="label_id"))


def _label_index(candidates: pd.DataFrame) -> pd.Index:
    # the index of indexed_candidates() is reused as it is (its hash table is built once)
    return candidates.index if candidates.index.name == "label_id" else pd.Index(candidates["label_id"])


def review_table(candidates: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Candidates (:func:`load_candidates`, or :func:`indexed_candidates`) with their review state.

    Adds ``review_status`` (categorical: ``pending`` when undecided,
    ``confirmed``, ``dismissed``), ``review_by``, ``review_at`` and
    ``review_comment`` from ``current`` (:func:`decisions`); keeps the
    candidates' ranking and index.
    """
    rows = _label_index(candidates).get_indexer(current["label_id"])
    found = rows >= 0
    rows = rows[found]
    states = (PENDING, *STATUSES)
    codes = np.zeros(len(candidates), dtype=np.int8)
    codes[rows] = pd.Categorical(current["review_status"].to_numpy()[found], categories=states).codes
    columns = {"review_status": pd.Categorical.from_codes(codes, categories=states)}
    for name in ("review_by", "review_at", "review_comment"):  # missing where undecided
        decided = current[name].to_numpy()[found]
        when = decided.dtype.kind == "M"
        values = np.full(len(candidates), np.datetime64("NaT") if when else None, decided.dtype if when else object)
        values[rows] = decided
        columns[name] = pd.Series(values, index=candidates.index, dtype=values.dtype)  # no str inference
    return candidates.assign(**columns)


def orphaned(candidates: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Decisions on labels that the latest engine run no longer flags (kept, reported)."""
    return current[_label_index(candidates).get_indexer(current["label_id"]) < 0].reset_index(drop=True)


def filter_table(table: pd.DataFrame, *, types=None, classes=None, score_range=(0.0, 1.0), statuses=None,
                 reviewers=None) -> pd.DataFrame:
    """Rows of a :func:`review_table` matching every given filter (None = no filter), ranking kept."""
    keep = table["error_score"].between(*score_range)
    if types:
        keep &= table["error_type"].isin(types)
    if classes:
        keep &= table["label"].isin(classes)
    if statuses:
        keep &= table["review_status"].isin(statuses)
    if reviewers:
        keep &= table["review_by"].isin(reviewers)
    return table[keep]


def progress_by_type(table: pd.DataFrame) -> pd.DataFrame:
    """Per error type: ``total, confirmed, dismissed, pending, reviewed`` counts."""
    states = [*STATUSES, PENDING]
    kind = pd.Categorical(table["error_type"], categories=ERROR_TYPES).codes.astype(np.int64)
    state = pd.Categorical(table["review_status"], categories=states).codes
    known = (kind >= 0) & (state >= 0)
    counts = np.bincount(kind[known] * len(states) + state[known], minlength=len(ERROR_TYPES) * len(states))
    out = pd.DataFrame(counts.reshape(len(ERROR_TYPES), len(states)), index=list(ERROR_TYPES), columns=states)
    out = out[np.isin(out.index, table["error_type"].unique())]
    out["reviewed"] = out["confirmed"] + out["dismissed"]
    out["total"] = out["reviewed"] + out[PENDING]
    return out.rename_axis(index="error_type", columns=None).reset_index()


def _wilson(k: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion k/n (NaN where n = 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def precision_by_band(table: pd.DataFrame, edges=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), z: float = 1.2816) -> pd.DataFrame:
    """Estimated precision of the candidates per score band: confirmed / reviewed.

    Returns per band (``[low, high)``, the last one closed): ``candidates,
    reviewed, confirmed, precision`` and the Wilson interval ``low, high``
    (default z = 1.28: an 80% interval). Tells how far down the ranking
    reviewing still finds real errors.
    """
    edges = np.asarray(edges, dtype=float)
    n_bands = len(edges) - 1
    band = np.clip(np.searchsorted(edges, table["error_score"].to_numpy(float), side="right") - 1, 0, n_bands - 1)
    status = table["review_status"]

    def per_band(mask=None):
        return np.bincount(band if mask is None else band[mask], minlength=n_bands)

    confirmed = per_band((status == "confirmed").to_numpy())
    rows = {"band": [f"{edges[b]:.1f}-{edges[b + 1]:.1f}" for b in range(n_bands)], "candidates": per_band(),
            "reviewed": confirmed + per_band((status == "dismissed").to_numpy()), "confirmed": confirmed}
    out = pd.DataFrame(rows)
    k, n = out["confirmed"].to_numpy(float), out["reviewed"].to_numpy(float)
    out["precision"] = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    out["low"], out["high"] = _wilson(k, n, z)
    return out


def describe(row) -> str:
    """A card's one-line evidence, e.g. ``Low IoU · IoU 0.62 · pred 0.97``."""
    title = TYPE_TITLES.get(row["error_type"], str(row["error_type"]))
    iou = row.get("error_iou")
    conf = row.get("match_confidence")
    parts = [title]
    if row["error_type"] == "wrong_class" and row.get("match_label") is not None:
        parts.append(f"GT {row['label']} → pred {row['match_label']}")
    if iou is not None and not pd.isna(iou):
        parts.append(f"IoU {iou:.2f}")
    if row["error_type"] == "missing":
        conf = row.get("confidence")
    if conf is not None and not pd.isna(conf):
        parts.append(f"pred {conf:.2f}")
    parts.append(f"score {row['error_score']:.2f}")
    return " · ".join(parts)


# ---------------------------------------------------------------- one gallery page

def page_details(dataset, rows: pd.DataFrame) -> pd.DataFrame:
    """The boxes needed to draw ``rows`` (a few candidates), read in one query.

    Adds ``match_label``, ``match_box`` (relative xywh), ``match_confidence``
    (the supporting label named by ``error_match_id``), ``confidence`` (the
    candidate's own, for predictions), ``width``/``height`` and ``boxes``:
    every box of the sample as ``(field, label, [x, y, w, h], confidence)``
    for the enlarged view.
    """
    if rows.empty:
        return rows.assign(match_label=None, match_box=None, match_confidence=np.nan, confidence=np.nan,
                           width=np.nan, height=np.nan, boxes=None)
    gt_field, pred_field = label_fields(dataset)
    ids = list(dict.fromkeys(rows["sample_id"]))
    paths = ["id", "metadata.width", "metadata.height"]
    for f in (gt_field, pred_field):
        paths += [f"{f}.detections.id", f"{f}.detections.label", f"{f}.detections.bounding_box",
                  f"{f}.detections.confidence"]
    values = dataset.select(ids).values(paths)
    by_label, per_sample, sizes = {}, {}, {}
    for i, sid in enumerate(values[0]):
        sizes[sid] = (values[1][i], values[2][i])
        boxes = []
        for k, f in enumerate((gt_field, pred_field)):
            lids, labels, bbs, confs = (values[3 + 4 * k + j][i] or [] for j in range(4))
            confs = confs or [None] * len(lids)
            for lid, lab, bb, c in zip(lids, labels, bbs, confs):
                by_label[lid] = (lab, bb, c)
                boxes.append((f, lab, bb, c))
        per_sample[sid] = boxes
    out = rows.copy()
    match = out["error_match_id"].map(lambda m: by_label.get(m, (None, None, None)))
    out["match_label"] = [m[0] for m in match]
    out["match_box"] = [m[1] for m in match]
    out["match_confidence"] = [np.nan if m[2] is None else m[2] for m in match]
    own = out["label_id"].map(lambda m: by_label.get(m, (None, None, None)))
    out["confidence"] = [np.nan if m[2] is None else m[2] for m in own]
    out["width"] = [sizes.get(s, (None, None))[0] for s in out["sample_id"]]
    out["height"] = [sizes.get(s, (None, None))[1] for s in out["sample_id"]]
    out["boxes"] = [per_sample.get(s, []) for s in out["sample_id"]]
    return out


# ---------------------------------------------------------------- exports

def apply_fixes(gt: pd.DataFrame, preds: pd.DataFrame, confirmed: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply confirmed fixes to a ground-truth box table.

    Args:
        gt: one row per GT box: ``label_id, sample_id, label, x, y, w, h``
            (any units) and any other columns (kept).
        preds: one row per prediction: ``label_id, sample_id, label, x, y, w, h``.
        confirmed: confirmed decisions: ``label_field`` (``"gt"`` or
            ``"pred"``), ``label_id``, ``error_type``, ``error_match_id`` (as
            snapshotted when the reviewer confirmed).

    Returns ``(fixed gt, log)``. Fixes: ``missing`` adds the predicted box (new
    rows have ``label_id`` = the prediction's id and ``added`` = True);
    ``low_iou`` replaces the box with the supporting prediction's;
    ``wrong_class`` takes the supporting prediction's class;
    ``spurious``/``duplicate`` remove the box. ``log`` has one row per
    confirmed decision with ``applied`` and a ``note`` (e.g. the supporting
    prediction no longer exists).
    """
    fixed = gt.set_index("label_id", drop=False).copy()
    fixed["added"] = False
    pred_idx = preds.set_index("label_id")
    log = []
    for dec in confirmed.itertuples(index=False):
        kind, lid, match = dec.error_type, dec.label_id, dec.error_match_id
        note, applied = "", True
        if dec.label_field == "pred":
            if kind != "missing" or lid not in pred_idx.index:
                applied, note = False, "the prediction no longer exists" if kind == "missing" else "not a GT error"
            elif lid not in fixed.index:
                p = pred_idx.loc[lid]
                new = {c: None for c in fixed.columns}
                new.update(label_id=lid, sample_id=p["sample_id"], label=p["label"],
                           x=p["x"], y=p["y"], w=p["w"], h=p["h"], added=True)
                fixed.loc[lid] = pd.Series(new)
        elif lid not in fixed.index:
            applied, note = False, "the GT box no longer exists"
        elif kind in ("spurious", "duplicate"):
            fixed = fixed.drop(index=lid)
        elif kind in ("low_iou", "wrong_class"):
            if match not in pred_idx.index:
                applied, note = False, "the supporting prediction no longer exists"
            elif kind == "low_iou":
                fixed.loc[lid, ["x", "y", "w", "h"]] = pred_idx.loc[match, ["x", "y", "w", "h"]].to_numpy(float)
            else:
                fixed.loc[lid, "label"] = pred_idx.loc[match, "label"]
        else:
            applied, note = False, f"unknown error type {kind!r}"
        log.append({"label_id": lid, "error_type": kind, "applied": applied, "note": note})
    return fixed.reset_index(drop=True), pd.DataFrame(log, columns=["label_id", "error_type", "applied", "note"])


def _boxes(dataset, field: str, extra: tuple[str, ...]) -> pd.DataFrame:
    """One row per detection of ``field`` with relative boxes, read in bulk."""
    names = ("id", "label", "bounding_box", *extra)
    sids, *nested = dataset.values(["id", *(f"{field}.detections.{n}" for n in names)])
    counts = [len(v or []) for v in nested[0]]
    flat = {n: [x for v in values for x in (v or [])] for n, values in zip(names, nested)}
    out = pd.DataFrame({"sample_id": np.repeat(np.asarray(sids, dtype=object), counts),
                        "label_id": flat["id"], "label": flat["label"],
                        **{n: flat[n] for n in extra}})
    out[["x", "y", "w", "h"]] = np.asarray(flat["bounding_box"], dtype=float).reshape(-1, 4)
    return out


def corrected_coco(dataset) -> tuple[dict, pd.DataFrame]:
    """The ground truth as COCO instances JSON with the confirmed fixes applied, and the fix log.

    Images keep their ``coco_id`` (or get 1..N), annotations their ``coco_id``
    (added boxes get new ids above the largest); categories come from the
    import (``dataset.info["coco_categories"]``) or are numbered 1..K by
    name. Boxes are in pixels (COCO ``xywh``). The dataset is not changed.
    """
    gt_field, pred_field = label_fields(dataset)
    if dataset.count("metadata.width") < len(dataset):
        dataset.compute_metadata(skip_failures=True)
    gt = _boxes(dataset, gt_field, ("coco_id", "iscrowd"))
    preds = _boxes(dataset, pred_field, ())
    current = decisions(dataset)
    confirmed = current[current["review_status"] == "confirmed"]
    snapshot = history(dataset).drop_duplicates("label_id", keep="last").set_index("label_id")
    confirmed = pd.DataFrame({
        "label_field": np.where(confirmed["label_field"] == gt_field, "gt", "pred"),
        "label_id": confirmed["label_id"].to_numpy(),
        "error_type": snapshot["error_type"].reindex(confirmed["label_id"]).to_numpy(),
        "error_match_id": snapshot["error_match_id"].reindex(confirmed["label_id"]).to_numpy(),
    })
    fixed, log = apply_fixes(gt, preds, confirmed)

    sids, paths, coco_ids, widths, heights = dataset.values(
        ["id", "filepath", "coco_id" if dataset.has_field("coco_id") else "id", "metadata.width", "metadata.height"])
    image_ids = [c if isinstance(c, (int, np.integer)) else None for c in coco_ids]
    if any(c is None for c in image_ids) or len(set(image_ids)) < len(image_ids):
        image_ids = list(range(1, len(sids) + 1))
    root = Path(_common_dir(paths))
    images = [{"id": int(i), "file_name": str(Path(p).relative_to(root)), "width": w, "height": h}
              for i, p, w, h in zip(image_ids, paths, widths, heights)]
    size = {s: (w, h) for s, w, h in zip(sids, widths, heights)}
    image_of = dict(zip(sids, image_ids))

    categories = dataset.info.get("coco_categories") or [
        {"id": k + 1, "name": n} for k, n in enumerate(sorted(set(gt["label"]) | set(preds["label"])))]
    cat_id = {c["name"]: c["id"] for c in categories}
    for name in sorted(set(fixed["label"]) - set(cat_id)):  # a class only a prediction knows
        categories.append({"id": max(cat_id.values(), default=0) + 1, "name": name})
        cat_id[name] = categories[-1]["id"]
    # new ids start above every original id, so a removed box's id is never reused
    used = [int(c) for c in gt["coco_id"].dropna()]
    next_id = max(used, default=0) + 1
    annotations = []
    for r in fixed.itertuples(index=False):
        w, h = size[r.sample_id]
        ann_id = getattr(r, "coco_id", None)
        if ann_id is None or pd.isna(ann_id):
            ann_id, next_id = next_id, next_id + 1
        bbox = [round(float(r.x) * w, 2), round(float(r.y) * h, 2), round(float(r.w) * w, 2),
                round(float(r.h) * h, 2)]
        iscrowd = getattr(r, "iscrowd", 0)
        annotations.append({"id": int(ann_id), "image_id": int(image_of[r.sample_id]),
                            "category_id": int(cat_id[r.label]), "bbox": bbox,
                            "area": round(bbox[2] * bbox[3], 2),
                            "iscrowd": 0 if iscrowd is None or pd.isna(iscrowd) else int(iscrowd)})
    coco = {"info": {"description": f"{dataset.name} with confirmed label-error fixes",
                     "date_created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")},
            "images": images, "annotations": annotations, "categories": categories}
    return coco, log


def _common_dir(paths) -> str:
    import os

    return os.path.commonpath([str(Path(p).parent) for p in paths]) if len(paths) else "."


def export_path(dataset, kind: str, suffix: str) -> Path:
    """A new, timestamped file under ``data_home()/exports`` (exports never overwrite anything)."""
    from analysis.paths import data_home

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in dataset.name)
    return data_home() / "exports" / f"{safe}-{kind}-{stamp}{suffix}"


def write_corrected_coco(dataset, out: str | Path | None = None) -> tuple[Path, pd.DataFrame]:
    """Write :func:`corrected_coco` to ``out`` (default: a new file under exports).

    Refuses to overwrite an existing file, so the original annotations (and
    earlier exports) are never replaced. Returns the path and the fix log.
    """
    coco, log = corrected_coco(dataset)
    path = Path(out) if out else export_path(dataset, "corrected-coco", ".json")
    if path.exists():
        raise ReviewError(f"{path} exists: the corrected COCO file is always written to a new file, "
                          "so the original is never overwritten. Choose another name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(coco))
    return path, log


def decisions_export(dataset, fmt: str) -> str:
    """The decision history (who decided what, when) as CSV or JSON text."""
    table = history(dataset)
    table["at"] = pd.to_datetime(table["at"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "json":
        return table.to_json(orient="records", indent=1)
    raise ReviewError(f"Unknown export format '{fmt}': use csv or json.")


# ---------------------------------------------------------------- CLI

def _cli(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.review",
                                     description="Review decisions on label-error candidates.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("status", help="review progress per error type, as JSON")
    p.add_argument("--dataset", required=True)
    p = sub.add_parser("export", help="export decisions and/or a corrected COCO file")
    p.add_argument("--dataset", required=True)
    p.add_argument("--decisions", help="decision history, .csv or .json")
    p.add_argument("--coco", help="corrected COCO instances JSON (a new file)")
    args = parser.parse_args(argv)
    from analysis import datasets

    try:
        datasets.connect()
        dataset = datasets.load(args.dataset)
        if args.command == "status":
            table = review_table(load_candidates(dataset), decisions(dataset))
            print(progress_by_type(table).to_json(orient="records"))
            return 0
        if not (args.decisions or args.coco):
            raise ReviewError("Nothing to export: give --decisions FILE and/or --coco FILE.")
        if args.decisions:
            out = Path(args.decisions)
            fmt = out.suffix.lower().lstrip(".")
            text = decisions_export(dataset, fmt)
            if out.exists():
                raise ReviewError(f"{out} exists; choose a new file name.")
            out.write_text(text)
            print(f"Decisions written to {out}")
        if args.coco:
            path, log = write_corrected_coco(dataset, args.coco)
            print(f"Corrected COCO written to {path}: {int(log['applied'].sum())} fixes applied, "
                  f"{int((~log['applied']).sum())} not applicable")
    except (InputError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - database errors etc.: one line, not a traceback
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
