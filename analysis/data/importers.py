"""Detection datasets in FiftyOne: import (COCO, VOC, YOLO), list, summarise.

Every import is atomic: samples go into a temporary, non-persistent dataset
first and only a complete, non-empty import becomes (or joins) the named
persistent dataset. A failed or interrupted import leaves what was stored
before untouched (FiftyOne deletes orphaned non-persistent datasets itself).

Fields written: ``ground_truth`` (:class:`fiftyone.core.labels.Detections`)
and, when predictions are given, ``predictions`` (Detections with
``confidence``). COCO imports keep the COCO image id in ``coco_id`` and the
annotation id in each GT detection's ``coco_id`` attribute.

Command line: ``python -m analysis.datasets --help``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import analysis  # noqa: F401  (FiftyOne environment defaults)
from analysis.core.errors import DatabaseUnavailable, InputError
from analysis.core.progress import Progress
from analysis.data import coco as coco_check
from analysis.data import fo_store
from analysis.data.detections import read_detections, without_area
from analysis.data.datasets import GT_FIELD, IF_EXISTS, PRED_FIELD, ImportResult, list_datasets, load, publish, summary


def _progress_callback(progress: Progress | None, start: float, end: float, message: str):
    """Adapt a FiftyOne progress-bar callback to ``progress`` over [start, end]."""
    if progress is None:
        return False

    def callback(pb):
        frac = pb.progress if pb.progress is not None else 0.0
        progress(start + (end - start) * frac, message)

    return callback


def _describe(report: coco_check.CheckReport, what: str) -> list[str]:
    notes = []
    if report.dropped_images:
        notes.append(f"Skipped {report.dropped_images} images missing on disk.")
    if report.dropped_annotations:
        notes.append(f"Skipped {report.dropped_annotations} invalid {what}.")
    if report.clipped_boxes:
        notes.append(f"Clipped {report.clipped_boxes} {what} to the image border.")
    return notes


def import_coco(
    name: str,
    images_dir: str | Path,
    instances_json: str | Path,
    predictions_json: str | Path | None = None,
    *,
    if_exists: str = "error",
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Import COCO detection data into the persistent dataset ``name``.

    Args:
        images_dir: folder with the images named in ``images[].file_name``.
        instances_json: COCO instances JSON (ground truth boxes).
        predictions_json: optional COCO results JSON (``image_id``,
            ``category_id``, ``bbox``, ``score``), stored as ``predictions``
            with ``confidence``.
        if_exists: ``"error"``, ``"overwrite"`` or ``"append"``.
        skip_invalid: drop invalid boxes, unknown ids and missing images
            (reported in the result's notes) instead of refusing the import.
        progress: optional ``progress(fraction, message)`` callback.

    Raises:
        InputError: any problem with the files (nothing is written then).
    """
    instances, results, notes = check_coco_files(images_dir, instances_json, predictions_json,
                                                 skip_invalid=skip_invalid, progress=progress)

    def build(tmp):
        add_coco(tmp, images_dir, instances, results, progress=progress)
        return notes

    return publish(name, build, if_exists, progress)


def check_coco_files(images_dir, instances_json, predictions_json=None, *, skip_invalid=False, progress=None):
    """Load and validate COCO files; return ``(instances, results or None, notes)``.

    Raises :class:`InputError` on any problem (see :mod:`analysis.data.coco`).
    """
    if progress:
        progress(0.0, "Checking the COCO files")
    instances, report = coco_check.check_instances(
        coco_check.load_json(instances_json, "Annotations file"), images_dir, skip_invalid=skip_invalid
    )
    notes = _describe(report, "annotations")
    results = None
    if predictions_json:
        results, pred_report = coco_check.check_results(
            coco_check.load_json(predictions_json, "Predictions file"), instances, skip_invalid=skip_invalid
        )
        notes += _describe(pred_report, "predictions")
    return instances, results, notes


def _detection_docs(records: list[dict], sizes: dict, names: dict, *, scores: bool) -> dict:
    """Group COCO records by image into ``{image_id: [detection document]}`` (relative boxes)."""
    by_image: dict = {}
    for r in records:
        w, h = sizes[r["image_id"]]
        x, y, bw, bh = r["bbox"]
        if scores:
            attributes = {"confidence": float(r["score"])}
            if r.get("class_probs") is not None:  # FiftyOne keeps class scores as logits (log probabilities)
                attributes["logits"] = np.log(np.clip(np.asarray(r["class_probs"], np.float64), 1e-6, None)).tolist()
        else:
            attributes = {"coco_id": r.get("id"), "iscrowd": int(r.get("iscrowd", 0) or 0)}
        by_image.setdefault(r["image_id"], []).append(
            fo_store.detection_doc(names[r["category_id"]], [x / w, y / h, bw / w, bh / h], **attributes))
    return by_image


