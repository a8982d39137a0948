"""COCO import into a real FiftyOne database, and every bad input the issue lists."""

import json
from pathlib import Path

import numpy as np
import pytest

from analysis.core.errors import DatasetExists, InputError
from analysis.data import datasets, importers


def _names():
    return datasets.list_datasets()


def test_import_coco_with_predictions(coco_fixture):
    result = importers.import_coco("coco-ok", coco_fixture["images_dir"], coco_fixture["instances_json"],
                                  coco_fixture["predictions_json"])
    assert (result.samples_added, result.samples_total) == (4, 4)
    ds = datasets.load("coco-ok")
    assert ds.persistent
    s = datasets.summary(ds)
    assert s["fields"] == {"ground_truth": 8, "predictions": 8}
    assert s["classes"] == ["cat", "dog"]
    # Boxes are stored relative to the image size, predictions carry their confidences.
    sample = ds.match({"coco_id": 1}).first()
    gt = {d.label: d.bounding_box for d in sample.ground_truth.detections}
    assert gt["cat"] == pytest.approx([2 / 64, 3 / 48, 20 / 64, 15 / 48])
    assert sorted(d.confidence for d in sample.predictions.detections) == pytest.approx([0.8, 0.9])
    assert sorted(ds.values("ground_truth.detections.coco_id", unwind=True)) == sorted(
        a["id"] for a in coco_fixture["instances"]["annotations"])
    ds.delete()


def test_class_probabilities_become_logits_named_by_the_dataset_classes(coco_fixture, tmp_path):
    results = [{**r, "class_probs": [0.75, 0.25] if r["category_id"] == 1 else [0.1, 0.9]}
               for r in coco_fixture["predictions"]]
    (tmp_path / "pred.json").write_text(json.dumps(results))
    importers.import_coco("coco-probs", coco_fixture["images_dir"], coco_fixture["instances_json"],
                         tmp_path / "pred.json", if_exists="overwrite")
    ds = datasets.load("coco-probs")
    try:
        assert ds.classes["predictions"] == ["cat", "dog"]  # categories 1, 2 in ascending id order
        labels, logits = (sum(v, []) for v in ds.values(["predictions.detections.label",
                                                          "predictions.detections.logits"]))
        assert len(logits) == len(results)
        for label, z in zip(labels, logits):
            assert z == pytest.approx(np.log([0.75, 0.25] if label == "cat" else [0.1, 0.9]))
    finally:
        ds.delete()


def test_existing_name_needs_a_choice(coco_fixture):
    args = ("coco-twice", coco_fixture["images_dir"], coco_fixture["instances_json"])
    importers.import_coco(*args)
    with pytest.raises(DatasetExists, match="overwrite, append"):
        importers.import_coco(*args)
    assert importers.import_coco(*args, if_exists="append").samples_total == 8
    assert importers.import_coco(*args, if_exists="overwrite").samples_total == 4
    assert _names().count("coco-twice") == 1
    datasets.delete("coco-twice")


def _write(path, obj):
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def _bad_instances(coco_fixture, tmp_path, mutate):
    inst = json.loads(json.dumps(coco_fixture["instances"]))
    mutate(inst)
    return _write(tmp_path / "bad.json", inst)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["annotations"].append({"id": 99, "image_id": 77, "category_id": 1, "bbox": [1, 1, 2, 2]}),
         "image ids that are not in 'images'"),
        (lambda c: c["annotations"][0].update(bbox=[5, 5, 0, 4]), "zero or negative size"),
        (lambda c: c["annotations"][0].update(bbox=[5, 5, -3, 4]), "zero or negative size"),
        (lambda c: c["annotations"][0].update(bbox=[60, 5, 30, 4]), "outside the image"),
        (lambda c: c["annotations"][0].update(category_id=42), "category ids not in 'categories'"),
        (lambda c: c["images"].append({"id": 5, "file_name": "gone.png", "width": 64, "height": 48}),
         "image files are missing"),
        (lambda c: c.update(images=[]), "no images"),
        (lambda c: c.pop("annotations"), "Not a COCO instances file"),
        # each image's own problem by name (a width of 0 read "outside the image", a missing one "KeyError")
        (lambda c: c["images"][1].update(width=0), r"1 images have no positive width and height .* image ids 2\."),
        (lambda c: c["images"][1].pop("height"), "no positive width and height"),
        (lambda c: c["images"][1].update(width="64"), "no positive width and height"),
        (lambda c: c["images"][1].update(id=1), r"1 image ids appear more than once, e.g. image ids 1\."),
        (lambda c: c["images"][1].pop("file_name"), "images have no file_name"),
        (lambda c: c["categories"].append({"name": "bird"}), "every category needs an integer 'id'"),
    ],
)
def test_bad_instances_are_refused_and_nothing_is_written(coco_fixture, tmp_path, mutate, message):
    before = _names()
    bad = _bad_instances(coco_fixture, tmp_path, mutate)
    with pytest.raises(InputError, match=message):
        importers.import_coco("bad", coco_fixture["images_dir"], bad)
    assert _names() == before


