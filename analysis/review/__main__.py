"""``python -m analysis.review status|trust|export --dataset NAME``: review progress per error type as JSON,
how far to trust the ranking (expected and measured precision of each type's top candidates) as JSON, or
the decisions and a corrected COCO file written to new files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import analysis  # noqa: F401  (FiftyOne environment defaults)
from analysis.core.errors import InputError
from analysis.label_errors.fo_adapter import load_candidates
from analysis.review.exports import decisions_export, fix_summary, write_corrected_coco
from analysis.review.store import ReviewError, decisions
from analysis.review.tables import progress_by_type, review_table, trust_table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.review",
                                     description="Review decisions on label-error candidates.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("status", help="review progress per error type, as JSON")
    p.add_argument("--dataset", required=True)
    p = sub.add_parser("trust", help="per type and top k: expected precision (from the scores) and measured "
                                     "precision (from the verdicts), as JSON")
    p.add_argument("--dataset", required=True)
    p = sub.add_parser("export", help="export decisions and/or a corrected COCO file")
    p.add_argument("--dataset", required=True)
    p.add_argument("--decisions", help="decision history, .csv or .json")
    p.add_argument("--coco", help="corrected COCO instances JSON (a new file)")
    args = parser.parse_args(argv)
    from analysis.data import datasets

    try:
        datasets.connect()
        dataset = datasets.load(args.dataset)
        if args.command in ("status", "trust"):
            table = review_table(load_candidates(dataset), decisions(dataset))
            out = progress_by_type(table) if args.command == "status" else trust_table(table)
            print(out.to_json(orient="records"))
            return 0
        if not (args.decisions or args.coco):
            raise ReviewError("Nothing to export: give --decisions FILE and/or --coco FILE.")
        if args.decisions:
            out = Path(args.decisions)
            fmt = out.suffix.lower().lstrip(".")
            text = decisions_export(dataset, fmt)
            if out.exists():
                raise ReviewError(f"{out} exists; choose a new file name.")
            out.write_text(text)
            print(f"Decisions written to {out}")
        if args.coco:
            path, log = write_corrected_coco(dataset, args.coco)
            print(f"Corrected COCO written to {path}: {fix_summary(log)}")
    except (InputError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - database errors etc.: one line, not a traceback
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
