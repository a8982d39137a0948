"""The demo dataset: built once (fast variant here), imported into FiftyOne with its known errors."""

import pandas as pd
from conftest import APP
from streamlit.testing.v1 import AppTest

from analysis.data import datasets
from analysis.demo import dataset as demo


def test_fast_demo_is_built_once_and_records_its_errors():
    ds = demo.ensure_demo(fast=True)
    info = ds.info["demo"]
    assert 0.0 < info["map50"] <= 1.0
    assert ds.info["synthetic_note"].startswith("Synthetic data")
    built_at = ds.created_at
    # A second call (a second app start) reuses the dataset instead of rebuilding it.
    assert demo.ensure_demo(fast=True).created_at == built_at

    errors = pd.read_csv(demo._case_dir(fast=True) / "injected_errors.csv")
    marked = ds.count_values("ground_truth.detections.injected_error")
    for kind in ("low_iou", "wrong_class", "spurious", "duplicate"):
        assert marked.get(kind, 0) == (errors["error_type"] == kind).sum()
    missing = ds.count_values("clean_ground_truth.detections.injected_error").get("missing", 0)
    assert missing == (errors["error_type"] == "missing").sum() > 0
    # The noisy truth is the clean truth minus the missing boxes plus the invented ones.
    n_noisy = ds.count("ground_truth.detections")
    n_clean = ds.count("clean_ground_truth.detections")
    added = marked.get("spurious", 0) + marked.get("duplicate", 0)
    assert n_noisy == n_clean - missing + added
    assert ds.count("predictions.detections") > 0
    assert set(datasets.detection_fields(ds)) == {"ground_truth", "clean_ground_truth", "predictions"}


def test_overview_page_shows_the_demo_as_synthetic():
    demo.ensure_demo(fast=True)
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert at.title[0].value == f"Dataset overview: {demo.DEMO_NAME}"
    assert "Synthetic data" in at.info[0].value and "mAP@0.5" in at.info[0].value


def test_label_errors_page_ranks_the_demo_errors():
    demo.ensure_demo(fast=True)
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("views/label_errors.py").run()
    assert not at.exception
    assert any("No results yet" in i.value for i in at.info)
    at.button[0].click().run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert len(table) > 0
    assert table["error_score"].is_monotonic_decreasing
    assert set(table["error_type"]) <= {"low_iou", "missing", "spurious", "wrong_class", "duplicate"}
    assert {m.label for m in at.metric} == set(table["error_type"])
    shown_fields = "ground truth 'ground_truth' against predictions 'predictions'"
    assert any(shown_fields in c.value and "candidates scoring 0.05 or more" in c.value for c in at.caption)
    # a failed run with other fields keeps the earlier results, and the page says which fields they compare
    at.selectbox[1].select("clean_ground_truth").run()
    at.button[0].click().run()
    assert not at.exception and "no confidence" in at.error[0].value
    assert any(shown_fields in c.value for c in at.caption) and len(at.dataframe[0].value) == len(table)
