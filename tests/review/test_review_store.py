"""Review decisions: stored on the labels in FiftyOne, atomic, kept across re-runs, exported as fixes."""

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import build_error_dataset

import _review_race as race
from analysis.core import render
from analysis.label_errors import fo_adapter as label_errors_fo
from analysis.review import exports as review_exports
from analysis.review import store as review
from analysis.review import tables as review_tables

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ds(tmp_path):
    dataset = build_error_dataset(tmp_path, "review-lib")
    review.prepare(dataset)
    return dataset


def _candidate(candidates, kind):
    return candidates[candidates["error_type"] == kind].iloc[0]


def test_decisions_are_label_fields_tags_and_history(ds):
    cands = label_errors_fo.load_candidates(ds)
    low, missing = _candidate(cands, "low_iou"), _candidate(cands, "missing")
    review.decide(ds, low.label_field, low.sample_id, low.label_id, "confirmed", "alice", "box is 6 px off")
    review.decide(ds, missing.label_field, missing.sample_id, missing.label_id, "dismissed", "bob")

    # What a FiftyOne user sees: fields and tags on the labels, filterable.
    label = ds[low.sample_id].ground_truth.detections
    label = next(d for d in label if d.id == low.label_id)
    assert label.review_status == "confirmed" and label.review_by == "alice"
    assert label.review_comment == "box is 6 px off" and label.tags == ["error:confirmed"]
    assert ds.count_label_tags() == {"error:confirmed": 1, "error:dismissed": 1}
    assert len(ds.load_saved_view(review.SAVED_VIEWS["confirmed"])) == 1
    pending = ds.load_saved_view(review.SAVED_VIEWS["pending"])
    assert low.sample_id not in pending.values("id") or len(pending) >= 1

    current = review.decisions(ds).set_index("label_id")
    assert current.loc[low.label_id, "review_status"] == "confirmed"
    assert current.loc[missing.label_id, "review_by"] == "bob"
    assert current.loc[missing.label_id, "label_field"] == "predictions"

    # Undo goes back to pending; the history keeps both entries with the candidate's snapshot.
    review.decide(ds, low.label_field, low.sample_id, low.label_id, "pending", "alice")
    assert low.label_id not in set(review.decisions(ds)["label_id"])
    hist = review.history(ds)
    mine = hist[hist["label_id"] == low.label_id]
    assert list(mine["status"]) == ["confirmed", "pending"]
    assert set(mine["error_type"]) == {"low_iou"} and mine["error_match_id"].notna().all()
    assert ds.count_label_tags() == {"error:dismissed": 1}


def test_user_text_is_stored_literally_and_bad_decisions_are_refused(ds):
    row = label_errors_fo.load_candidates(ds).iloc[0]
    args = (ds, row.label_field, row.sample_id, row.label_id)
    review.decide(*args, "confirmed", "$eve", "$ground_truth costs $100 {<b>}")
    got = review.decisions(ds).iloc[0]
    assert got.review_by == "$eve" and got.review_comment == "$ground_truth costs $100 {<b>}"
    with pytest.raises(review.ReviewError, match="Enter your name"):
        review.decide(*args, "confirmed", "   ")
    with pytest.raises(review.ReviewError, match="Unknown review status"):
        review.decide(*args, "maybe", "alice")
    with pytest.raises(review.ReviewError, match="no longer exist"):
        review.decide(ds, row.label_field, row.sample_id, "0" * 24, "confirmed", "alice")


