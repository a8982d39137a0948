"""Validation of COCO instances and COCO results (predictions) JSON files.

Pure functions over parsed JSON: they return cleaned copies and raise
:class:`~analysis.core.errors.InputError` with a message that names the problem,
counts it and gives a few examples, so a user can fix the file.

Box convention: COCO ``bbox`` is ``[x, y, width, height]`` in pixels, origin
at the top-left corner of the image.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.core.errors import InputError

#: Boxes may stick out of the image by this many pixels (rounding in
#: annotation tools); they are clipped. Beyond it a box is invalid.
EDGE_TOLERANCE_PX = 1.0
_EXAMPLES = 3


def load_json(path: str | Path, what: str):
    """Parse the JSON file at ``path``; ``what`` names it in error messages."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder: give the JSON file in it.")
    if not path.is_file():
        raise InputError(f"{what} not found: {path}. Check the path.")
    try:
        with open(path, "rb") as f:
            data = f.read()
        if not data.strip(b" \t\r\n\xef\xbb\xbf"):
            raise InputError(f"{what} {path.name}: the file is empty. Check that it was written completely.")
        return json.loads(data)
    except json.JSONDecodeError as e:
        raise InputError(
            f"{what} {path.name} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})."
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{what} {path} cannot be read: {e}.") from None


@dataclass
class CheckReport:
    """What validation changed or dropped; ``problems`` are user-readable lines."""

    problems: list[str] = field(default_factory=list)
    dropped_annotations: int = 0
    dropped_images: int = 0
    clipped_boxes: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _examples(values) -> str:
    values = list(values)
    # text shown quoted: an id "1" must not read as the number 1 that the ground truth has
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values[:_EXAMPLES])
    return shown + (", ..." if len(values) > _EXAMPLES else "")


def _box_problems(boxes: np.ndarray, widths: np.ndarray, heights: np.ndarray, tol: float):
    """Classify boxes (N x 4, xywh px) against their image sizes.

    A box may stick out of its image by ``tol`` pixels (it is clipped); one
    that sticks out further, or has no area left inside, is invalid.

    Returns ``(reason, clipped)``: ``reason`` is an object array with ``None``
    for valid boxes, ``clipped`` the boxes clipped to the image.
    """
    reason = np.full(len(boxes), None, dtype=object)
    finite = np.isfinite(boxes).all(axis=1)
    x, y, w, h = np.where(finite[:, None], boxes, 0).T
    reason[(w <= 0) | (h <= 0)] = "zero or negative size"
    x0, y0 = np.clip(x, 0, widths), np.clip(y, 0, heights)
    x1, y1 = np.clip(x + w, 0, widths), np.clip(y + h, 0, heights)
    outside = (x < -tol) | (y < -tol) | (x + w > widths + tol) | (y + h > heights + tol) | (x1 <= x0) | (y1 <= y0)
    reason[outside & (reason == None)] = "outside the image"  # noqa: E711 (elementwise)
    reason[~finite] = "not four numbers"
    # a side inside the image keeps its size as given: x + w - x need not give w back in floating point
    inside_x, inside_y = (x >= 0) & (x + w <= widths), (y >= 0) & (y + h <= heights)
    return reason, np.stack([x0, y0, np.where(inside_x, w, x1 - x0), np.where(inside_y, h, y1 - y0)], axis=1)


def _bbox_array(records: list[dict]) -> np.ndarray:
    """``bbox`` of each record as an N x 4 float array (NaN rows where malformed)."""
    out = np.full((len(records), 4), np.nan)
    for i, r in enumerate(records):
        b = r.get("bbox")
        if isinstance(b, (list, tuple)) and len(b) == 4 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in b
        ):
            out[i] = b
    return out