def test_skip_invalid_imports_the_rest(coco_fixture, tmp_path):
    def mutate(c):
        c["annotations"][0]["bbox"] = [5, 5, 0, 4]
        c["annotations"][1]["bbox"] = [30, 10, 34.5, 30]  # 0.5 px past the edge: clipped
        c["images"].append({"id": 5, "file_name": "gone.png", "width": 64, "height": 48})
    bad = _bad_instances(coco_fixture, tmp_path, mutate)
    result = importers.import_coco("skipped", coco_fixture["images_dir"], bad, skip_invalid=True)
    assert result.samples_total == 4
    assert any("1 images missing" in n for n in result.notes)
    assert any("1 invalid annotations" in n for n in result.notes)
    assert any("Clipped 1" in n for n in result.notes)
    assert datasets.summary(datasets.load("skipped"))["fields"]["ground_truth"] == 7
    datasets.delete("skipped")


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ("", "the file is empty"),
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}], "no numeric 'score'"),
        ('[{"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "score": NaN}]', "NaN / infinite"),
        ([{"image_id": "1", "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.5}],
         "image ids not in the ground truth, e.g. '1'"),
        ([{"image_id": 1, "category_id": 9, "bbox": [1, 1, 5, 5], "score": 0.5}], "category ids that the ground truth"),
        ([{"image_id": 8, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.5}], "image ids not in the ground truth"),
        ({"images": [], "annotations": [], "categories": []}, "is a COCO instances file"),
    ],
)
def test_bad_predictions_are_refused(coco_fixture, tmp_path, content, message):
    before = _names()
    bad = _write(tmp_path / "preds.json", content)
    with pytest.raises(InputError, match=message):
        importers.import_coco("bad-preds", coco_fixture["images_dir"], coco_fixture["instances_json"], bad)
    assert _names() == before


def test_missing_files_and_folders(coco_fixture, tmp_path):
    with pytest.raises(InputError, match="not found"):
        importers.import_coco("x", coco_fixture["images_dir"], tmp_path / "nope.json")
    with pytest.raises(InputError, match="Images folder not found"):
        importers.import_coco("x", tmp_path / "nope", coco_fixture["instances_json"])


def test_failed_append_keeps_the_existing_dataset(coco_fixture, tmp_path):
    importers.import_coco("keep-me", coco_fixture["images_dir"], coco_fixture["instances_json"])
    bad = _write(tmp_path / "preds.json", [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}])
    with pytest.raises(InputError):
        importers.import_coco("keep-me", coco_fixture["images_dir"], coco_fixture["instances_json"], bad,
                             if_exists="overwrite")
    assert len(datasets.load("keep-me")) == 4
    datasets.delete("keep-me")