def test_two_processes_deciding_labels_of_one_image_lose_nothing(ds):
    """Two reviewers hammer different labels of the same sample at the same moment (a barrier starts both)."""
    cands = label_errors_fo.load_candidates(ds)
    sample = cands["sample_id"].value_counts().index[0]
    labels = cands[cands["sample_id"] == sample].head(2)
    assert len(labels) == 2
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no copied database connections
    barrier = spawn.Barrier(2)
    procs = [spawn.Process(target=race.decide_rounds, args=(
        "review-lib", {"label_field": r.label_field, "sample_id": sample, "label_id": r.label_id}, who, 25, barrier))
        for r, who in zip(labels.itertuples(), ("alice", "bob"))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    hist = review.history(ds)
    for r, who in zip(labels.itertuples(), ("alice", "bob")):
        mine = hist[hist["label_id"] == r.label_id]
        assert len(mine) == 25 and set(mine["by"]) == {who}
        assert sorted(mine["comment"], key=lambda c: int(c.split()[1])) == [f"round {i}" for i in range(25)]
    final = review.decisions(ds).set_index("label_id")
    assert (final.loc[labels["label_id"], "review_status"] == "confirmed").all()  # round 24 is even


def test_decisions_survive_a_rerun_that_no_longer_flags_the_label(ds):
    cands = label_errors_fo.load_candidates(ds)
    low = _candidate(cands, "low_iou")
    review.decide(ds, low.label_field, low.sample_id, low.label_id, "confirmed", "alice")
    # Someone fixes the box in FiftyOne (to the prediction's box, as the corrected COCO does); the
    # engine's next run no longer flags it.
    sample = ds[low.sample_id]
    det = next(d for d in sample.ground_truth.detections if d.id == low.label_id)
    det.bounding_box = [3 / 64, 4 / 48, 21 / 64, 16 / 48]
    sample.save()
    label_errors_fo.find_label_errors(ds)
    after = label_errors_fo.load_candidates(ds)
    assert low.label_id not in set(after.query("error_type == 'low_iou'")["label_id"])
    current = review.decisions(ds)
    assert low.label_id in set(current["label_id"])  # kept on the label
    orphans = review_tables.orphaned(after[after["label_id"] != low.label_id], current)
    assert list(orphans["label_id"]) == [low.label_id]
    assert review.history(ds).iloc[-1]["error_type"] == "low_iou"  # what was confirmed


def test_corrected_coco_applies_confirmed_fixes_and_never_overwrites(ds, tmp_path):
    cands = label_errors_fo.load_candidates(ds)
    for kind in ("low_iou", "missing", "wrong_class", "spurious"):
        c = _candidate(cands, kind)
        review.decide(ds, c.label_field, c.sample_id, c.label_id, "confirmed", "alice")
    out = tmp_path / "fixed.json"
    path, log = review_exports.write_corrected_coco(ds, out)
    assert log["applied"].all() and len(log) == 4
    coco = json.loads(path.read_text())
    anns = {a["id"]: a for a in coco["annotations"]}
    # low IoU: image 1's cat box takes the prediction's box (the fixture adds 1 px to each value)
    assert anns[10]["bbox"] == [3.0, 4.0, 21.0, 16.0]
    # wrong class: image 3's box goes back to cat (category 1)
    assert anns[30]["category_id"] == 1
    # spurious: the invented box is gone
    assert 99 not in anns
    # missing: image 2's dog box is added from the prediction, with a new id
    added = [a for a in coco["annotations"] if a["id"] > 99]
    assert len(added) == 1 and added[0]["image_id"] == 2 and added[0]["category_id"] == 2
    assert added[0]["bbox"] == [31.0, 11.0, 26.0, 31.0]
    assert coco["categories"] == [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
    assert len(coco["images"]) == 8 and coco["images"][0]["file_name"] == "img1.png"
    with pytest.raises(review.ReviewError, match="never overwritten"):
        review_exports.write_corrected_coco(ds, out)
    default, _ = review_exports.write_corrected_coco(ds)
    assert default.parent.name == "exports" and default != out


def test_apply_fixes_hand_computed():
    gt = pd.DataFrame({"label_id": ["g1", "g2", "g3", "g4"], "sample_id": "s", "label": ["a", "b", "a", "a"],
                       "x": [0.0, 10, 20, 30], "y": 0.0, "w": 5.0, "h": 5.0})
    preds = pd.DataFrame({"label_id": ["p1", "p2"], "sample_id": "s", "label": ["a", "c"],
                          "x": [1.0, 50], "y": [1.0, 50], "w": [6.0, 4], "h": [6.0, 4]})
    confirmed = pd.DataFrame({"label_field": ["gt", "gt", "gt", "pred", "gt"],
                              "label_id": ["g1", "g2", "g3", "p2", "g4"],
                              "error_type": ["low_iou", "wrong_class", "duplicate", "missing", "low_iou"],
                              "error_match_id": ["p1", "p2", "g1", None, "gone"]})
    fixed, log = review_exports.apply_fixes(gt, preds, confirmed)
    fixed = fixed.set_index("label_id")
    assert fixed.loc["g1", ["x", "y", "w", "h"]].tolist() == [1.0, 1.0, 6.0, 6.0]
    assert fixed.loc["g2", "label"] == "c"
    assert "g3" not in fixed.index
    assert fixed.loc["p2", ["label", "x", "added"]].tolist() == ["c", 50.0, True]
    assert fixed.loc["g4", "x"] == 30.0  # its prediction is gone: not applied, and said so
    assert log.set_index("label_id").loc["g4", "note"] == "the supporting prediction no longer exists"
    assert log["applied"].tolist() == [True, True, True, True, False]


def test_progress_and_precision_by_band_hand_computed():
    table = pd.DataFrame({
        "error_type": ["low_iou", "low_iou", "missing", "missing", "spurious"],
        "error_score": [0.95, 0.85, 0.5, 0.1, 1.0],
        "review_status": ["confirmed", "dismissed", "confirmed", "pending", "confirmed"],
    })
    prog = review_tables.progress_by_type(table).set_index("error_type")
    assert prog.loc["low_iou"].to_dict() == {"confirmed": 1, "dismissed": 1, "disputed": 0, "pending": 0, "reviewed": 2,
                                             "total": 2}
    assert prog.loc["missing", "pending"] == 1
    bands = review_tables.precision_by_band(table).set_index("band")
    top = bands.loc["0.8-1.0"]
    assert (top["candidates"], top["reviewed"], top["confirmed"]) == (3, 3, 2)
    assert top["precision"] == pytest.approx(2 / 3)
    # Wilson 80% interval for 2/3 (z = 1.2816), computed by hand
    z, n, p = 1.2816, 3, 2 / 3
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (top["low"], top["high"]) == pytest.approx((centre - half, centre + half), abs=1e-4)
    assert np.isnan(bands.loc["0.2-0.4", "precision"])


def test_card_png_crops_with_context_and_caches(tmp_path):
    from PIL import Image

    path = tmp_path / "img.png"
    Image.new("RGB", (400, 300), (10, 10, 10)).save(path)
    png = render.card_png(path, [("GT cat", [0.5, 0.5, 0.1, 0.1])], [("pred cat", [0.52, 0.5, 0.1, 0.1], 0.9)],
                          size=200, cache_dir=tmp_path / "cache")
    crop = Image.open(__import__("io").BytesIO(png))
    assert max(crop.size) == 200 and crop.size[0] < 400
    assert len(list((tmp_path / "cache").glob("*.png"))) == 1
    assert render.card_png(path, [("GT cat", [0.5, 0.5, 0.1, 0.1])], [("pred cat", [0.52, 0.5, 0.1, 0.1], 0.9)],
                           size=200, cache_dir=tmp_path / "cache") == png
    with pytest.raises(OSError):
        render.card_png(tmp_path / "gone.png", [], [])


def test_describe_reads_like_the_card():
    row = {"error_type": "low_iou", "error_iou": 0.62, "match_confidence": 0.97, "error_score": 0.8,
           "label": "cat", "match_label": "cat"}
    assert review_tables.describe(row) == "Low IoU · IoU 0.62 · pred 0.97 · score 0.80"
    row = {"error_type": "wrong_class", "error_iou": 0.9, "match_confidence": 0.91, "error_score": 0.7,
           "label": "cat", "match_label": "dog"}
    assert review_tables.describe(row).startswith("Wrong class · GT cat → pred dog · IoU 0.90")


def test_cli_status_and_export(ds, tmp_path):
    c = label_errors_fo.load_candidates(ds).iloc[0]
    review.decide(ds, c.label_field, c.sample_id, c.label_id, "confirmed", "alice")
    run = [sys.executable, "-m", "analysis.review"]
    status = subprocess.run(run + ["status", "--dataset", "review-lib"], cwd=ROOT, capture_output=True, text=True)
    assert status.returncode == 0, status.stderr
    assert sum(r["confirmed"] for r in json.loads(status.stdout)) == 1
    trust = subprocess.run(run + ["trust", "--dataset", "review-lib"], cwd=ROOT, capture_output=True, text=True)
    assert trust.returncode == 0, trust.stderr
    rows = [r for r in json.loads(trust.stdout) if r["error_type"] == c.error_type]
    assert rows and max(r["confirmed"] for r in rows) == 1  # the one verdict, among that type's top candidates
    assert all(r["measured"] is None for r in rows)  # one verdict is too few to measure a precision
    out = subprocess.run(run + ["export", "--dataset", "review-lib", "--decisions", str(tmp_path / "d.csv"),
                                "--coco", str(tmp_path / "c.json")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert pd.read_csv(tmp_path / "d.csv")["by"].tolist() == ["alice"]
    assert json.loads((tmp_path / "c.json").read_text())["images"]
    bad = subprocess.run(run + ["export", "--dataset", "no-such-dataset", "--coco", str(tmp_path / "x.json")],
                         cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and "no-such-dataset" in bad.stderr


def test_indexed_candidates_review_the_same_as_plain_ones():
    cands = pd.DataFrame({
        "sample_id": ["s1", "s1", "s2"], "filepath": ["/a.jpg", "/a.jpg", "/b.jpg"],
        "label_field": ["ground_truth", "ground_truth", "predictions"], "label_id": ["a", "b", "c"],
        "label": ["cat", "dog", "cat"], "error_type": ["low_iou", "spurious", "missing"],
        "error_score": [0.9, 0.5, 0.2], "error_iou": [0.6, np.nan, np.nan], "error_match_id": ["p", None, None],
        "x": [0.1] * 3, "y": [0.1] * 3, "w": [0.2] * 3, "h": [0.2] * 3})
    at = pd.Timestamp("2026-01-02 03:04:05")
    current = pd.DataFrame({"label_field": ["ground_truth", "ground_truth"], "sample_id": ["s1", "s9"],
                            "label_id": ["b", "gone"], "label": ["dog", "cat"],
                            "review_status": ["confirmed", "dismissed"], "review_by": ["ann", "bob"],
                            "review_at": [at, at], "review_comment": [None, "kept"],
                            "error_type": ["spurious", "low_iou"]}, columns=review.DECISION_COLUMNS)
    indexed = review_tables.indexed_candidates(cands)
    assert indexed["label_id"].tolist() == ["a", "b", "c"]
    for candidates in (cands, indexed):
        table = review_tables.review_table(candidates, current)
        assert table["review_status"].astype(str).tolist() == ["pending", "confirmed", "pending"]
        assert table["review_by"].tolist()[1] == "ann" and pd.isna(table["review_by"].tolist()[0])
        assert table["review_at"].tolist()[1] == at and pd.isna(table["review_at"].tolist()[2])
        assert review_tables.orphaned(candidates, current)["label_id"].tolist() == ["gone"]
        pending_cats = review_tables.filter_table(table, statuses=["pending"], classes=["cat"])
        assert pending_cats["label_id"].tolist() == ["a", "c"]
        assert review_tables.progress_by_type(table).set_index("error_type")["confirmed"].to_dict() == {
            "missing": 0, "low_iou": 0, "spurious": 1}
