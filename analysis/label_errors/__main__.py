"""``python -m analysis.label_errors --gt GT.json --pred PRED.json --out OUT.csv``: rank likely label
errors in COCO ground truth using a model's COCO results, written as CSV in the contract's column order.
"""

from __future__ import annotations

import argparse
import sys

from analysis.label_errors.coco_files import run_files
from analysis.label_errors.params import ERROR_TYPES, Params


def good_box_iou_arg(text: str):
    """``--good-box-iou``: ``auto`` or two IoUs ``lo,hi``."""
    try:
        return text if text == "auto" else tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--good-box-iou takes 'auto' or two IoUs like 0.5,0.9, got {text!r}") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.label_errors",
        description="Rank likely label errors in COCO ground truth using a model's COCO predictions.",
    )
    parser.add_argument("--gt", required=True, help="COCO instances JSON (the labels to check)")
    parser.add_argument("--pred", required=True, help="COCO results JSON (predictions with scores)")
    parser.add_argument("--out", required=True, help="CSV to write, ranked by score")
    parser.add_argument("--min-score", type=float, default=Params.min_score,
                        help="drop candidates scoring below this (default %(default)s)")
    parser.add_argument("--good-box-iou", default=None,
                        help="'auto' or LO,HI: IoU ramp for a well-drawn box (default 0.5,0.7)")
    parser.add_argument("--images", default=None,
                        help="folder of the images (COCO file_name relative to it): also judge every box by a "
                             "CNN of its crop (class, object or not, where), trained out of fold on the labels")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="drop invalid annotations / predictions instead of stopping")
    args = parser.parse_args(argv)
    params = {"min_score": args.min_score}
    try:
        if args.good_box_iou:
            params["good_box_iou"] = good_box_iou_arg(args.good_box_iou)
        result = run_files(args.gt, args.pred, skip_invalid=args.skip_invalid, images=args.images, **params)
        result.to_csv(args.out, index=False)
    except ValueError as e:  # InputError and malformed --good-box-iou
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write {args.out}: {e.strerror or e}", file=sys.stderr)
        return 2
    counts = result["error_type"].value_counts()
    print(f"{len(result)} candidates written to {args.out} "
          + "(" + ", ".join(f"{t}: {counts.get(t, 0)}" for t in ERROR_TYPES) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