def test_bulk_import_matches_fiftyones_own_coco_importer(coco_fixture):
    """The bulk insert must give what FiftyOne's importer gives (guards against storage changes)."""
    import fiftyone as fo
    from fiftyone import ViewField as F

    ours = datasets.load(importers.import_coco(
        "ours", coco_fixture["images_dir"], coco_fixture["instances_json"], coco_fixture["predictions_json"]).name)
    ref = fo.Dataset.from_dir(
        dataset_type=fo.types.COCODetectionDataset, data_path=str(coco_fixture["images_dir"]),
        labels_path=str(coco_fixture["instances_json"]), label_types="detections",
        label_field={"detections": "ground_truth", "coco_id": "coco_id"}, include_id=True,
        include_annotation_id=True)
    paths = ["filepath", "coco_id", "metadata.width", "metadata.height", "ground_truth.detections.label",
             "ground_truth.detections.bounding_box", "ground_truth.detections.coco_id"]
    assert ours.sort_by("coco_id").values(paths) == ref.sort_by("coco_id").values(paths)
    schema = ours.get_field_schema(flat=True)
    for path in ("coco_id", "ground_truth.detections.coco_id", "ground_truth.detections.iscrowd",
                 "predictions.detections.confidence"):
        assert path in schema
    # Samples behave like any others: loading, filtering, editing.
    sample = ours.first()
    sample["reviewed"] = True
    sample.save()
    assert ours.count("reviewed") == 1
    assert ours.filter_labels("predictions", F("confidence") > 0.85).count("predictions.detections") == 4
    assert ours.media_type == "image"
    ref.delete()
    ours.delete()


def test_predictions_crossing_the_border_are_clipped(coco_fixture, tmp_path):
    preds = _write(tmp_path / "p.json", [
        {"image_id": 1, "category_id": 1, "bbox": [50, 40, 30, 30], "score": 0.7},   # crosses the corner
        {"image_id": 1, "category_id": 1, "bbox": [-5, 2, 10, 10], "score": 0.6},
    ])
    result = importers.import_coco("clip", coco_fixture["images_dir"], coco_fixture["instances_json"], preds)
    assert any("Clipped 2 predictions" in n for n in result.notes)
    per_sample = datasets.load("clip").match({"coco_id": 1}).values("predictions.detections.bounding_box")
    boxes = sorted(per_sample[0])
    assert boxes[0] == pytest.approx([0, 2 / 48, 5 / 64, 10 / 48])
    assert boxes[1] == pytest.approx([50 / 64, 40 / 48, 14 / 64, 8 / 48])
    datasets.delete("clip")
    outside = _write(tmp_path / "o.json", [{"image_id": 1, "category_id": 1, "bbox": [70, 2, 10, 10], "score": 0.6}])
    with pytest.raises(InputError, match="outside the image"):
        importers.import_coco("clip", coco_fixture["images_dir"], coco_fixture["instances_json"], outside)


def test_boxes_inside_the_image_are_kept_exactly_as_given():
    from analysis.data import coco

    instances = {"images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 40}],
                 "categories": [{"id": 1, "name": "digit"}],
                 "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [77.68, 2.56, 12.67, 23.71]},
                                 {"id": 2, "image_id": 1, "category_id": 1, "bbox": [87.68, 2.56, 12.67, 23.71]}]}
    assert 77.68 + 12.67 - 77.68 != 12.67  # the float round trip that once changed such boxes
    checked, report = coco.check_instances(instances)
    assert checked["annotations"][0]["bbox"] == [77.68, 2.56, 12.67, 23.71]
    assert checked["annotations"][1]["bbox"] == pytest.approx([87.68, 2.56, 12.32, 23.71])  # 0.35 px past the edge
    assert checked["annotations"][1]["bbox"][3] == 23.71  # its inside side as given
    assert report.clipped_boxes == 1


SHARED_COCO = Path(__file__).resolve().parents[3] / "shared/data/coco-val2014-100"


@pytest.mark.skipif(not SHARED_COCO.is_dir(), reason="../shared/data/coco-val2014-100 is not present (only on team machines)")
def test_real_coco_annotations_with_crowd_boxes(tmp_path):
    """Real COCO val2014 annotations (80 classes, crowd boxes) with blank images of the right sizes."""
    from PIL import Image

    instances = json.loads((SHARED_COCO / "instances_val2014_100.json").read_text())
    for im in instances["images"]:
        Image.new("RGB", (im["width"], im["height"])).save(tmp_path / im["file_name"])
    result = importers.import_coco("coco100", tmp_path, SHARED_COCO / "instances_val2014_100.json",
                                  SHARED_COCO / "detections_jittered_gt_random_scores.json")
    ds = datasets.load("coco100")
    assert result.samples_total == 100
    counts = datasets.summary(ds)["fields"]
    assert counts["ground_truth"] == 839 and counts["predictions"] == 734
    assert ds.count_values("ground_truth.detections.iscrowd")[1] == 9
    assert len(ds.distinct("ground_truth.detections.label")) > 50
    ds.delete()
