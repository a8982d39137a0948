"""The review page (AppTest): galleries, decisions stored at once, filters, bulk, escaping."""

import pytest
from conftest import APP, build_error_dataset
from streamlit.testing.v1 import AppTest

from analysis.data import importers
from analysis.label_errors import fo_adapter
from analysis.review import claims as review_claims
from analysis.review import store as review
from analysis.review import tables as review_tables

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
    table = next(d for d in at.dataframe if "filepath" in d.value.columns)
    order = list(table.proto.column_order)
    assert order[:4] == ["filepath", "error_type", "error_score", "label"]
    assert order[-3:] == ["error_match_id", "sample_id", "label_id"] and set(order) == set(table.value)
    assert table.value["error_score"].is_monotonic_decreasing
    # above it, the trust figure: each type's top candidates' mean score; no verdicts yet on this dataset
    trust = next(d.value for d in at.dataframe if "expected" in d.value.columns)
    for kind, rows in trust.groupby("error_type"):
        scores = table.value.loc[table.value["error_type"] == kind, "error_score"]
        assert rows["expected"].iloc[0] == pytest.approx(scores.head(rows["k"].iloc[0]).mean())
    assert set(trust["measured_text"]) <= {"none decided yet"} | {f"{n} decided: too few" for n in range(1, 10)}


def _shown_label(at, ds):
    """The label id of the candidate on the one-by-one card (its evidence line names it uniquely here)."""
    table = review_tables.page_details(ds, fo_adapter.load_candidates(ds))
    texts = {t.value for t in at.text}
    return next(r.label_id for _, r in table.iterrows() if review_tables.describe(r) in texts
                and f"Class: {r.label}    Field: {r.label_field}" in texts)


def test_two_reviewers_get_different_candidates_and_a_late_verdict_is_not_overwritten(tmp_path):
    ds = build_error_dataset(tmp_path, "review-duo")
    a = _open("review-duo", reviewer="reviewer A")
    b = _open("review-duo", reviewer="reviewer B")
    seen_by_a, seen_by_b = _shown_label(a, ds), _shown_label(b, ds)
    assert seen_by_a != seen_by_b  # B's queue skips the candidate A has open
    assert any("reviewer A 1" in c.value for c in b.caption)
    assert set(review_claims.claims(ds).set_index("label_id")["claimed_by"].items()) == {
        (seen_by_a, "reviewer A"), (seen_by_b, "reviewer B")}

    # Someone else (another tool, or after A's claim ran out) dismisses A's candidate; A then confirms it.
    row = fo_adapter.load_candidates(ds).set_index("label_id").loc[seen_by_a]
    review.decide(ds, row.label_field, row.sample_id, seen_by_a, "dismissed", "reviewer B")
    _button(a, "rv_confirm").click().run()
    assert any(w.value.startswith("reviewer B dismissed this") and "not stored" in w.value for w in a.warning)
    assert review.decisions(ds).set_index("label_id").loc[seen_by_a, "review_by"] == "reviewer B"
    _button(a, "rv_dispute").click().run()
    assert not a.exception
    stored = review.decisions(ds).set_index("label_id").loc[seen_by_a]
    assert (stored.review_status, stored.review_by) == ("disputed", "reviewer A")
    assert review.history(ds).iloc[-1]["verdict"] == "confirmed"
    a.multiselect(key="rv_status").set_value(["disputed"]).run()
    assert a.metric[1].value == "1" and _shown_label(a, ds) == seen_by_a


def test_undo_brings_back_this_reviewers_last_decision_whatever_the_filters(tmp_path):
    ds = build_error_dataset(tmp_path, "review-undo")
    at = _open("review-undo", reviewer="alice")
    assert _button(at, "rv_undo_last").disabled  # nothing decided yet
    first = _shown_label(at, ds)
    _button(at, "rv_confirm").click().run()
    assert _shown_label(at, ds) != first  # the next pending candidate
    kind = fo_adapter.load_candidates(ds).set_index("label_id").loc[first, "error_type"]
    other = next(o for o in at.selectbox(key="rv_type").options if not o.startswith(
        review_tables.TYPE_TITLES[kind]) and not o.startswith("All"))
    at.selectbox(key="rv_type").select_index(at.selectbox(key="rv_type").options.index(other)).run()
    _button(at, "rv_undo_last").click().run()
    assert not at.exception
    assert "Candidate brought back by Undo" in [h.value for h in at.subheader] and _shown_label(at, ds) == first
    assert any(t.value == "Status: pending" for t in at.text)
    assert first not in set(review.decisions(ds)["label_id"])
    assert review.history(ds)["status"].tolist() == ["confirmed", "pending"]
    assert _button(at, "rv_undo_last").disabled
