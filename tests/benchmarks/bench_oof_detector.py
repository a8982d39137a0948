"""The out-of-fold detector (issue 22): time per fold, its own mAP, and the label errors it finds.

Usage::

    python tests/benchmarks/bench_oof_detector.py [--only demo|bccd] [--case-dir DIR] [--steps N]

* ``demo``: the label-error benchmark's ``demo`` case (built on first use under
  ``$LABELDASH_HOME/bench_cases``, as ``bench_label_errors_quality.py`` does),
  imported into FiftyOne. The out-of-fold detector is trained on its noisy
  labels alone (no other predictions used); printed: time per fold, OOF mAP@0.5
  against the noisy and the clean truth, and the label-error mean AP of the
  engine with the OOF predictions against that with the case's own detector
  (trained on a separate split of 3,000 images), scored as in
  ``bench_label_errors_quality.py``. Goal: within 0.05.
* ``bccd``: BCCD (``/work/shared/data/bccd``, skipped when absent) imported
  from VOC; train 3 folds, predict and rank, timed end to end (goal: <= 15 min on
  2 idle cores); the number of ``missing`` candidates, and a contact sheet of
  the top 24 under ``$LABELDASH_HOME/exports/bccd_missing_top24.png``
  (candidate dashed, labelled boxes around it solid).

The machine's load (``os.getloadavg``) is printed with each timing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import _isolated  # noqa: F401  (first: a private FiftyOne database)
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_label_errors_quality import (  # noqa: E402
    engine_rankings,
    ensure_case,
    load_case,
    score_method,
)

from analysis.core.files import data_home  # noqa: E402
from analysis.core.render import card_png  # noqa: E402
from analysis.data import datasets, importers  # noqa: E402
from analysis.demo import dataset as demo  # noqa: E402
from analysis.demo import detector  # noqa: E402
from analysis.label_errors import coco_files  # noqa: E402
from analysis.label_errors import fo_adapter as label_errors_fo  # noqa: E402
from analysis.label_errors import oof_detector as oof  # noqa: E402

BCCD = Path("/work/shared/data/bccd/BCCD")


def _load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def _train(name: str, **kwargs) -> dict:
    t = time.perf_counter()
    last = [-1.0]

    def progress(f, m):
        if f - last[0] >= 0.05 or f == 1:
            last[0] = f
            print(f"  {f:4.0%} {m} ({time.perf_counter() - t:.0f} s)", flush=True)

    info = oof.train_oof(name, progress=progress, **kwargs)
    info["wall_s"] = time.perf_counter() - t
    print(f"  end to end {info['wall_s']:.0f} s ({_load()}); per fold {info['fold_seconds']} s; "
          f"plan: {info['why']}")
    return info


def bench_demo(case_dir: Path | None, steps: int | None) -> None:
    case_dir = case_dir or ensure_case("demo", data_home() / "bench_cases", 1200.0)
    gt, pred, pred_probs, injected, _sizes, info = load_case(case_dir)
    demo.import_case("oof-demo", case_dir, if_exists="overwrite")
    ds = datasets.load("oof-demo")
    print(f"\n=== demo case {case_dir}: {len(ds)} images, {len(gt)} noisy boxes; {_load()}")
    report = _train("oof-demo", steps=steps, rank=False)
    # the OOF boxes back as COCO results of the case's image ids (file name -> id), in the case's pixels
    instances = json.loads((case_dir / "gt_noisy.json").read_text())
    by_file = {im["file_name"]: im for im in instances["images"]}
    cat = {c["name"]: c["id"] for c in instances["categories"]}
    paths, dets = ds.values(["filepath", oof.PRED_FIELD])
    results = []
    for path, d in zip(paths, dets):
        im = by_file[Path(path).name]
        for det in d.detections if d else []:
            x, y, w, h = det.bounding_box
            z = np.exp(np.asarray(det.logits) - max(det.logits))
            results.append({"image_id": im["id"], "category_id": cat[det.label], "score": det.confidence,
                            "bbox": [x * im["width"], y * im["height"], w * im["width"], h * im["height"]],
                            "class_probs": (z / z.sum()).round(4).tolist()})
    clean = json.loads((case_dir / "gt_clean.json").read_text())
    print(f"OOF mAP@0.5: {report['map50']:.3f} against the noisy labels, "
          f"{detector.average_precision_50(clean, results)[0]:.3f} against the clean truth "
          f"(the case's own detector: {info['map50']:.3f} against the clean truth); per class "
          f"{report['ap50_per_class']}")
    oof_gt, oof_pred, oof_probs = coco_files.coco_to_frames(instances, results)
    rows = {"own detector": score_method(engine_rankings(gt, pred, pred_probs), injected),
            "out-of-fold detector": score_method(engine_rankings(oof_gt, oof_pred, oof_probs), injected)}
    print(pd.DataFrame(rows).T.round(3).to_string())
    gap = rows["own detector"]["mean"] - rows["out-of-fold detector"]["mean"]
    print(f"goal, mean AP within 0.05 of the own detector's: {'PASS' if gap <= 0.05 else 'FAIL'} "
          f"(own {rows['own detector']['mean']:.3f}, OOF {rows['out-of-fold detector']['mean']:.3f}, gap {gap:+.3f})")


def contact_sheet(ds, candidates: pd.DataFrame, out: Path, n: int = 24, columns: int = 6, size: int = 200) -> Path:
    """A grid PNG of the top ``n`` candidates: each dashed, with the labelled boxes near it drawn solid."""
    from PIL import Image, ImageDraw

    gt = ds.values(["filepath", "ground_truth"])
    labelled = {p: [(d.label, d.bounding_box) for d in (g.detections if g else [])] for p, g in zip(*gt)}
    top = candidates.head(n)
    sheet = Image.new("RGB", (columns * size, -(-len(top) // columns) * (size + 14)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, row in enumerate(top.itertuples()):
        box = [row.x, row.y, row.w, row.h]
        near = [(lab, b) for lab, b in labelled[row.filepath]
                if abs(b[0] + b[2] / 2 - box[0] - box[2] / 2) < 1.5 * max(box[2], b[2])
                and abs(b[1] + b[3] / 2 - box[1] - box[3] / 2) < 1.5 * max(box[3], b[3])]
        card = Image.open(io.BytesIO(card_png(row.filepath, near, [(row.label, box, row.error_score)], size=size)))
        x, y = (k % columns) * size, (k // columns) * (size + 14)
        sheet.paste(card, (x, y))
        draw.text((x + 2, y + size), f"{k + 1}. {Path(row.filepath).name} {row.label} {row.error_score:.2f}",
                  fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out


def bench_bccd(steps: int | None) -> None:
    if not BCCD.is_dir():
        print(f"\n=== BCCD: skipped ({BCCD} is absent)")
        return
    t = time.perf_counter()
    importers.import_voc("oof-bccd", BCCD, if_exists="overwrite")
    ds = datasets.load("oof-bccd")
    print(f"\n=== BCCD: {len(ds)} images imported in {time.perf_counter() - t:.0f} s; {_load()}")
    print(f"plan: {json.dumps(oof.plan_training(ds, steps=steps))}")
    report = _train("oof-bccd", steps=steps)
    ok = report["wall_s"] <= 15 * 60
    print(f"goal, BCCD end to end <= 15 min: {'PASS' if ok else 'FAIL'} ({report['wall_s'] / 60:.1f} min, "
          f"{_load()}; the goal is for 2 idle cores)")
    print(f"OOF mAP@0.5 against the labels: {report['map50']:.3f}, per class {report['ap50_per_class']}")
    print(f"candidates per type: {report['candidates']}")
    candidates = label_errors_fo.load_candidates(ds)
    missing = candidates[candidates["error_type"] == "missing"]
    out = contact_sheet(ds, missing, data_home() / "exports" / "bccd_missing_top24.png")
    print(f"missing candidates: {len(missing)}; top 24 contact sheet: {out}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["demo", "bccd"], default=None)
    parser.add_argument("--case-dir", type=Path, default=None, help="a built demo case (default: build it)")
    parser.add_argument("--steps", type=int, default=None, help="training steps per fold (default: the plan's)")
    args = parser.parse_args(argv)
    datasets.connect()
    if args.only in (None, "bccd"):
        bench_bccd(args.steps)
    if args.only in (None, "demo"):
        bench_demo(args.case_dir, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
