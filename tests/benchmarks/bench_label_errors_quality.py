"""Ranking quality of the label-error engine versus FiftyOne Brain and cleanlab ObjectLab.

Usage::

    python tests/benchmarks/bench_label_errors_quality.py [--cases NAME ...] [--root DIR] [--no-anchors]

For each case of :data:`analysis.demo.case.BENCHMARK_CASES` (built on first
use under ``--root``, default ``$LABELDASH_HOME/bench_cases``; synthetic scenes
with injected label errors and a real CPU detector trained on the noisy
labels), it ranks the noisy ground truth with this engine (default
parameters), FiftyOne Brain and ObjectLab (see ``_anchors.py`` for how their
outputs map onto the error types), and prints average precision per error
type and their mean.

Protocol (the same for every method):

* ``low_iou``, ``wrong_class``, ``spurious``, ``duplicate``: a candidate of
  type T is a hit when an injected error of type T has that noisy annotation
  id.
* ``missing``: candidates are predicted boxes; in rank order, a candidate is a
  hit when its IoU with a not yet found deleted box of the same image is >=
  0.5 (each deleted box is found at most once, as in COCO matching).
* AP per type = sum over distinct score thresholds of (recall step x
  precision), with recall relative to ALL injected errors of the type (errors
  never ranked count as misses); tied scores form one threshold (as
  ``sklearn.metrics.average_precision_score``).

Rows: ``engine`` (detector only), ``engine (scores only)`` (without the
detector's class probabilities), ``engine + crop classifier`` (with the
second opinion of :mod:`analysis.label_errors.crop_classifier` on every box's class,
objectness and place, computed from the case's images), then the anchors.

Goal (issue 3): engine mean AP >= 0.80 on every case, >= 0.25 above the better
anchor, and no type below 0.60. Parameters were tuned on ONE case (the first
of ``TUNING_CASE``); the others are held out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from analysis.core.boxes import box_iou
from analysis.core.files import data_home  # noqa: E402
from analysis.label_errors import coco_files  # noqa: E402
from analysis.label_errors.crop_classifier import crop_opinion  # noqa: E402
from analysis.label_errors.engine import find_detection_errors
from analysis.label_errors.params import ERROR_TYPES

TUNING_CASE = "demo"
TYPES = ERROR_TYPES


def average_precision(scores, hits, n_positive: int) -> float:
    """Tie-aware AP of a ranked candidate list against ``n_positive`` true errors."""
    if n_positive == 0:
        return float("nan")
    scores, hits = np.asarray(scores, dtype=np.float64), np.asarray(hits, dtype=bool)
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    scores, hits = scores[order], hits[order]
    tp, n = np.cumsum(hits), np.arange(1, len(hits) + 1)
    last = np.r_[scores[1:] != scores[:-1], True]  # end of each block of tied scores
    precision, recall = tp[last] / n[last], tp[last] / n_positive
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def hits_for(kind: str, ranked: pd.DataFrame, injected: pd.DataFrame) -> np.ndarray:
    """Hit flags of one method's candidates of one type (``ranked`` sorted by score)."""
    truth = injected[injected["error_type"] == kind]
    if kind != "missing":
        return ranked["ann_id"].isin(set(truth["ann_id"].astype(np.int64))).to_numpy()
    boxes = {}
    for row in truth.itertuples():
        boxes.setdefault(row.image_id, []).append(np.asarray(json.loads(row.true_bbox), dtype=float))
    found = {k: np.zeros(len(v), dtype=bool) for k, v in boxes.items()}
    hits = np.zeros(len(ranked), dtype=bool)
    for k, row in enumerate(ranked.itertuples()):
        cand = boxes.get(row.image_id)
        if cand is None:
            continue
        ious = box_iou(np.tile([row.x, row.y, row.w, row.h], (len(cand), 1)), np.stack(cand))
        ious[found[row.image_id]] = -1
        j = int(np.argmax(ious))
        if ious[j] >= 0.5:
            found[row.image_id][j] = True
            hits[k] = True
    return hits


def score_method(rankings: dict, injected: pd.DataFrame) -> dict:
    """AP per type (and ``mean``) of ``{type: candidates}``."""
    aps = {}
    for kind in TYPES:
        n_pos = int((injected["error_type"] == kind).sum())
        ranked = rankings.get(kind, pd.DataFrame(columns=["score", "ann_id"]))
        ranked = ranked.sort_values("score", ascending=False, kind="stable")
        aps[kind] = average_precision(ranked["score"], hits_for(kind, ranked, injected), n_pos)
    aps["mean"] = float(np.nanmean([aps[k] for k in TYPES]))
    return aps


def engine_rankings(gt, pred, pred_probs=None, opinion=None, **params) -> dict:
    res = find_detection_errors(gt, pred, pred_probs=pred_probs, opinion=opinion, **params)
    return {kind: res[res["error_type"] == kind].astype({"ann_id": "float"}) for kind in TYPES}


def load_case(case_dir: Path):
    instances = json.loads((case_dir / "gt_noisy.json").read_text())
    results = json.loads((case_dir / "predictions.json").read_text())
    gt, pred, pred_probs = coco_files.coco_to_frames(instances, results)
    injected = pd.read_csv(case_dir / "injected_errors.csv")
    sizes = {im["id"]: (im["width"], im["height"]) for im in instances["images"]}
    info = json.loads((case_dir / "case.json").read_text())
    info["image_paths"] = {im["id"]: case_dir / "images" / im["file_name"] for im in instances["images"]}
    return gt, pred, pred_probs, injected, sizes, info


