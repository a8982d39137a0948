"""The Label errors page's "Train a model to find errors" through AppTest, against the real FiftyOne database."""

import json
from pathlib import Path

from conftest import APP, write_coco_fixture
from streamlit.testing.v1 import AppTest

from analysis.core import jobs
from analysis.data import importers
from analysis.label_errors import oof_detector as oof


def _labels_only(root: Path, name: str, n_images: int, drop: int = 0) -> str:
    """A dataset with labels and no predictions (``drop``: annotations removed, to make too few)."""
    fx = write_coco_fixture(root, n_images=n_images)
    inst = fx["instances"]
    inst["annotations"] = inst["annotations"][drop:]
    Path(fx["instances_json"]).write_text(json.dumps(inst))
    importers.import_coco(name, fx["images_dir"], fx["instances_json"], if_exists="overwrite")
    return name


def _page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["dataset"] = name
    at.run()
    at.switch_page("views/label_errors.py").run()
    assert not at.exception
    return at


def test_five_boxes_get_the_limit_on_screen_and_no_training_button(tmp_path):
    at = _page(_labels_only(tmp_path, "page-oof-five", n_images=3, drop=1))
    assert any("Only 5 labelled boxes" in e.value for e in at.error)
    assert not [b for b in at.button if b.key == "oof_train"]
    # with labels only, the ranking's own section points to the training above, not only to an import
    assert any("train a model on these labels above" in w.value for w in at.warning)


def test_the_plan_and_the_timed_estimate_are_shown_and_training_starts_in_the_background(tmp_path):
    name = _labels_only(tmp_path, "page-oof-plan", n_images=30)
    at = _page(name)
    assert any("resized to 64 x 48" in c.value for c in at.caption) and not at.error
    at.button(key="oof_time").click().run()
    assert any(c.value.startswith("Estimate: about") and "s per step, timed just now" in c.value
               for c in at.caption)
    at.button(key="oof_train").click().run()
    assert not at.exception
    job = oof.job_status(name)
    assert job.state in ("running", "done")
    jobs.cancel(oof.job_key(name))  # the run itself is tests/label_errors/test_oof_detector.py's business


def test_after_training_the_models_quality_is_shown_with_the_results_it_ranked(tmp_path):
    name = _labels_only(tmp_path, "page-oof-done", n_images=30)
    info = oof.train_oof(name, work_dir=str(tmp_path / "work"), steps=3, resolution=[64, 48])  # tiny: plumbing
    at = _page(name)
    assert [s.value for s in at.subheader if s.value == "The model behind these predictions"]
    quality = [m for m in at.metric if m.label == "Out-of-fold mAP@0.5 against the current labels"]
    assert len(quality) == 1 and quality[0].value == f"{info['map50']:.3f}"
    assert any(c.value.startswith(f"Last training: out-of-fold mAP@0.5 {info['map50']:.3f}") for c in at.caption)