def add_coco(dataset, images_dir, instances: dict, results: list | None = None, *, progress=None) -> None:
    """Add checked COCO instances (and results) to ``dataset`` in bulk.

    Samples get ``coco_id`` and image ``metadata`` (width, height from the
    JSON); ``ground_truth`` detections get their annotation id as ``coco_id``
    and ``iscrowd``; results go to ``predictions`` with ``confidence``, and
    their optional ``class_probs`` (one per category, ascending id) as
    ``logits`` (log probabilities), whose class names are then
    ``dataset.classes["predictions"]``.

    Why not FiftyOne's COCO importer: it builds a Python ``Sample`` object per
    image and re-reads every inserted document into it, and predictions need a
    second pass (``add_coco_labels``). Here the schema is declared with the
    public API and the samples are inserted as documents of the shape
    FiftyOne stores, one ``insert_many`` per batch (see
    ``tests/benchmarks/bench_coco_import.py`` for the speed);
    ``tests/test_import_coco.py`` checks the result against FiftyOne's own
    importer, which guards this against changes in FiftyOne's storage.
    """
    import fiftyone as fo

    names = {c["id"]: str(c.get("name", c["id"])) for c in instances["categories"]}
    sizes = {im["id"]: (im["width"], im["height"]) for im in instances["images"]}
    gt = _detection_docs(instances["annotations"], sizes, names, scores=False)
    preds = _detection_docs(results, sizes, names, scores=True) if results is not None else None
    images_dir = Path(images_dir).resolve()

    def sample_doc(im):
        doc = {"filepath": str(images_dir / im["file_name"]), "tags": [],
               "metadata": fo_store.image_metadata_doc(im["width"], im["height"]),
               "coco_id": im["id"], GT_FIELD: fo_store.detections_doc(gt.get(im["id"], []))}
        if preds is not None:
            doc[PRED_FIELD] = fo_store.detections_doc(preds.get(im["id"], []))
        return doc

    dataset.media_type = "image"
    dataset.add_sample_field("coco_id", fo.IntField)
    for field_name in [GT_FIELD] + ([PRED_FIELD] if preds is not None else []):
        _ensure_field(dataset, field_name, fo.Detections)
    rng = np.random.default_rng()
    images = instances["images"]
    batch = 2000
    for start in range(0, len(images), batch):
        fo_store.insert_samples(dataset, [sample_doc(im) for im in images[start:start + batch]], rng)
        if progress:
            progress(0.05 + 0.85 * min(1.0, (start + batch) / len(images)), "Importing images and boxes")
    # Declares coco_id / iscrowd on the detections, so the App can filter on them.
    dataset.add_dynamic_sample_fields()
    # Kept so that exports (a corrected COCO file) reuse the team's category ids.
    dataset.info.setdefault("coco_categories", [{"id": c["id"], "name": names[c["id"]]}
                                                for c in instances["categories"]])
    if results and any(r.get("class_probs") is not None for r in results):
        # the order of the logits: COCO results' class_probs follow ascending category ids
        dataset.classes = {**dataset.classes, PRED_FIELD: [names[c] for c in sorted(names)]}
    dataset.save()


def _ensure_field(dataset, field_name, label_type):
    """Declare ``field_name`` even when no sample has labels (an all-empty import)."""
    import fiftyone as fo

    if not dataset.has_field(field_name):
        dataset.add_sample_field(field_name, fo.EmbeddedDocumentField, embedded_doc_type=label_type)


def _no_area_notes(samples) -> list[str]:
    """A note on the imported boxes of zero or negative width or height (VOC and YOLO files can hold them)."""
    boxes = read_detections(samples, GT_FIELD)
    n = int(without_area(boxes).sum())
    if not n:
        return []
    boxes = "1 box has" if n == 1 else f"{n:,} boxes have"
    return [f"{boxes} zero or negative width or height; kept as they are (fix or delete them). The label-error "
            "ranking leaves them out and shows them."]