def ensure_case(name: str, root: Path, train_budget_s: float) -> Path:
    from analysis.demo.case import BENCHMARK_CASES, build_case

    case_dir = root / name
    if not (case_dir / "case.json").is_file():
        t = time.perf_counter()
        print(f"building case {name!r} in {case_dir} ...", flush=True)
        build_case(case_dir, **{"train_budget_s": train_budget_s, **BENCHMARK_CASES[name]})
        print(f"  built in {time.perf_counter() - t:.0f} s", flush=True)
    return case_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="*", default=None, help="case names (default: all BENCHMARK_CASES)")
    parser.add_argument("--root", type=Path, default=None, help="folder holding built cases")
    parser.add_argument("--no-anchors", action="store_true", help="skip FiftyOne Brain and ObjectLab")
    parser.add_argument("--train-budget-s", type=float, default=1200.0,
                        help="time cap of detector training when building a case; generous so that the "
                             "configured number of steps is reached on a busy machine (reproducible cases)")
    args = parser.parse_args(argv)
    from analysis.demo.case import BENCHMARK_CASES

    root = args.root or data_home() / "bench_cases"
    names = args.cases or list(BENCHMARK_CASES)
    rows = []
    for name in names:
        gt, pred, pred_probs, injected, sizes, info = load_case(ensure_case(name, root, args.train_budget_s))
        counts = injected["error_type"].value_counts().to_dict()
        map50 = info["map50"]
        trained = info.get("detector", info)  # case.json layout differs between demo_case versions
        steps = f"{trained.get('train_steps')} training steps"
        role = "tuning" if name == TUNING_CASE else "held out"
        print(f"\n=== case {name} ({role}): {len(sizes)} images, {len(gt)} GT boxes, {len(pred)} predictions, "
              f"detector mAP@0.5 vs clean truth {map50:.3f} ({steps}); injected {counts}")
        methods = {}
        t = time.perf_counter()
        methods["engine"] = score_method(engine_rankings(gt, pred, pred_probs), injected)
        t_engine = time.perf_counter() - t
        if pred_probs is not None:  # what the scores alone give, for reference (not a goal)
            methods["engine (scores only)"] = score_method(engine_rankings(gt, pred), injected)
        # the optional second opinion from the images (--images / crop_classifier=True)
        opinion = crop_opinion(gt, info["image_paths"], pred)
        methods["engine + crop classifier"] = score_method(engine_rankings(gt, pred, pred_probs, opinion), injected)
        print(f"crop classifier: {opinion.attrs['seconds']:.1f} s, out-of-fold agreement with the noisy labels "
              f"{opinion.attrs['accuracy']:.3f}, median IoU of its boxes with the drawn ones "
              f"{opinion.attrs['median_iou']:.3f}")
        if not args.no_anchors:
            from _anchors import brain_rankings, objectlab_rankings

            # the anchors do not change with the engine's code: cached next to the case
            cache = root / name / "anchor_rankings.pkl"
            runs = {"fiftyone_brain": lambda probs: brain_rankings(gt, pred, sizes, probs),
                    "objectlab": lambda probs: objectlab_rankings(gt, pred, list(sizes), probs)}
            anchors = pd.read_pickle(cache) if cache.is_file() else {"seconds": {}}
            # each anchor with the scores alone and, when the case has them, with the class probabilities
            for method, probs in [(m, None) for m in runs] + [(m, pred_probs) for m in runs if pred_probs is not None]:
                key = method + ("" if probs is None else " (probs)")
                if key not in anchors:
                    t = time.perf_counter()
                    anchors[key] = runs[method](probs)
                    anchors["seconds"][key] = time.perf_counter() - t
                    pd.to_pickle(anchors, cache)
                methods[key] = score_method(anchors[key], injected)
            print(f"time: engine {t_engine:.2f} s; " + ", ".join(
                f"{k} {v:.1f} s" for k, v in anchors["seconds"].items() if k in methods)
                + f" (FiftyOne incl. dataset build; anchors cached in {cache.name})")
        table = pd.DataFrame(methods).T[[*TYPES, "mean"]]
        print(table.round(3).to_string())
        anchor_means = [v["mean"] for k, v in methods.items() if not k.startswith("engine")]
        for variant in ("engine", "engine + crop classifier"):
            eng = methods[variant]
            verdict = {"mean>=0.80": eng["mean"] >= 0.80, "min_type>=0.60": min(eng[k] for k in TYPES) >= 0.60}
            if anchor_means:
                verdict["margin>=0.25"] = eng["mean"] - max(anchor_means) >= 0.25
            print(f"goals, {variant}: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in verdict.items())
                  + (f" (margin {eng['mean'] - max(anchor_means):+.3f})" if anchor_means else ""))
        eng = methods["engine"]
        crops = methods["engine + crop classifier"]
        rows.append({"case": name, "role": role, **{f"engine_{k}": eng[k] for k in (*TYPES, "mean")},
                     "engine + crop classifier_min_type": min(crops[k] for k in TYPES),
                     **{f"{m}_mean": v["mean"] for m, v in methods.items() if m != "engine"}})
    print("\n=== summary")
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    print("(FiftyOne has no duplicate score: its 'duplicate' ranking is possible_spurious; ObjectLab has no "
          "spurious/duplicate subtype: both use badloc.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
