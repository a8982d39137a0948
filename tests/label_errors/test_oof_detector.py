"""The out-of-fold detector on real (isolated) FiftyOne datasets: fold hygiene, resume after a kill, limits."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_coco_fixture

from analysis.core import jobs
from analysis.core.errors import InputError
from analysis.data import datasets, importers
from analysis.label_errors import oof_detector as oof

ROOT = Path(__file__).resolve().parents[2]
#: Tiny training: the tests check the plumbing, not the detector.
TINY = {"steps": 3, "resolution": [64, 48]}


def _dataset(root: Path, name: str, n_images: int = 30, drop: int = 0):
    fx = write_coco_fixture(root, n_images=n_images)
    if drop:
        inst = fx["instances"]
        inst["annotations"] = inst["annotations"][drop:]
        Path(fx["instances_json"]).write_text(json.dumps(inst))
    importers.import_coco(name, fx["images_dir"], fx["instances_json"], if_exists="overwrite")
    return datasets.load(name)


def _until(predicate, timeout_s=120):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_no_image_is_predicted_by_a_model_that_saw_it(tmp_path):
    ds = _dataset(tmp_path, "oof-hygiene")
    info = oof.train_oof("oof-hygiene", work_dir=str(tmp_path / "work"), **TINY)
    manifest = json.loads((tmp_path / "work" / "folds.json").read_text())
    trained_on = {f: set(json.loads((tmp_path / "work" / f"fold{f}.json").read_text())["train_ids"])
                  for f in range(3)}
    ds.reload()
    ids, folds, pred_folds = ds.values(["id", "oof_fold", f"{oof.PRED_FIELD}.detections.fold"])
    assert sorted(manifest["fold_of"]) == sorted(ids) and set(folds) == {0, 1, 2}
    for sample_id, fold, per_box in zip(ids, folds, pred_folds):
        assert manifest["fold_of"][sample_id] == fold
        assert all(sample_id not in trained_on[f] for f in per_box or [])  # from the model that never saw it
        assert set(per_box or []) <= {fold}
        # every other fold's model did train on it: each model sees all images but its own fold's
        assert all(sample_id in trained_on[f] for f in range(3) if f != fold)
    n_boxes = sum(len(p or []) for p in pred_folds)
    assert info["predictions"] == n_boxes and ds.classes[oof.PRED_FIELD] == ["cat", "dog"]
    assert set(info["ap50_per_class"]) == {"cat", "dog"} and 0 <= info["map50"] <= 1
    assert ds.info[oof.RUN_KEY]["map50"] == info["map50"] and "candidates" in info  # ranked with them


def test_a_job_killed_between_folds_resumes_at_the_next_fold(tmp_path):
    _dataset(tmp_path, "oof-resume")
    key, work = oof.job_key("oof-resume"), oof.work_dir_for("oof-resume")
    args = {"steps": 15, "resolution": [64, 48]}  # a fold takes seconds: time to kill it
    first = oof.start_job("oof-resume", **args)
    _until(lambda: (work / "fold0.json").exists())
    os.kill(first.pid, signal.SIGKILL)  # a real worker process, killed while fold 1 trains
    _until(lambda: jobs.status(key).state == "interrupted")
    kept = {f for f in range(3) if (work / f"fold{f}.json").exists()}
    assert 0 in kept and len(kept) < 3
    again = oof.start_job("oof-resume", **args)
    _until(lambda: jobs.status(key).state in ("done", "failed"))
    done = jobs.status(key)
    assert done.state == "done", done.error
    assert done.result["resumed_folds"] == sorted(kept)
    pids = {f: json.loads((work / f"fold{f}.json").read_text())["pid"] for f in range(3)}
    assert all(pids[f] == first.pid for f in kept) and all(pids[f] == again.pid for f in set(range(3)) - kept)


def test_five_boxes_get_the_message_not_a_crash(tmp_path):
    ds = _dataset(tmp_path, "oof-five", n_images=3, drop=1)
    plan = oof.plan_training(ds)
    assert plan["boxes"] == 5 and any("Only 5 labelled boxes" in p for p in plan["problems"])
    with pytest.raises(InputError, match="Only 5 labelled boxes"):
        oof.train_oof("oof-five")
    out = subprocess.run([sys.executable, "-m", "analysis.label_errors.oof_detector", "--dataset", "oof-five"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, env=os.environ, check=False)
    assert out.returncode == 2 and out.stderr.startswith("error: Only 5 labelled boxes")
    assert "Traceback" not in out.stderr


def test_the_plan_follows_the_box_sizes(tmp_path):
    ds = _dataset(tmp_path, "oof-plan")
    plan = oof.plan_training(ds)
    # 64 x 48 images with 15-30 px boxes: no reason to shrink them, and the smallest long side is 64
    assert plan["resolution"] == [64, 48] and plan["problems"] == [] and "64 x 48" in plan["why"]
    assert oof.MIN_STEPS <= plan["steps"] <= oof.MAX_STEPS
    estimate = oof.estimate_seconds("oof-plan", {**plan, "steps": 10}, timing_steps=2)
    assert estimate["seconds_per_step"] > 0 and estimate["total_s"] >= estimate["train_s"]
