"""Dataset overview numbers and sample boxes, read from FiftyOne in bulk."""

from __future__ import annotations

import pandas as pd

from analysis.data.datasets import detection_fields


def boxes_per_class(collection, fields: list[str] | None = None) -> pd.DataFrame:
    """Box counts per class and detection field.

    Returns a long DataFrame with columns ``field``, ``label``, ``boxes``
    (one aggregation per field, run in a single database query).
    """
    import fiftyone as fo

    fields = detection_fields(collection) if fields is None else fields
    if not fields:
        return pd.DataFrame(columns=["field", "label", "boxes"])
    counts = collection.aggregate([fo.CountValues(f"{f}.detections.label") for f in fields])
    rows = [(f, label, n) for f, c in zip(fields, counts) for label, n in c.items() if label is not None]
    return pd.DataFrame(rows, columns=["field", "label", "boxes"]).sort_values(["label", "field"], ignore_index=True)


def sample_boxes(collection, gt_field: str | None, pred_field: str | None, limit: int = 12, offset: int = 0) -> list[dict]:
    """Boxes of ``limit`` samples starting at ``offset``, for drawing.

    Returns one dict per sample: ``id``, ``filepath``, ``gt`` (list of
    ``(label, [x, y, w, h])``, relative coordinates) and ``predictions`` (list
    of ``(label, [x, y, w, h], confidence)``).
    """
    view = collection.skip(offset).limit(limit)
    paths = ["id", "filepath"]
    for f in (gt_field, pred_field):
        if f:
            paths += [f"{f}.detections.label", f"{f}.detections.bounding_box"]
    if pred_field:
        paths.append(f"{pred_field}.detections.confidence")
    values = dict(zip(paths, view.values(paths)))
    out = []
    for i, (sid, fp) in enumerate(zip(values["id"], values["filepath"])):
        item = {"id": sid, "filepath": fp, "gt": [], "predictions": []}
        if gt_field:
            item["gt"] = list(zip(values[f"{gt_field}.detections.label"][i] or [],
                                  values[f"{gt_field}.detections.bounding_box"][i] or []))
        if pred_field:
            item["predictions"] = list(zip(values[f"{pred_field}.detections.label"][i] or [],
                                           values[f"{pred_field}.detections.bounding_box"][i] or [],
                                           values[f"{pred_field}.detections.confidence"][i] or []))
        out.append(item)
    return out
