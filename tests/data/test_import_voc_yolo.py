"""VOC and YOLO folders through FiftyOne's importers, and the existing-dataset summary."""

from pathlib import Path

import pytest
from PIL import Image

from analysis.core.errors import InputError
from analysis.data import datasets, importers

BCCD = Path(__file__).resolve().parents[3] / "shared/data/bccd/BCCD"

VOC_XML = """<annotation><filename>{name}</filename>
<size><width>80</width><height>60</height><depth>3</depth></size>
<object><name>{label}</name><bndbox><xmin>10</xmin><ymin>5</ymin><xmax>40</xmax><ymax>35</ymax></bndbox></object>
</annotation>"""


def _voc_folder(root: Path, labels=("cell", "dog")) -> Path:
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    for i, label in enumerate(labels):
        Image.new("RGB", (80, 60), (30 * i, 90, 90)).save(root / "JPEGImages" / f"im{i}.jpg")
        (root / "Annotations" / f"im{i}.xml").write_text(VOC_XML.format(name=f"im{i}.jpg", label=label))
    return root


def test_import_voc(tmp_path):
    result = importers.import_voc("voc-small", _voc_folder(tmp_path / "voc"))
    assert result.samples_total == 2
    ds = datasets.load("voc-small")
    s = datasets.summary(ds)
    assert s["fields"] == {"ground_truth": 2} and s["classes"] == ["cell", "dog"]
    box = ds.first().ground_truth.detections[0].bounding_box
    assert box == pytest.approx([10 / 80, 5 / 60, 30 / 80, 30 / 60], abs=0.02)
    assert ds.first().metadata.width == 80
    ds.delete()


def test_a_box_without_area_is_kept_with_a_note(tmp_path):
    root = _voc_folder(tmp_path / "voc", labels=("cell",))
    xml = root / "Annotations" / "im0.xml"
    xml.write_text(xml.read_text().replace("<xmax>40</xmax>", "<xmax>10</xmax>"))  # xmin = xmax: no width
    result = importers.import_voc("voc-no-area", root)
    assert any(n.startswith("1 box has zero or negative width") for n in result.notes)
    ds = datasets.load("voc-no-area")
    assert ds.count("ground_truth.detections") == 1  # kept as imported: the user decides
    ds.delete()
    assert importers.import_voc("voc-fine", _voc_folder(tmp_path / "fine")).notes == []
    datasets.load("voc-fine").delete()


def test_import_yolo(tmp_path):
    root = tmp_path / "yolo"
    (root / "images/val").mkdir(parents=True)
    (root / "labels/val").mkdir(parents=True)
    (root / "dataset.yaml").write_text("path: .\nval: ./images/val/\nnames:\n  0: car\n  1: person\n")
    for i in range(3):
        Image.new("RGB", (100, 50)).save(root / f"images/val/im{i}.jpg")
        (root / f"labels/val/im{i}.txt").write_text("0 0.5 0.5 0.2 0.4\n1 0.25 0.25 0.1 0.1\n")
    result = importers.import_yolo("yolo-small", root)
    assert result.samples_total == 3
    ds = datasets.load("yolo-small")
    assert datasets.summary(ds)["fields"] == {"ground_truth": 6}
    assert sorted(ds.distinct("ground_truth.detections.label")) == ["car", "person"]
    det = [d for d in ds.first().ground_truth.detections if d.label == "car"][0]
    assert det.bounding_box == pytest.approx([0.4, 0.3, 0.2, 0.4])
    ds.delete()


def test_yolo_and_voc_bad_folders(tmp_path):
    with pytest.raises(InputError, match="no dataset.yaml"):
        importers.import_yolo("y", tmp_path)
    (tmp_path / "dataset.yaml").write_text("names: [a]\n")
    with pytest.raises(InputError, match="names no split"):
        importers.import_yolo("y", tmp_path)
    with pytest.raises(InputError, match="Folder not found"):
        importers.import_voc("v", tmp_path / "absent")
    empty = tmp_path / "empty"
    (empty / "JPEGImages").mkdir(parents=True)
    (empty / "Annotations").mkdir()
    with pytest.raises(InputError, match="no images"):
        importers.import_voc("v", empty)
    assert "v" not in datasets.list_datasets()


@pytest.mark.skipif(not BCCD.is_dir(), reason="../shared/data/bccd is not present (only on team machines)")
def test_import_real_bccd_voc():
    result = importers.import_voc("bccd", BCCD)
    s = datasets.summary(datasets.load("bccd"))
    assert result.samples_total == 364
    assert set(s["classes"]) == {"RBC", "WBC", "Platelets"}
    assert s["fields"]["ground_truth"] > 4500
    datasets.delete("bccd")
