"""COCO import speed: this project's import vs FiftyOne's own ``Dataset.from_dir``, same files.

Usage: python tests/benchmarks/bench_coco_import.py [--images 5000] [--boxes 10]

Writes N small PNGs with ~B boxes each (COCO instances JSON and a results JSON
with scores), then times, in the same run and in alternating order:
  * anchor: ``fo.Dataset.from_dir(COCODetectionDataset)`` (ground truth only);
  * ours:   ``analysis.data.importers.import_coco`` (validation + import + atomic publish),
            ground truth only, and again with predictions.
"""

import argparse
import json
import time

import _isolated  # noqa: F401  (private database)
import numpy as np
from PIL import Image


def write_files(root, n_images, n_boxes, seed=0):
    rng = np.random.default_rng(seed)
    images_dir = root / "images"
    images_dir.mkdir(parents=True)
    images, anns, preds = [], [], []
    base = Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
    for i in range(1, n_images + 1):
        base.save(images_dir / f"{i:06d}.png")
        images.append({"id": i, "file_name": f"{i:06d}.png", "width": 128, "height": 96})
        xy = rng.uniform(0, 60, (n_boxes, 2))
        wh = rng.uniform(5, 30, (n_boxes, 2))
        cats = rng.integers(1, 11, n_boxes)
        for k in range(n_boxes):
            box = [float(xy[k, 0]), float(xy[k, 1]), float(wh[k, 0]), float(wh[k, 1])]
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(cats[k]), "bbox": box,
                         "area": box[2] * box[3], "iscrowd": 0})
            preds.append({"image_id": i, "category_id": int(cats[k]), "bbox": box, "score": float(rng.uniform())})
    cats = [{"id": c, "name": str(c - 1)} for c in range(1, 11)]
    (root / "instances.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    (root / "predictions.json").write_text(json.dumps(preds))
    return images_dir, root / "instances.json", root / "predictions.json"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--boxes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import fiftyone as fo

    from analysis.data import datasets, importers

    t = time.perf_counter()
    images_dir, instances, predictions = write_files(_isolated.TMP / "coco", args.images, args.boxes)
    print(f"wrote {args.images} images x {args.boxes} boxes in {time.perf_counter() - t:.1f} s")
    datasets.connect()

    def anchor():
        ds = fo.Dataset.from_dir(dataset_type=fo.types.COCODetectionDataset, data_path=str(images_dir),
                                 labels_path=str(instances), label_types="detections",
                                 label_field="ground_truth", progress=False)
        ds.delete()

    def ours(with_predictions):
        importers.import_coco("bench", images_dir, instances, predictions if with_predictions else None,
                             if_exists="overwrite")

    times = {"fiftyone from_dir (GT)": [], "ours import_coco (GT)": [], "ours import_coco (GT + predictions)": []}
    for _ in range(args.repeats):
        for label, fn in (("fiftyone from_dir (GT)", anchor), ("ours import_coco (GT)", lambda: ours(False)),
                          ("ours import_coco (GT + predictions)", lambda: ours(True))):
            t = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    anchor_s = best["fiftyone from_dir (GT)"]
    print(f"\nCOCO import, {args.images} images, {args.boxes} GT boxes each (best of {args.repeats}):")
    for label, s in best.items():
        print(f"  {label:<38} {s:7.2f} s  ({args.images / s:,.0f} images/s)  ratio to from_dir {s / anchor_s:.2f}")


if __name__ == "__main__":
    main()
