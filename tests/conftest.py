"""Test isolation: a private FiftyOne database and data folder per test session (see ``_isolation.py``).

The environment is set before anything imports ``fiftyone`` (FiftyOne reads it
at import), so the tests never see the user's datasets.
"""

from _isolation import isolate

isolate("labeldash-tests-")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

def job_ended(key: str, timeout_s: float = 240):
    """A background job's (:mod:`analysis.core.jobs`) status once its worker has recorded an outcome, or the
    status at the timeout."""
    import time

    from analysis.core import jobs

    deadline = time.monotonic() + timeout_s
    while jobs.status(key).state == "running" and time.monotonic() < deadline:
        time.sleep(0.2)  # polling the status file, which the worker writes atomically
    return jobs.status(key)


#: The app's entry point, for AppTest.from_file.
APP = str(Path(__file__).resolve().parents[1] / "dashboard/app.py")


def write_coco_fixture(root: Path, n_images: int = 4, size=(64, 48)) -> dict:
    """Write ``n_images`` small PNGs and a matching COCO instances + results pair.

    Returns the paths and the parsed dicts. Each image has two boxes
    (categories 1 "cat" and 2 "dog"); predictions copy them with scores.
    """
    from PIL import Image

    images_dir = root / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    w, h = size
    images, anns, preds = [], [], []
    for i in range(1, n_images + 1):
        Image.new("RGB", size, (i * 40 % 255, 80, 120)).save(images_dir / f"img{i}.png")
        images.append({"id": i, "file_name": f"img{i}.png", "width": w, "height": h})
        for k, (cat, box) in enumerate([(1, [2, 3, 20, 15]), (2, [30, 10, 25, 30])]):
            anns.append({"id": i * 10 + k, "image_id": i, "category_id": cat, "bbox": box,
                         "area": box[2] * box[3], "iscrowd": 0})
            preds.append({"image_id": i, "category_id": cat, "bbox": [v + 1 for v in box], "score": 0.9 - 0.1 * k})
    instances = {"images": images, "annotations": anns,
                 "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    (root / "instances.json").write_text(json.dumps(instances))
    (root / "predictions.json").write_text(json.dumps(preds))
    return {"images_dir": images_dir, "instances_json": root / "instances.json",
            "predictions_json": root / "predictions.json", "instances": instances, "predictions": preds}


@pytest.fixture
def coco_fixture(tmp_path):
    return write_coco_fixture(tmp_path)


def write_error_fixture(root: Path, n_images: int = 8, dog_name: str = "dog") -> dict:
    """:func:`write_coco_fixture` with known annotation errors in its instances file.

    Errors: image 1's cat box is drawn 6 px off (low IoU), image 2's dog box
    is deleted (missing), image 3's cat box is labelled dog (wrong class),
    image 4 has an extra box on nothing (spurious). Predictions are the
    correct boxes.
    """
    fx = write_coco_fixture(root, n_images=n_images)
    inst = fx["instances"]
    inst["categories"][1]["name"] = dog_name
    anns = [a for a in inst["annotations"] if a["id"] != 21]
    for a in anns:
        if a["id"] == 10:
            a["bbox"] = [8, 8, 20, 15]
        if a["id"] == 30:
            a["category_id"] = 2
    anns.append({"id": 99, "image_id": 4, "category_id": 1, "bbox": [40, 40, 10, 5], "area": 50, "iscrowd": 0})
    inst["annotations"] = anns
    Path(fx["instances_json"]).write_text(json.dumps(inst))
    return fx


def build_error_dataset(root: Path, name: str, n_images: int = 8, dog_name: str = "dog"):
    """The dataset of :func:`write_error_fixture`, imported, with label errors found."""
    from analysis.data import datasets, importers
    from analysis.label_errors import fo_adapter as label_errors_fo

    fx = write_error_fixture(root, n_images, dog_name)
    importers.import_coco(name, fx["images_dir"], fx["instances_json"], fx["predictions_json"], if_exists="overwrite")
    ds = datasets.load(name)
    label_errors_fo.find_label_errors(ds)
    return ds


def cli_json(stdout: str):
    """The JSON object a lab CLI printed (its last line) when run in the test process.

    Other threads of the test process may print before it: a FiftyOne App
    session client left by an earlier test prints "Could not connect session"
    while it retries a server that has gone.
    """
    return json.loads(stdout.strip().splitlines()[-1])