def _fix_boxes(records, image_size, report, what, skip_invalid, tol=EDGE_TOLERANCE_PX):
    """Clip boxes within ``tol`` px of the image; drop or reject invalid ones."""
    if not records:
        return records
    sizes = np.array([image_size[r["image_id"]] for r in records], dtype=float)
    reason, clipped = _box_problems(_bbox_array(records), sizes[:, 0], sizes[:, 1], tol)
    bad = np.flatnonzero(reason != None)  # noqa: E711
    if len(bad) and not skip_invalid:
        kinds = sorted({reason[i] for i in bad})
        ids = [records[i].get("id", f"#{i}") for i in bad]
        report.problems.append(
            f"{len(bad)} {what} have invalid boxes ({'; '.join(kinds)}), e.g. {_examples(ids)}."
        )
    cleaned = []
    for i, r in enumerate(records):
        if reason[i] is not None:
            continue
        box = [float(v) for v in clipped[i]]
        if box != [float(v) for v in r["bbox"]]:
            report.clipped_boxes += 1
        cleaned.append({**r, "bbox": box})
    report.dropped_annotations += len(bad)
    return cleaned


def check_instances(coco, images_dir: str | Path | None = None, *, skip_invalid=False):
    """Validate a parsed COCO instances file and return ``(cleaned, report)``.

    Args:
        coco: the parsed JSON.
        images_dir: folder holding ``images[].file_name``; when given, images
            missing on disk are problems.
        skip_invalid: drop bad annotations and missing images instead of
            raising, counting them in the report.

    Raises:
        InputError: the file is not COCO instances, or (unless
            ``skip_invalid``) it has problems: annotations pointing at unknown
            images or categories, invalid boxes, missing image files.
    """
    if isinstance(coco, list) and coco and isinstance(coco[0], dict) and "score" in coco[0]:
        raise InputError(
            "This looks like a COCO results (predictions) file, not ground truth: "
            "give it as the predictions file."
        )
    if not isinstance(coco, dict) or not all(
        isinstance(coco.get(k), list) for k in ("images", "annotations", "categories")
    ):
        missing = [k for k in ("images", "annotations", "categories") if not isinstance(coco, dict) or k not in coco]
        raise InputError(
            "Not a COCO instances file: expected a JSON object with lists 'images', "
            f"'annotations' and 'categories' (missing or not a list: {', '.join(missing) or 'some of them'})."
        )
    report = CheckReport()
    images = coco["images"]
    if not all(isinstance(x, dict) and _is_int(x.get("id")) for x in images + coco["annotations"]):
        raise InputError("Not a valid COCO instances file: every image and annotation needs an integer 'id'.")
    if not images:
        raise InputError("The COCO file lists no images: there is nothing to import or check.")
    # each image's own problem, named: one message for all of them used to call a width of 0 "outside the image"
    repeated = sorted(i for i, n in Counter(im["id"] for im in images).items() if n > 1)
    no_size = [im["id"] for im in images
               if not all(_is_finite_number(im.get(k)) and im.get(k) > 0 for k in ("width", "height"))]
    no_name = [im["id"] for im in images if not isinstance(im.get("file_name"), str) or not im["file_name"]]
    for found, what in ((repeated, "image ids appear more than once"),
                        (no_size, "images have no positive width and height in pixels (boxes are placed by them)"),
                        (no_name, "images have no file_name")):
        if found:
            raise InputError(f"Not a valid COCO instances file: {len(found)} {what}, e.g. image ids "
                             f"{_examples(found)}.")
    image_size = {im["id"]: (float(im["width"]), float(im["height"])) for im in images}
    if not all(isinstance(c, dict) and _is_int(c.get("id")) for c in coco["categories"]):
        raise InputError("Not a valid COCO instances file: every category needs an integer 'id'.")
    categories = {c["id"] for c in coco["categories"]}

    if images_dir is not None:
        images_dir = Path(images_dir)
        if not images_dir.is_dir():
            raise InputError(f"Images folder not found: {images_dir}.")
        absent = [im["file_name"] for im in images if not (images_dir / im["file_name"]).is_file()]
        if absent:
            if not skip_invalid:
                report.problems.append(
                    f"{len(absent)} of {len(images)} image files are missing in {images_dir}, "
                    f"e.g. {_examples(absent)}."
                )
            absent = set(absent)
            images = [im for im in images if im["file_name"] not in absent]
            report.dropped_images = len(absent)
            image_size = {im["id"]: image_size[im["id"]] for im in images}

    anns = coco["annotations"]
    known_image = [a.get("image_id") in image_size for a in anns]
    orphans = [a.get("id") for a, ok in zip(anns, known_image) if not ok]
    if orphans and not skip_invalid and report.dropped_images == 0:
        report.problems.append(
            f"{len(orphans)} annotations point at image ids that are not in 'images', "
            f"e.g. annotation ids {_examples(orphans)}."
        )
    anns = [a for a, ok in zip(anns, known_image) if ok]
    unknown = [a for a in anns if a.get("category_id") not in categories]
    if unknown and not skip_invalid:
        ids = sorted({a.get("category_id") for a in unknown}, key=str)
        report.problems.append(
            f"{len(unknown)} annotations use category ids not in 'categories': {_examples(ids)}."
        )
    anns = [a for a in anns if a.get("category_id") in categories]
    report.dropped_annotations += len(coco["annotations"]) - len(anns)
    anns = _fix_boxes(anns, image_size, report, "annotations", skip_invalid)
    if report.problems:
        raise InputError(" ".join(report.problems) + " Fix the file, or choose to skip the invalid entries.")
    return {**coco, "images": images, "annotations": anns}, report