def _import_folder(name, dataset_dir, dataset_type, if_exists, progress, **kwargs) -> ImportResult:
    """Import a folder with one of FiftyOne's own importers."""
    import fiftyone as fo

    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise InputError(f"Folder not found: {dataset_dir}.")

    def build(tmp):
        try:
            tmp.add_dir(
                dataset_dir=str(dataset_dir), dataset_type=dataset_type, label_field=GT_FIELD,
                progress=_progress_callback(progress, 0.05, 0.85, "Importing images and boxes"), **kwargs,
            )
        except (OSError, ValueError, KeyError) as e:
            raise InputError(
                f"Could not import {dataset_dir} as {dataset_type.__name__}: {type(e).__name__}: {e}"
            ) from None
        _ensure_field(tmp, GT_FIELD, fo.Detections)
        if progress:
            progress(0.9, "Reading image sizes")
        tmp.compute_metadata()
        return _no_area_notes(tmp)

    return publish(name, build, if_exists, progress)


def import_voc(name: str, dataset_dir: str | Path, *, if_exists="error", progress=None) -> ImportResult:
    """Import a Pascal VOC folder (``JPEGImages/`` + ``Annotations/`` or ``data/`` + ``labels/``)."""
    import fiftyone as fo

    dataset_dir = Path(dataset_dir)
    paths = {}
    if (dataset_dir / "JPEGImages").is_dir():  # the original VOC layout
        paths = {"data_path": "JPEGImages", "labels_path": "Annotations"}
    return _import_folder(name, dataset_dir, fo.types.VOCDetectionDataset, if_exists, progress, **paths)


def import_yolo(name: str, dataset_dir: str | Path, *, split: str | None = None, if_exists="error",
                progress=None) -> ImportResult:
    """Import a YOLOv5-style folder (``dataset.yaml``, ``images/``, ``labels/``).

    ``split`` picks one split named in ``dataset.yaml`` (default: ``val`` when
    present, else the first one).
    """
    import fiftyone as fo
    import yaml

    yaml_path = Path(dataset_dir) / "dataset.yaml"
    if not yaml_path.is_file():
        raise InputError(f"{dataset_dir} has no dataset.yaml: it is not a YOLOv5 dataset folder.")
    try:
        spec = yaml.safe_load(yaml_path.read_text()) or {}
    except yaml.YAMLError as e:
        raise InputError(f"dataset.yaml is not valid YAML: {e}") from None
    splits = [s for s in ("train", "val", "test") if s in spec]
    if not splits:
        raise InputError("dataset.yaml names no split (train, val or test).")
    split = split or ("val" if "val" in splits else splits[0])
    if split not in splits:
        raise InputError(f"dataset.yaml has no split {split!r}; it has {', '.join(splits)}.")
    return _import_folder(name, dataset_dir, fo.types.YOLOv5Dataset, if_exists, progress, split=split)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.datasets", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list datasets with sample counts, fields and classes")
    for fmt in ("coco", "voc", "yolo"):
        p = sub.add_parser(f"import-{fmt}", help=f"import a {fmt.upper()} dataset")
        p.add_argument("--name", required=True)
        p.add_argument("--if-exists", choices=IF_EXISTS, default="error")
        if fmt == "coco":
            p.add_argument("--images", required=True, help="folder of images")
            p.add_argument("--annotations", required=True, help="COCO instances JSON")
            p.add_argument("--predictions", help="COCO results JSON with scores")
            p.add_argument("--skip-invalid", action="store_true", help="drop invalid entries instead of failing")
        else:
            p.add_argument("--dir", required=True, help="dataset folder")
        if fmt == "yolo":
            p.add_argument("--split")
    args = parser.parse_args(argv)

    def progress(frac, message):
        print(f"\r{frac:4.0%} {message:<40}", end="", file=sys.stderr, flush=True)

    try:
        if args.command == "list":
            for n in list_datasets():
                s = summary(load(n))
                fields = ", ".join(f"{k} ({v} boxes)" for k, v in s["fields"].items())
                print(f"{n}: {s['samples']} samples; {fields or 'no detection fields'}; "
                      f"{len(s['classes'])} classes")
            return 0
        if args.command == "import-coco":
            result = import_coco(args.name, args.images, args.annotations, args.predictions,
                                 if_exists=args.if_exists, skip_invalid=args.skip_invalid, progress=progress)
        elif args.command == "import-voc":
            result = import_voc(args.name, args.dir, if_exists=args.if_exists, progress=progress)
        else:
            result = import_yolo(args.name, args.dir, split=args.split, if_exists=args.if_exists, progress=progress)
    except (InputError, DatabaseUnavailable) as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 2
    print(file=sys.stderr)
    print(f"{result.name}: added {result.samples_added} samples, {result.samples_total} in total.")
    for note in result.notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
