"""Every use of FiftyOne's private API, behind small named functions.

FiftyOne's public API converts each stored document into Python objects and
updates labels one at a time; the bulk paths this project needs (reading a
field as raw lists, one atomic MongoDB update per label, inserting samples as
documents) go through FiftyOne's private attributes. They are all here, so a
FiftyOne upgrade is checked in one file (``tests/data/test_fo_store.py`` and
the importer's comparison with FiftyOne's own COCO importer guard them).

Inputs are FiftyOne datasets or views and plain MongoDB documents/operations
(``pymongo``); nothing here knows about label errors or reviews.
"""

from __future__ import annotations

import datetime as dt

import numpy as np


def now() -> dt.datetime:
    """The time as FiftyOne stores ``created_at`` / ``last_modified_at``: naive UTC."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def dataset_of(samples):
    """The dataset behind a dataset or view."""
    return samples._dataset


def raw_values(samples, paths: list[str]) -> list:
    """``samples.values(paths)`` as stored (lists, no field objects): more than twice as fast on boxes."""
    return samples.values(paths, _raw=True)


def bulk_write(dataset, ops: list, sample_ids: list | None = None) -> None:
    """Send pymongo operations on ``dataset``'s samples through FiftyOne's bulk writer.

    It also reloads the in-memory samples ``sample_ids`` (all when None).
    """
    dataset._bulk_write(ops, ids=sample_ids)


def update_labels(dataset, ops: list, sample_ids=None) -> int:
    """Apply ``UpdateOne`` operations on the sample documents, unordered, in one request.

    Returns the number of documents matched. Only the in-memory copies of the
    samples ``sample_ids`` are reloaded (a whole ``dataset.reload()`` costs
    about 30 ms); none when None (fields no in-memory sample is read for,
    e.g. reviewers' claims). pymongo errors propagate.
    """
    import fiftyone.core.sample as fos

    result = dataset._sample_collection.bulk_write(ops, ordered=False)
    if sample_ids is not None:
        fos.Sample._reload_docs(dataset._sample_collection_name, sample_ids=set(sample_ids))
    return result.matched_count


def update_many(dataset, query: dict, update) -> int:
    """One ``update_many`` on the sample documents (``update``: a document or a pipeline); documents matched."""
    return dataset._sample_collection.update_many(query, update).matched_count


def find(dataset, query: dict, projection: dict) -> list[dict]:
    """The raw sample documents matching ``query``, with the fields of ``projection`` only."""
    return list(dataset._sample_collection.find(query, projection))


def aggregate(dataset, pipeline: list[dict]) -> list[dict]:
    """Run a raw MongoDB aggregation over ``dataset``'s sample documents."""
    return list(dataset._sample_collection.aggregate(pipeline))


def detection_doc(label: str, box, **attributes) -> dict:
    """A ``Detection`` document as FiftyOne stores it (``box``: relative ``[x, y, w, h]``)."""
    from bson import ObjectId

    return {"_id": ObjectId(), "_cls": "Detection", "attributes": {}, "tags": [], "label": label,
            "bounding_box": list(box), **attributes}


def detections_doc(detections: list[dict]) -> dict:
    """A ``Detections`` document holding ``detections`` (from :func:`detection_doc`)."""
    return {"_cls": "Detections", "detections": detections}


def image_metadata_doc(width: int, height: int) -> dict:
    """An ``ImageMetadata`` document."""
    return {"_cls": "ImageMetadata", "width": width, "height": height}


def insert_samples(dataset, docs: list[dict], rng: np.random.Generator) -> None:
    """Insert image sample documents (``filepath``, ``tags``, fields) into ``dataset`` in one request.

    Adds what FiftyOne adds to each sample: media type, dataset id, the random
    key ``_rand`` (used by ``take`` / ``shuffle``) and the timestamps. The
    fields must already be declared on the dataset.
    """
    stamp = now()
    fixed = {"_media_type": "image", "_dataset_id": dataset._doc.id, "created_at": stamp, "last_modified_at": stamp}
    dataset._sample_collection.insert_many(
        [{**doc, **fixed, "_rand": float(r)} for doc, r in zip(docs, rng.random(len(docs)))], ordered=False)


def session_connected(session) -> bool:
    """Whether a ``fo.launch_app`` session's event client has connected (views can be shown then)."""
    return bool(session._client._connected)
