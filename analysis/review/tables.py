"""Pure tables for the review pages: candidates joined with their decisions, filters, progress per
type, precision per score band and of the top candidates (with a Wilson interval), one-line descriptions
and a gallery page's details.
Inputs and outputs are DataFrames (from :func:`analysis.label_errors.fo_adapter.load_candidates` and
:func:`analysis.review.store.decisions`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import analysis  # noqa: F401  (FiftyOne environment defaults)
from analysis.label_errors.params import ERROR_TYPES
from analysis.label_errors.trust import TOP_K, expected_precision
from analysis.data import fo_store
from analysis.review.store import DISPUTED, PENDING, STATUSES, label_fields

TYPE_TITLES = {"low_iou": "Low IoU", "missing": "Missing label", "spurious": "Spurious",
               "wrong_class": "Wrong class", "duplicate": "Duplicate"}


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


def label_index(candidates: pd.DataFrame) -> pd.Index:
    # the index of indexed_candidates() is reused as it is (its hash table is built once)
    return candidates.index if candidates.index.name == "label_id" else pd.Index(candidates["label_id"])


def review_table(candidates: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Candidates (:func:`load_candidates`, or :func:`indexed_candidates`) with their review state.

    Adds ``review_status`` (categorical: ``pending`` when undecided,
    ``confirmed``, ``dismissed``), ``review_by``, ``review_at`` and
    ``review_comment`` from ``current`` (:func:`decisions`); keeps the
    candidates' ranking and index.
    """
    rows = label_index(candidates).get_indexer(current["label_id"])
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
    return current[label_index(candidates).get_indexer(current["label_id"]) < 0].reset_index(drop=True)


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
    """Per error type: ``total, confirmed, dismissed, disputed, pending, reviewed`` counts.

    ``reviewed`` counts the verdicts (confirmed + dismissed); disputed labels
    wait for the reviewers to agree.
    """
    states = [*STATUSES, PENDING]
    kind = pd.Categorical(table["error_type"], categories=ERROR_TYPES).codes.astype(np.int64)
    state = pd.Categorical(table["review_status"], categories=states).codes
    known = (kind >= 0) & (state >= 0)
    counts = np.bincount(kind[known] * len(states) + state[known], minlength=len(ERROR_TYPES) * len(states))
    out = pd.DataFrame(counts.reshape(len(ERROR_TYPES), len(states)), index=list(ERROR_TYPES), columns=states)
    out = out[np.isin(out.index, table["error_type"].unique())]
    out["reviewed"] = out["confirmed"] + out["dismissed"]
    out["total"] = out["reviewed"] + out[DISPUTED] + out[PENDING]
    return out.rename_axis(index="error_type", columns=None).reset_index()


