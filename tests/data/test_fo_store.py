"""The private FiftyOne calls, each checked against what FiftyOne's public API sees."""

import numpy as np
import pytest
from bson import ObjectId
from pymongo import UpdateOne

from analysis.data import datasets, fo_store, importers


@pytest.fixture
def ds(coco_fixture):
    importers.import_coco("fo-store", coco_fixture["images_dir"], coco_fixture["instances_json"],
                          coco_fixture["predictions_json"], if_exists="overwrite")
    return datasets.load("fo-store")


def test_raw_values_hold_what_values_returns(ds):
    paths = ["id", "ground_truth.detections.label", "ground_truth.detections.bounding_box"]
    raw = fo_store.raw_values(ds, paths)
    public = ds.values(paths)
    assert raw[0] == public[0] and raw[1] == public[1]
    assert np.allclose(np.concatenate(raw[2]), np.concatenate(public[2]))


def test_dataset_of_a_view_is_its_dataset(ds):
    assert fo_store.dataset_of(ds.take(2)).name == ds.name
    assert fo_store.dataset_of(ds).name == ds.name


def test_label_updates_are_seen_by_samples_already_in_memory(ds):
    sample = ds.first()
    det = sample.ground_truth.detections[0]
    op = UpdateOne({"_id": ObjectId(sample.id), "ground_truth.detections._id": ObjectId(det.id)},
                   {"$set": {"ground_truth.detections.$.note": "checked"}})
    assert fo_store.update_labels(ds, [op], [sample.id]) == 1
    assert sample.ground_truth.detections[0]["note"] == "checked"  # reloaded in place
    missing = UpdateOne({"_id": ObjectId()}, {"$set": {"x": 1}})
    assert fo_store.update_labels(ds, [missing], []) == 0


def test_aggregate_runs_a_raw_pipeline(ds):
    rows = fo_store.aggregate(ds, [{"$unwind": "$ground_truth.detections"}, {"$count": "n"}])
    assert rows == [{"n": ds.count("ground_truth.detections")}]


def test_inserted_documents_are_samples_fiftyone_reads(tmp_path):
    import fiftyone as fo

    new = fo.Dataset()
    new.add_sample_field("ground_truth", fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
    docs = [{"filepath": str(tmp_path / f"{i}.png"), "tags": [], "metadata": fo_store.image_metadata_doc(64, 48),
             "ground_truth": fo_store.detections_doc([fo_store.detection_doc("cat", [0.1, 0.2, 0.3, 0.4])])}
            for i in range(3)]
    fo_store.insert_samples(new, docs, np.random.default_rng(0))
    assert len(new) == 3 and new.count("ground_truth.detections") == 3
    assert new.first().ground_truth.detections[0].label == "cat"
    assert new.first().metadata.width == 64
    assert len(new.take(2, seed=1)) == 2  # the random key FiftyOne samples by is there
