"""Detections read from FiftyOne in bulk, as tables the pure computations take.

:func:`read_detections` gives one row per detection of a ``Detections``
field (sample id, label id, label, relative box, chosen attributes), read with
one raw ``values()`` call; :func:`check_detections_field` refuses a missing or
non-Detections field with a one-line message; :func:`truth_field` picks the
demo's clean truth where it exists.
"""

from __future__ import annotations

from itertools import chain

import numpy as np
import pandas as pd

from analysis.core.errors import InputError
from analysis.data import fo_store
from analysis.data.datasets import CLEAN_FIELD, GT_FIELD

BOX = ["x", "y", "w", "h"]


def check_detections_field(samples, field: str, what: str, error: type[InputError] = InputError) -> None:
    """Raise ``error`` (an :class:`InputError`) unless ``field`` is a ``Detections`` field of ``samples``.

    ``what`` names the field's role in the message ("ground-truth", "prediction").
    """
    import fiftyone as fo

    schema = samples.get_field_schema()
    if field not in schema:
        raise error(f"The dataset has no {what} field '{field}' (fields: {', '.join(sorted(schema))}).")
    doc = getattr(schema[field], "document_type", None)
    if doc is not fo.Detections:
        raise error(
            f"Field '{field}' holds {getattr(doc, '__name__', type(schema[field]).__name__)}, "
            "not Detections: label errors are found for object-detection boxes."
        )


def flatten(nested) -> tuple[list, np.ndarray]:
    """Concatenate per-sample lists (None = no labels) and count them per sample."""
    nested = [v or [] for v in nested]
    return list(chain.from_iterable(nested)), np.fromiter(map(len, nested), dtype=np.int64, count=len(nested))


def without_area(table: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the rows of a detections table whose box (``x, y, w, h``) is not finite or has w or h <= 0.

    Such boxes are possible in FiftyOne (VOC and YOLO files carry them through) but cover nothing, so no
    overlap with them can be measured.
    """
    values = table[BOX].to_numpy(np.float64)
    return ~np.isfinite(values).all(axis=1) | (values[:, 2] <= 0) | (values[:, 3] <= 0)


def without_area_view(samples, field: str):
    """The samples of ``samples`` with a box of ``field`` of zero or negative width or height, only those boxes
    shown (a FiftyOne view, to open in the App)."""
    from fiftyone import ViewField as F

    box = F("bounding_box")
    return samples.filter_labels(field, (box[2] <= 0) | (box[3] <= 0))


def read_detections_with_layout(samples, field: str, extra=()) -> tuple[pd.DataFrame, tuple[list, list]]:
    """One row per detection of ``field``: ``image_id`` (sample id), ``label_id``, ``category_id`` (label),
    ``x, y, w, h`` (relative box) and the ``extra`` attributes (None where absent).

    Also returns ``(sample_ids, label_ids)``: the nested layout, for writing values back per label.
    The field is not checked (see :func:`check_detections_field`).
    """
    extra = list(extra)
    paths = ["id", f"{field}.detections.id", f"{field}.detections.label", f"{field}.detections.bounding_box"]
    paths += [f"{field}.detections.{a}" for a in extra]
    # raw: skip converting each stored box and list back into Python field objects (more than half of the read time)
    sample_ids, label_ids, labels, boxes, *attrs = fo_store.raw_values(samples, paths)
    flat_ids, counts = flatten(label_ids)
    table = pd.DataFrame({
        "image_id": np.repeat(np.asarray(sample_ids, dtype=object), counts),
        "label_id": flat_ids,
        "category_id": flatten(labels)[0],
    })
    table[BOX] = np.asarray(flatten(boxes)[0], dtype=np.float64).reshape(-1, 4)
    for name, values in zip(extra, attrs):
        table[name] = pd.Series(flatten(values)[0], dtype=object)
    return table, (sample_ids, label_ids)


def read_detections(samples, field: str, extra=()) -> pd.DataFrame:
    """The table of :func:`read_detections_with_layout`, after checking that ``field`` holds Detections.

    A missing or non-Detections field raises an :class:`InputError`.
    """
    check_detections_field(samples, field, "detections")
    return read_detections_with_layout(samples, field, extra)[0]


def truth_field(samples) -> str:
    """``clean_ground_truth`` where the dataset has one (the demo's true boxes), else ``ground_truth``."""
    return CLEAN_FIELD if CLEAN_FIELD in samples.get_field_schema() else GT_FIELD
