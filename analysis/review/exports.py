"""Exports of the review: the decisions as CSV/JSON, and a corrected COCO file with the confirmed fixes
applied (missing: add the predicted box; low IoU: the prediction's box; wrong class: relabel; spurious and
duplicate: remove; for missing and low IoU a box the reviewer drew wins over the prediction's), always written
as a new file under ``$LABELDASH_HOME/exports/``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

import analysis  # noqa: F401  (FiftyOne environment defaults)
from analysis.review.store import DISPUTED, ReviewError, decisions, history, label_fields


def apply_fixes(gt: pd.DataFrame, preds: pd.DataFrame, confirmed: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply confirmed fixes to a ground-truth box table.

    Args:
        gt: one row per GT box: ``label_id, sample_id, label, x, y, w, h``
            (any units) and any other columns (kept).
        preds: one row per prediction: ``label_id, sample_id, label, x, y, w, h``.
        confirmed: confirmed decisions: ``label_field`` (``"gt"`` or
            ``"pred"``), ``label_id``, ``error_type``, ``error_match_id`` (as
            snapshotted when the reviewer confirmed) and optionally
            ``review_box``: the box the reviewer drew (``[x, y, w, h]`` in the
            units of ``gt``, or None).

    Returns ``(fixed gt, log)``. Fixes: ``missing`` adds the predicted box (new
    rows have ``label_id`` = the prediction's id and ``added`` = True);
    ``low_iou`` replaces the box with the supporting prediction's;
    ``wrong_class`` takes the supporting prediction's class;
    ``spurious``/``duplicate`` remove the box. For ``missing`` and ``low_iou``
    a drawn ``review_box`` is used instead of the prediction's box (and
    needs no prediction any more). ``log`` has one row per
    confirmed decision with ``applied`` and a ``note`` (e.g. the supporting
    prediction no longer exists).
    """
    fixed = gt.set_index("label_id", drop=False).copy()
    fixed["added"] = False
    pred_idx = preds.set_index("label_id")
    log = []
    for dec in confirmed.itertuples(index=False):
        kind, lid, match = dec.error_type, dec.label_id, dec.error_match_id
        drawn = getattr(dec, "review_box", None)
        drawn = None if drawn is None or (isinstance(drawn, float) and np.isnan(drawn)) else list(drawn)
        note, applied = "the reviewer's box" if drawn and kind in ("missing", "low_iou") else "", True
        if dec.label_field == "pred":
            if kind != "missing" or lid not in pred_idx.index:
                applied, note = False, "the prediction no longer exists" if kind == "missing" else "not a GT error"
            elif lid not in fixed.index:
                p = pred_idx.loc[lid]
                x, y, w, h = drawn or p[["x", "y", "w", "h"]]
                new = {c: None for c in fixed.columns}
                new.update(label_id=lid, sample_id=p["sample_id"], label=p["label"], x=x, y=y, w=w, h=h, added=True)
                fixed.loc[lid] = pd.Series(new)
        elif lid not in fixed.index:
            applied, note = False, "the GT box no longer exists"
        elif kind in ("spurious", "duplicate"):
            fixed = fixed.drop(index=lid)
        elif kind == "low_iou" and drawn:
            fixed.loc[lid, ["x", "y", "w", "h"]] = np.asarray(drawn, float)
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
    Disputed labels are left as they are and listed in the log (``applied``
    False, the note says disputed).
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
        "review_box": confirmed["review_box"].to_numpy(),
    })
    fixed, log = apply_fixes(gt, preds, confirmed)
    disputed = current[current["review_status"] == DISPUTED]
    if len(disputed):  # listed, never applied: the reviewers disagree
        log = pd.concat([log, pd.DataFrame({
            "label_id": disputed["label_id"].to_numpy(), "error_type": disputed["error_type"].to_numpy(),
            "applied": False, "note": "disputed: reviewers disagree, not applied"})], ignore_index=True)
        log["applied"] = log["applied"].astype(bool)  # an empty fix log has no dtype of its own

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
    from analysis.core.files import data_home

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


def fix_summary(log: pd.DataFrame) -> str:
    """A corrected COCO's fix log (:func:`corrected_coco`) in words: applied, not applicable, disputed."""
    disputed = int(log["note"].str.startswith("disputed").sum())
    text = f"{int(log['applied'].sum())} fixes applied, {int((~log['applied']).sum()) - disputed} not applicable"
    return text + (f", {disputed} disputed (left as they are)" if disputed else "")


def decisions_export(dataset, fmt: str) -> str:
    """The decision history (who decided what, when) as CSV or JSON text."""
    table = history(dataset)
    table["at"] = pd.to_datetime(table["at"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "json":
        return table.to_json(orient="records", indent=1)
    raise ReviewError(f"Unknown export format '{fmt}': use csv or json.")
