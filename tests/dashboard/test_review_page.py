"""The review page (AppTest): galleries, decisions stored at once, filters, bulk, escaping."""

import pytest
from conftest import APP, build_error_dataset
from streamlit.testing.v1 import AppTest

from analysis.data import importers
from analysis.label_errors import fo_adapter
from analysis.review import store as review

XSS = "<img src=x onerror=alert(1)>"


def _open(name, reviewer=None):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["dataset"] = name
    if reviewer:
        at.query_params["reviewer"] = reviewer
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    return at


def _button(at, key):
    return next(b for b in at.button if b.key == key)


@pytest.fixture(scope="module")
def page_ds(tmp_path_factory):
    ds = build_error_dataset(tmp_path_factory.mktemp("review-page"), "review-page", dog_name=XSS)
    yield ds


def test_page_without_results_points_to_the_engine(tmp_path):
    from conftest import write_coco_fixture

    fx = write_coco_fixture(tmp_path)
    importers.import_coco("no-run", fx["images_dir"], fx["instances_json"], fx["predictions_json"])
    at = _open("no-run")
    assert any("no label-error results yet" in i.value for i in at.info)


def test_confirm_needs_a_name_then_is_stored_and_survives_a_reload(page_ds):
    at = _open("review-page")
    assert at.title[0].value == "Review label errors: review-page"
    top = fo_adapter.load_candidates(page_ds).iloc[0]
    _button(at, "rv_confirm").click().run()
    assert any("Enter your name" in e.value for e in at.error)
    assert review.decisions(page_ds).empty

    at.sidebar.text_input(key="reviewer").input("alice").run()
    at.text_input(key="rv_comment").input("clearly wrong").run()
    _button(at, "rv_confirm").click().run()
    assert not at.exception
    assert any("1 decision stored: confirmed" in s.value for s in at.success)
    stored = review.decisions(page_ds).set_index("label_id")
    assert stored.loc[top.label_id, ["review_status", "review_by", "review_comment"]].tolist() == [
        "confirmed", "alice", "clearly wrong"]
    assert at.query_params["reviewer"] == "alice"

    # A reload is a new session: the decision is read back from FiftyOne.
    at = _open("review-page", reviewer="alice")
    at.multiselect(key="rv_status").set_value(["confirmed"]).run()
    texts = [t.value for t in at.text]
    assert any(t.startswith("Status: confirmed by alice") for t in texts)
    assert any("Comment: clearly wrong" == t for t in texts)
    assert at.metric[2].value == "1"  # reviewed


def test_bulk_dismiss_filters_and_escaping(page_ds):
    at = _open("review-page", reviewer="bob")
    at.selectbox(key="rv_type").set_value("low_iou").run()
    assert not [c for c in at.checkbox if c.key and c.key.startswith("rv_sel_")]  # one by one: no gallery drawn
    at.radio(key="rv_view").set_value("Gallery").run()
    assert "rv_confirm" not in {b.key for b in at.button}
    cards = [c for c in at.checkbox if c.key and c.key.startswith("rv_sel_")]
    assert cards
    for c in cards[:2]:
        c.check()
    at.run()
    _button(at, "rv_bulk_dismiss").click().run()
    assert any("2 decisions stored: dismissed" in s.value for s in at.success)
    current = review.decisions(page_ds)
    assert (current[current["review_by"] == "bob"]["review_status"] == "dismissed").sum() == 2

    # The reviewer filter shows only bob's decisions.
    at.multiselect(key="rv_status").set_value(["dismissed", "confirmed"]).run()
    at.multiselect(key="rv_reviewers").set_value(["bob"]).run()
    assert at.metric[1].value == "2"

    # A class named like an HTML tag is shown as text, never as markup.
    at.selectbox(key="rv_type").set_value("all").run()
    at.multiselect(key="rv_reviewers").set_value([]).run()
    at.multiselect(key="rv_status").set_value(["pending"]).run()
    assert XSS in at.multiselect(key="rv_classes").options
    at.multiselect(key="rv_classes").set_value([XSS]).run()
    assert any(XSS in t.value for t in at.text)
    assert not any(XSS in m.value for m in at.markdown)
    assert not at.exception


def test_exports_from_the_page(page_ds):
    at = _open("review-page", reviewer="carol")
    _button(at, "rv_coco").click().run()
    assert not at.exception and any("Corrected COCO written" in s.value for s in at.success)
    path = next(t.value for t in at.text if t.value.endswith(".json"))
    assert "exports" in path


def test_label_errors_table_opens_with_image_type_score_class_and_ids_last(page_ds):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["dataset"] = "review-page"
    at.switch_page("views/label_errors.py").run()
    assert not at.exception
    order = list(at.dataframe[0].proto.column_order)
    assert order[:4] == ["filepath", "error_type", "error_score", "label"]
    assert order[-3:] == ["error_match_id", "sample_id", "label_id"] and set(order) == set(at.dataframe[0].value)
    assert at.dataframe[0].value["error_score"].is_monotonic_decreasing
