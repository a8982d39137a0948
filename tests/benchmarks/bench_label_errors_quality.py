"""Ranking quality of the label-error engine versus FiftyOne Brain and cleanlab ObjectLab.

Usage::

    python tests/benchmarks/bench_label_errors_quality.py [--cases NAME ...] [--root DIR] [--no-anchors]
        [--no-crop-classifier] [--no-learnt]

For each case of :data:`analysis.demo.case.BENCHMARK_CASES` and :data:`HELD_OUT_CASES` (built on first
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

Rows: ``engine`` (detector only, the default quick evidence), ``engine (scores only)`` (without the
detector's class probabilities), ``engine + crop classifier`` (with the
second opinion of :mod:`analysis.label_errors.crop_classifier` on every box's class,
objectness and place, computed from the case's images), then the anchors.

``nearest-box baseline`` (:func:`nearest_box_rankings`, written out here:
each GT box's nearest predictions by raw confidence) is the floor every
method must clear by a margin. ``learnt ranker (experiment)`` is the
simulated-errors ranker of issue 19 (``_learnt_ranker.py``, settings frozen
before its held-out runs; it is no part of the library: it lost to the
engine on every case, see that module's docstring).

Goals (issue 19): mean AP >= 0.80 on every case, >= 0.10 above the
nearest-box baseline and >= 0.25 above the better anchor, no type below
0.60. Parameters were tuned on ONE case (``TUNING_CASE``); the others are
held out. ``glyphs-dense`` (rendered letters) and ``mnist-weak-mix`` (a
weak, narrow detector, another error mix) were added for issue 19 and run
once with frozen settings.
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

from analysis.core.boxes import box_iou, iou_xywh  # noqa: E402
from analysis.core.files import data_home  # noqa: E402
from analysis.demo.inject import ErrorRates  # noqa: E402
from analysis.label_errors import coco_files  # noqa: E402
from analysis.label_errors.crop_classifier import crop_opinion  # noqa: E402
from analysis.label_errors.engine import find_detection_errors  # noqa: E402
from analysis.label_errors.params import ERROR_TYPES  # noqa: E402
from analysis.label_errors.trust import expected_precision  # noqa: E402

TUNING_CASE = "demo"
TYPES = ERROR_TYPES
#: Cases added for issue 19, frozen before the learnt ranker's first run on them and run once (keyword arguments
#: of :func:`analysis.demo.case.build_case`).
HELD_OUT_CASES = {
    # other objects (rendered letters in 17 faces), other sizes and density, another error mix
    "glyphs-dense": dict(source="glyphs", n_train=2000, n_val=400, image_size=128, objects_per_image=(3, 9),
                         scale_px=(12, 40), train_steps=600, detector_width=32, seed=11,
                         error_rates=ErrorRates(missing=0.08, low_iou=0.05, wrong_class=0.07, spurious=0.04,
                                                duplicate=0.04)),
    # another detector budget (weak and narrow) and another error mix
    "mnist-weak-mix": dict(source="mnist", n_train=1500, n_val=400, image_size=96, objects_per_image=(1, 5),
                           scale_px=(16, 40), train_steps=250, detector_width=24, seed=23,
                           error_rates=ErrorRates(missing=0.04, low_iou=0.10, wrong_class=0.04, spurious=0.08,
                                                  duplicate=0.03)),
}


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


def print_trust_check(rankings: dict, injected: pd.DataFrame) -> None:
    """The engine's trust figure (:func:`analysis.label_errors.trust.expected_precision`: the top k's mean score)
    against the precision its top k really has here (the share of injected errors)."""
    for kind, ranked in rankings.items():
        ranked = ranked.sort_values("score", ascending=False, kind="stable")
        hits = hits_for(kind, ranked, injected)
        expected = expected_precision(ranked.assign(error_type=kind), score="score")
        print(f"trust figure, {kind}: " + "; ".join(f"top {k} expected {e:.2f}, measured {hits[:k].mean():.2f}"
                                                    for k, e in zip(expected["k"], expected["expected"])))


def nearest_box_rankings(gt: pd.DataFrame, pred: pd.DataFrame) -> dict:
    """The nearest-box baseline (issue 19): each GT box's nearest predictions by raw confidence.

    ``missing`` = an unmatched prediction's score (no GT box at IoU >= 0.5);
    ``low_iou`` = score x (0.8 - IoU) of the most overlapping same-class
    prediction (IoU < 0.8); ``wrong_class`` = the best score of another
    class at IoU >= 0.5; ``spurious`` = 1 - the best score of any overlapping
    prediction; ``duplicate`` = IoU with an earlier same-class GT box (the
    later annotation is flagged).
    """
    out = {k: [] for k in TYPES}
    preds, gts = dict(tuple(pred.groupby("image_id"))), dict(tuple(gt.groupby("image_id")))
    for image_id in set(preds) | set(gts):
        p, g = preds.get(image_id, pred.iloc[:0]), gts.get(image_id, gt.iloc[:0])
        iou = iou_xywh(g[list("xywh")].to_numpy(float), p[list("xywh")].to_numpy(float))
        s, ids = p["score"].to_numpy(float), g["ann_id"].to_numpy()
        same = g["category_id"].to_numpy()[:, None] == p["category_id"].to_numpy()[None, :]
        for i, ann in enumerate(ids):
            u = np.where(same[i], iou[i], -1.0)
            j = int(np.argmax(u)) if len(u) else -1
            if j >= 0 and 0 < u[j] < 0.8:
                out["low_iou"].append((ann, s[j] * (0.8 - u[j])))
            other = s[~same[i] & (iou[i] >= 0.5)]
            if len(other):
                out["wrong_class"].append((ann, other.max()))
            out["spurious"].append((ann, 1 - s[iou[i] > 0].max(initial=0.0)))
        giou = iou_xywh(g[list("xywh")].to_numpy(float), g[list("xywh")].to_numpy(float))
        gsame = g["category_id"].to_numpy()[:, None] == g["category_id"].to_numpy()[None, :]
        for i in range(len(g)):
            earlier = gsame[i] & (ids < ids[i])
            if earlier.any() and giou[i][earlier].max() > 0:
                out["duplicate"].append((ids[i], giou[i][earlier].max()))
        for j in np.flatnonzero(iou.max(0, initial=0) < 0.5):
            out["missing"].append((*p.iloc[j][list("xywh")], image_id, s[j]))
    tables = {k: pd.DataFrame(v, columns=["ann_id", "score"]) for k, v in out.items() if k != "missing"}
    tables["missing"] = pd.DataFrame(out["missing"], columns=["x", "y", "w", "h", "image_id", "score"])
    return {k: t.astype({"score": float}).sort_values("score", ascending=False, kind="stable")
            for k, t in tables.items()}


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
        build_case(case_dir, **{"train_budget_s": train_budget_s, **{**BENCHMARK_CASES, **HELD_OUT_CASES}[name]})
        print(f"  built in {time.perf_counter() - t:.0f} s", flush=True)
    return case_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="*", default=None,
                        help="case names (default: all BENCHMARK_CASES and HELD_OUT_CASES)")
    parser.add_argument("--root", type=Path, default=None, help="folder holding built cases")
    parser.add_argument("--no-anchors", action="store_true", help="skip FiftyOne Brain and ObjectLab")
    parser.add_argument("--no-crop-classifier", action="store_true",
                        help="skip the engine + crop classifier row (150-240 s per case on 2 cores)")
    parser.add_argument("--no-learnt", action="store_true", help="skip the learnt ranker experiment")
    parser.add_argument("--train-budget-s", type=float, default=1200.0,
                        help="time cap of detector training when building a case; generous so that the "
                             "configured number of steps is reached on a busy machine (reproducible cases)")
    args = parser.parse_args(argv)
    from analysis.demo.case import BENCHMARK_CASES

    root = args.root or data_home() / "bench_cases"
    names = args.cases or [*BENCHMARK_CASES, *HELD_OUT_CASES]
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
        ranked = engine_rankings(gt, pred, pred_probs)
        methods["engine"] = score_method(ranked, injected)
        t_engine = time.perf_counter() - t
        print_trust_check(ranked, injected)
        if pred_probs is not None:  # what the scores alone give, for reference (not a goal)
            methods["engine (scores only)"] = score_method(engine_rankings(gt, pred), injected)
        if not args.no_crop_classifier:  # the optional second opinion from the images (--images)
            opinion = crop_opinion(gt, info["image_paths"], pred)
            methods["engine + crop classifier"] = score_method(engine_rankings(gt, pred, pred_probs, opinion),
                                                               injected)
            print(f"crop classifier: {opinion.attrs['seconds']:.1f} s, out-of-fold agreement with the noisy labels "
                  f"{opinion.attrs['accuracy']:.3f}, median IoU of its boxes with the drawn ones "
                  f"{opinion.attrs['median_iou']:.3f}")
        t = time.perf_counter()
        methods["nearest-box baseline"] = score_method(nearest_box_rankings(gt, pred), injected)
        t_baseline = time.perf_counter() - t
        t_learnt = float("nan")
        if not args.no_learnt:
            from _learnt_ranker import rank_detection_errors

            t = time.perf_counter()
            learnt = rank_detection_errors(gt, pred, pred_probs)
            t_learnt = time.perf_counter() - t
            methods["learnt ranker (experiment)"] = score_method(
                {k: learnt[learnt["error_type"] == k].astype({"ann_id": "float"}) for k in TYPES}, injected)
            for kind, figures in learnt.attrs["trust"].items():
                ranked = learnt[learnt["error_type"] == kind].astype({"ann_id": "float"})
                hits = hits_for(kind, ranked, injected)
                print(f"learnt ranker's trust figure, {kind}: " + "; ".join(
                    f"top {f['k']} expected {f['precision']:.2f} [{f['low']:.2f}, {f['high']:.2f}], "
                    f"measured {hits[:f['k']].mean():.2f}" for f in figures))
        print(f"time: nearest-box baseline {t_baseline:.1f} s, learnt ranker {t_learnt:.1f} s")
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
        anchor_means = [v["mean"] for k, v in methods.items() if k.startswith(("fiftyone", "objectlab"))]
        baseline = methods["nearest-box baseline"]["mean"]
        for variant in ("engine", "engine + crop classifier", "learnt ranker (experiment)"):
            if variant not in methods:
                continue
            eng = methods[variant]
            verdict = {"mean>=0.80": eng["mean"] >= 0.80, "min_type>=0.60": min(eng[k] for k in TYPES) >= 0.60,
                       "baseline+0.10": eng["mean"] - baseline >= 0.10}
            if anchor_means:
                verdict["anchor+0.25"] = eng["mean"] - max(anchor_means) >= 0.25
            print(f"goals, {variant}: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in verdict.items())
                  + f" (over the baseline {eng['mean'] - baseline:+.3f}"
                  + (f", over the better anchor {eng['mean'] - max(anchor_means):+.3f})" if anchor_means else ")"))
        eng = methods["engine"]
        rows.append({"case": name, "role": role, **{f"engine_{k}": eng[k] for k in (*TYPES, "mean")},
                     **{f"{m}_mean": v["mean"] for m, v in methods.items() if m != "engine"}})
    print("\n=== summary")
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    print("(FiftyOne has no duplicate score: its 'duplicate' ranking is possible_spurious; ObjectLab has no "
          "spurious/duplicate subtype: both use badloc.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
