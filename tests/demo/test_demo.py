"""The demo dataset: built once (fast variant here), imported into FiftyOne with its known errors."""

import pandas as pd
import pytest
from conftest import APP
from streamlit.testing.v1 import AppTest

from analysis.core.files import data_home
from analysis.data import datasets
from analysis.demo import dataset as demo


def test_fast_demo_is_built_once_and_records_its_errors():
    ds = demo.ensure_demo(size="fast")
    info = ds.info["demo"]
    assert 0.0 < info["map50"] <= 1.0
    assert ds.info["synthetic_note"].startswith("Synthetic data")
    built_at = ds.created_at
    # A second call (a second app start) reuses the dataset instead of rebuilding it.
    assert demo.ensure_demo(size="fast").created_at == built_at

    errors = pd.read_csv(data_home() / "demo" / "fast" / "injected_errors.csv")
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
    demo.ensure_demo(size="fast")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert at.title[0].value == f"Dataset overview: {demo.DEMO_NAME}"
    assert "Synthetic data" in at.info[0].value and "mAP@0.5" in at.info[0].value


def test_label_errors_page_ranks_the_demo_errors():
    demo.ensure_demo(size="fast")
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("views/label_errors.py").run()
    assert not at.exception
    assert any("No results yet" in i.value for i in at.info)
    find = next(b for b in at.button if b.label == "Find label errors")  # the training section sits above it
    find.click().run()
    assert not at.exception and not at.error
    trust, table = (d.value for d in at.dataframe)  # the trust figure, then the candidates
    for _, row in trust.iterrows():  # expected precision of the top k = their mean score; nobody has decided yet
        scores = table.loc[table["error_type"] == row["error_type"], "error_score"]
        assert row["expected"] == pytest.approx(scores.nlargest(row["k"]).mean())
        assert row["measured_text"] == "none decided yet"
    assert len(table) > 0
    assert table["error_score"].is_monotonic_decreasing
    assert set(table["error_type"]) <= {"low_iou", "missing", "spurious", "wrong_class", "duplicate"}
    assert {m.label for m in at.metric} == set(table["error_type"])
    shown_fields = "ground truth 'ground_truth' against predictions 'predictions'"
    assert any(shown_fields in c.value and "candidates scoring 0.05 or more" in c.value for c in at.caption)
    # a failed run with other fields keeps the earlier results, and the page says which fields they compare
    next(s for s in at.selectbox if s.label == "Predictions field").select("clean_ground_truth").run()
    next(b for b in at.button if b.label == "Find label errors").click().run()
    assert not at.exception and "no confidence" in at.error[0].value
    assert any(shown_fields in c.value for c in at.caption) and len(at.dataframe[-1].value) == len(table)


def test_an_interrupted_build_resumes_after_its_last_finished_stage(tmp_path):
    import json

    from analysis.demo.case import build_case

    params = dict(source="mnist", n_train=24, n_val=6, image_size=64, objects_per_image=(1, 3), scale_px=(14, 30),
                  train_steps=12, seed=3)

    class Killed(Exception):
        pass

    def killed_while_training(fraction, message):
        if message.startswith("Training the detector"):
            raise Killed

    with pytest.raises(Killed):
        build_case(tmp_path / "case", **params, progress=killed_while_training)
    assert not (tmp_path / "case").exists()  # a case folder appears complete or not at all
    seen = []
    build_case(tmp_path / "case", **params, progress=lambda f, m: seen.append((f, m)))
    assert seen[0] == (0.1, "Scenes composed earlier: reusing them")
    assert not any(m.startswith("Composing") for _, m in seen)
    build_case(tmp_path / "fresh", **params)
    for name in ("gt_clean.json", "gt_noisy.json", "predictions.json"):
        assert json.loads((tmp_path / "case" / name).read_text()) == json.loads((tmp_path / "fresh" / name).read_text())
    assert sorted(p.name for p in (tmp_path / "case").iterdir()) == sorted(p.name for p in (tmp_path / "fresh").iterdir())