def wilson_interval(k: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion k/n (NaN where n = 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def unclaimed(table: pd.DataFrame, live: pd.DataFrame, reviewer: str) -> pd.DataFrame:
    """Rows of ``table`` that no other reviewer has open (``live``: :func:`analysis.review.claims.claims`);
    order kept."""
    others = live.loc[live["claimed_by"] != (reviewer or "").strip(), "label_id"]
    return table[~label_index(table).isin(others)]


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
    out["low"], out["high"] = wilson_interval(k, n, z)
    return out


def trust_table(table: pd.DataFrame, ks=TOP_K, min_reviewed: int = 10, z: float = 1.2816) -> pd.DataFrame:
    """How far to trust the ranking: per type and top-k depth, the precision the scores imply and the precision
    the reviewers' verdicts measure.

    Input: a :func:`review_table`. Output: :func:`analysis.label_errors.trust.expected_precision`'s rows
    (``error_type, k, expected``) with ``reviewed, confirmed`` (verdicts among those ``k`` candidates;
    disputed labels are not counted), ``measured`` = confirmed / reviewed once at least ``min_reviewed`` are
    decided (else NaN), and its Wilson interval ``low, high`` (default z = 1.28: 80%). The reviewed ones need
    not be a random sample of the top k: reviewers usually go down the ranking.
    """
    out = expected_precision(table, ks)
    # one sort by type, then score (highest first): a type's top-k counts are differences of cumulative sums
    codes = pd.Categorical(table["error_type"], categories=ERROR_TYPES).codes
    order = np.lexsort((-table["error_score"].to_numpy(float), codes))
    status = table["review_status"]
    confirmed_sum = np.r_[0, np.cumsum((status == "confirmed").to_numpy()[order])]
    reviewed_sum = confirmed_sum + np.r_[0, np.cumsum((status == "dismissed").to_numpy()[order])]
    first = dict(zip(ERROR_TYPES, np.searchsorted(codes[order], np.arange(len(ERROR_TYPES)))))
    ends = [(first[t], first[t] + k) for t, k in zip(out["error_type"], out["k"])]
    out["reviewed"] = np.array([reviewed_sum[b] - reviewed_sum[a] for a, b in ends], dtype=int)
    out["confirmed"] = np.array([confirmed_sum[b] - confirmed_sum[a] for a, b in ends], dtype=int)
    n, c = out["reviewed"].to_numpy(float), out["confirmed"].to_numpy(float)
    enough = n >= min_reviewed
    out["measured"] = np.where(enough, c / np.maximum(n, 1), np.nan)
    low, high = wilson_interval(c, n, z)
    out["low"], out["high"] = np.where(enough, low, np.nan), np.where(enough, high, np.nan)
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


def page_details(dataset, rows: pd.DataFrame) -> pd.DataFrame:
    """The boxes needed to draw ``rows`` (a few candidates) and their review state, in one read.

    Adds ``match_label``, ``match_box`` (relative xywh), ``match_confidence``
    (the supporting label named by ``error_match_id``), ``confidence`` (the
    candidate's own, for predictions), ``width``/``height`` and ``boxes``:
    every box of the sample as ``(field, label, [x, y, w, h], confidence)``
    for the enlarged view. ``review_status, review_by, review_at,
    review_comment`` (and ``review_box``, the box drawn with the decision) are replaced by the label's state
    as stored now, read
    together with ``review_version`` (its history length), so a decision
    passed this row back stores only if nobody decided the label after it
    was shown (:func:`decide_many`).
    """
    if rows.empty:
        return rows.assign(match_label=None, match_box=None, match_confidence=np.nan, confidence=np.nan,
                           width=np.nan, height=np.nan, boxes=None, review_version=0, review_box=None)
    from bson import ObjectId

    fields = label_fields(dataset)
    # one find() of the samples' documents (FiftyOne's values() spends ~25 ms per call parsing field paths)
    projection = {"metadata.width": 1, "metadata.height": 1, **{f"{f}.detections": 1 for f in fields}}
    docs = fo_store.find(dataset, {"_id": {"$in": [ObjectId(s) for s in set(rows["sample_id"])]}}, projection)
    by_label, per_sample, sizes = {}, {}, {}
    for doc in docs:
        sid = str(doc["_id"])
        meta = doc.get("metadata") or {}
        sizes[sid] = (meta.get("width"), meta.get("height"))
        boxes = []
        for f in fields:
            for d in (doc.get(f) or {}).get("detections") or []:
                by_label[str(d["_id"])] = d
                boxes.append((f, d.get("label"), d.get("bounding_box"), d.get("confidence")))
        per_sample[sid] = boxes
    none = {}
    match = [by_label.get(m, none) for m in rows["error_match_id"]]
    own = [by_label.get(m, none) for m in rows["label_id"]]

    def number(v):
        return np.nan if v is None else v

    return rows.assign(
        match_label=[m.get("label") for m in match], match_box=[m.get("bounding_box") for m in match],
        match_confidence=[number(m.get("confidence")) for m in match],
        confidence=[number(d.get("confidence")) for d in own],
        width=[sizes.get(s, (None, None))[0] for s in rows["sample_id"]],
        height=[sizes.get(s, (None, None))[1] for s in rows["sample_id"]],
        boxes=[per_sample.get(s, []) for s in rows["sample_id"]],
        review_version=[len(d.get("review_history") or ()) for d in own],
        review_status=pd.Categorical([d.get("review_status") or PENDING for d in own],
                                     categories=(PENDING, *STATUSES)),
        review_by=pd.Series([d.get("review_by") for d in own], index=rows.index, dtype=object),
        review_at=np.array([np.datetime64(d.get("review_at") or "NaT", "ns") for d in own]),
        review_comment=pd.Series([d.get("review_comment") for d in own], index=rows.index, dtype=object),
        review_box=pd.Series([d.get("review_box") for d in own], index=rows.index, dtype=object),
    )
