"""The app's data pages through Streamlit's AppTest, against the real FiftyOne database."""

import json
import socket

import pytest
from conftest import APP
from streamlit.testing.v1 import AppTest

from analysis.data import datasets, importers


def _app(dataset=None, port=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if dataset:
        at.session_state["dataset"] = dataset
    if port:
        at.session_state["fo_port"] = port
    return at


@pytest.fixture
def imported(coco_fixture):
    importers.import_coco("pages-ds", coco_fixture["images_dir"], coco_fixture["instances_json"],
                         coco_fixture["predictions_json"], if_exists="overwrite")
    yield "pages-ds"
    if "pages-ds" in datasets.list_datasets():
        datasets.delete("pages-ds")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_overview_shows_counts_and_opens_fiftyone(imported):
    at = _app(imported, port=_free_port()).run()
    assert not at.exception
    assert at.title[0].value == "Dataset overview: pages-ds"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "4"
    assert metrics["Boxes in ground_truth"] == "8" and metrics["Boxes in predictions"] == "8"
    assert at.number_input(key="overview_page").value == 1
    at.button(key="fo_dataset").click().run()
    assert not at.exception and not at.error
    assert any("FiftyOne App: http://127.0.0.1:" in c.value for c in at.caption)


def test_load_data_imports_coco_and_reports_bad_input(coco_fixture, tmp_path):
    at = _app()
    at.switch_page("views/load_data.py").run()
    assert not at.exception
    at.text_input(key="import_name").input("ui-import")
    at.text_input(key="coco_images").input(str(coco_fixture["images_dir"]))
    bad = tmp_path / "broken.json"
    bad.write_text("{oops")
    at.text_input(key="coco_instances").input(str(bad)).run()
    at.button[0].click().run()
    assert "not valid JSON" in at.error[0].value
    assert "ui-import" not in datasets.list_datasets()

    at.text_input(key="coco_instances").input(str(coco_fixture["instances_json"]))
    at.text_input(key="coco_predictions").input(str(coco_fixture["predictions_json"]))
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert "Imported 4 images into 'ui-import'" in at.success[0].value
    assert datasets.summary(datasets.load("ui-import"))["fields"] == {"ground_truth": 8, "predictions": 8}

    # The same name again: the page asks overwrite / append / cancel, and Cancel disables the import.
    at.run()
    choice = at.radio(key="if_exists")
    assert choice.options == ["Cancel", "Append the new images", "Overwrite it"]
    assert at.button[0].disabled
    choice.set_value("Append the new images").run()
    at.button[0].click().run()
    assert "8 in total" in at.success[0].value
    datasets.delete("ui-import")


def test_bad_predictions_in_the_ui(coco_fixture, tmp_path):
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4]}]))
    at = _app()
    at.switch_page("views/load_data.py").run()
    at.text_input(key="import_name").input("no-scores")
    at.text_input(key="coco_images").input(str(coco_fixture["images_dir"]))
    at.text_input(key="coco_instances").input(str(coco_fixture["instances_json"]))
    at.text_input(key="coco_predictions").input(str(preds)).run()
    at.button[0].click().run()
    assert not at.exception
    assert "no numeric 'score'" in at.error[0].value
    assert "no-scores" not in datasets.list_datasets()


def test_existing_dataset_is_listed_with_its_summary(imported):
    at = _app()
    at.switch_page("views/load_data.py").run()
    at.radio(key="load_format").set_value("Existing FiftyOne dataset").run()
    at.selectbox(key="existing_name").set_value(imported).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric} == {"Samples": "4", "Classes": "2"}
    assert any("cat, dog" in t.value for t in at.text)


def _until(predicate, timeout_s=900):
    """Wait for a condition the background job makes true."""
    import time

    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.5)


def test_first_start_builds_the_demo_in_the_background_while_other_pages_work():
    from analysis.core import jobs
    from analysis.demo import dataset as demo

    if demo.is_ready():
        datasets.delete(demo.DEMO_NAME)
    jobs.forget(demo.JOB_PREFIX + demo.DEMO_NAME)
    first = _app().run()  # the default page needs the demo: it starts the build and says so
    assert not first.exception
    assert first.title[0].value == "Building the demo dataset"
    job = demo.build_status()
    assert job.state in ("running", "done")
    second = _app().run()  # another session: the same job, not a second build
    assert not second.exception and demo.build_status().pid == job.pid
    budget = _app()
    budget.switch_page("views/budget.py").run()  # a page that does not need the demo works meanwhile
    assert not budget.exception and budget.title[0].value == "Budget planner"
    _until(lambda: demo.build_status().state == "done")
    assert demo.build_status().result["dataset"] == demo.DEMO_NAME
    first.run()
    assert not first.exception and first.title[0].value == f"Dataset overview: {demo.DEMO_NAME}"


def test_label_errors_page_names_the_boxes_without_area_it_left_out(imported):
    import fiftyone as fo

    ds = datasets.load(imported)
    sample = ds.first()
    sample.ground_truth.detections.append(fo.Detection(label="cat", bounding_box=[0.5, 0.5, 0.2, 0.0]))
    sample.save()
    at = _app(imported).run()
    at.switch_page("views/label_errors.py").run()
    next(b for b in at.button if b.label == "Find label errors").click().run()
    # the only errors: the training section's, as 4 images are too few to train on
    assert not at.exception and all(e.value.startswith("Only ") for e in at.error)
    assert [w.value for w in at.warning if "Left out of the ranking" in w.value] == [
        "Left out of the ranking: 1 box in 'ground_truth' (ground truth) with zero or negative width or height "
        "(they cover nothing, so nothing can overlap them). Such a box is a mistake in itself: fix or delete it."]
    opens = [b.label for b in at.button if (b.key or "").startswith("fo_no_area")]
    assert opens == ["Open these ground truth boxes in FiftyOne"]