def check_results(results, instances: dict, *, skip_invalid=False):
    """Validate parsed COCO results (predictions) against checked instances.

    Each result needs ``image_id`` (an image of ``instances``), ``category_id``
    (one of its categories), ``bbox`` (xywh px, clipped to the image) and a
    numeric ``score``.
    Returns ``(cleaned, report)``; raises :class:`InputError` like
    :func:`check_instances`. Missing scores are always an error: without
    confidences predictions cannot be ranked.
    """
    if isinstance(results, dict) and "annotations" in results:
        raise InputError(
            "The predictions file is a COCO instances file; predictions must be a COCO results "
            "list: [{image_id, category_id, bbox, score}, ...]."
        )
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise InputError(
            "Not a COCO results file: expected a JSON list of {image_id, category_id, bbox, score}."
        )
    no_score = [i for i, r in enumerate(results) if not _is_finite_number(r.get("score"))]
    if no_score:
        raise InputError(
            f"{len(no_score)} of {len(results)} predictions have no numeric 'score' (or NaN / infinite) "
            f"(e.g. entries {_examples(no_score)}): predictions need confidences."
        )
    report = CheckReport()
    image_size = {im["id"]: (float(im["width"]), float(im["height"])) for im in instances["images"]}
    categories = {c["id"] for c in instances["categories"]}
    unknown_cat = sorted({r.get("category_id") for r in results} - categories, key=str)
    if unknown_cat:
        raise InputError(
            f"Predictions use category ids that the ground truth does not define: "
            f"{_examples(unknown_cat)}. Use the ground truth's category ids."
        )
    unknown_img = [r for r in results if r.get("image_id") not in image_size]
    if unknown_img and not skip_invalid:
        ids = sorted({r.get("image_id") for r in unknown_img}, key=str)
        report.problems.append(
            f"{len(unknown_img)} predictions point at image ids not in the ground truth, e.g. {_examples(ids)}."
        )
    kept = [r for r in results if r.get("image_id") in image_size]
    report.dropped_annotations = len(results) - len(kept)
    # Detectors routinely predict boxes that cross the image border: clip them, whatever the overhang.
    kept = _fix_boxes(kept, image_size, report, "predictions", skip_invalid, tol=np.inf)
    if report.problems:
        raise InputError(" ".join(report.problems) + " Fix the file, or choose to skip the invalid entries.")
    return kept, report
