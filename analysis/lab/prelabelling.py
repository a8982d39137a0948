"""Pre-labelling: how much faster do labellers work from the model's boxes, and how often would trusting them mislead?

The model's boxes with confidence >= ``min_confidence`` are shown to the
labeller as pre-labels. Each truth box is matched one-to-one to a pre-label
(:func:`match`): first pairs of the same class with IoU >= ``accept_iou``,
then any pair with IoU >= ``fix_iou``, highest IoU first. A truth box then
needs one action:

* ``accept``: its pre-label has the right class and IoU >= ``accept_iou``;
* ``fix``: its pre-label overlaps (IoU >= ``fix_iou``) but has the wrong class
  or a loose box;
* ``draw``: no pre-label covers it;

and every pre-label matched to no truth box must be ``delete``-d (a false
positive). With seconds per action (editable assumptions, :data:`SECONDS`),
the time from scratch (``draw`` for every truth box) over the time with
pre-labels is the **speed-up** (:func:`summarize`).

**Anchoring risk**: a reviewer who trusts the model keeps every pre-label as
shown. The pre-labels that do not match a truth box at ``accept_iou`` with
the right class are then wrong labels in the data set: wrong class, loose
box, or a box on nothing. They are counted against the truth field the
actions use; use a field you trust (the demo's ``clean_ground_truth``, the
true boxes; with your own ``ground_truth``, its own errors count as well).

Spread: bootstrap resamples of the images (:func:`bootstrap`).

For the budget planner (:func:`planner_values`): ``prelabel_acceptance`` =
share of truth boxes with a usable pre-label (accept or fix) and
``prelabel_speedup`` = how much faster those boxes go than drawing, the
deletions charged to them, so that the planner's overall factor equals the
measured speed-up.

CLI::

    python -m analysis.prelabel run --dataset NAME [--truth FIELD] [--min-confidence 0.5] [--seconds accept=1.5,...]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from analysis.core import matching as bm
from analysis.core.errors import InputError
from analysis.data.detections import read_detections, truth_field
from analysis.lab import shared

ACTIONS = ("accept", "fix", "draw", "delete")
#: Seconds per action: (default, where it comes from). Editable assumptions.
SECONDS = {
    "accept": (1.6, "Papadopoulos et al. 2016: verifying a box (yes/no) takes about 1.6 s."),
    "fix": (4.0, "Assumption: dragging one or two box edges or changing the class, about 2-3 clicks."),
    "draw": (7.0, "Papadopoulos et al. 2017 (extreme clicking): 7 s per box; the planner's seconds per box."),
    "delete": (1.0, "Assumption: select and delete a wrong box, one or two clicks."),
}
#: Outcome of each pre-label against the truth (``right`` or one of the ways to be wrong).
OUTCOMES = ("right", "wrong_class", "loose", "extra")


class PrelabelError(InputError):
    """Settings or data are unusable; the message says why."""


def _check(min_confidence, accept_iou, fix_iou):
    if not (0 <= min_confidence <= 1 and 0 < fix_iou <= accept_iou <= 1):
        raise PrelabelError(f"need 0 <= minimum confidence <= 1 and 0 < fix IoU <= accept IoU <= 1; got "
                            f"{min_confidence}, fix {fix_iou}, accept {accept_iou}")


def match(gt: pd.DataFrame, pred: pd.DataFrame, *, min_confidence: float = 0.5, accept_iou: float = 0.7,
          fix_iou: float = 0.3, pairs: pd.DataFrame | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The action each truth box needs and the outcome of each prediction.

    Inputs: box tables (``image_id``, ``category_id``, ``x, y, w, h``; ``pred``
    also ``score``); ``pairs`` from :func:`analysis.core.matching.box_pairs` when
    already computed. Output: ``gt_action`` (``accept``/``fix``/``draw`` per
    truth box) and ``pred_outcome`` (one of :data:`OUTCOMES` per prediction,
    ``None`` below ``min_confidence``: not shown as a pre-label).
    """
    _check(min_confidence, accept_iou, fix_iou)
    pairs = bm.box_pairs(gt, pred) if pairs is None else pairs
    shown = pred["score"].to_numpy(float) >= min_confidence
    pairs = pairs[shown[pairs["p"].to_numpy()] & (pairs["iou"] >= fix_iou)]
    good = pairs["same_class"] & (pairs["iou"] >= accept_iou)
    pairs = pairs.assign(tier=np.where(good, 0, 1)).sort_values(["tier", "iou"], ascending=[True, False],
                                                                kind="stable")
    gt_match, pred_match = bm.greedy_match(pairs["g"].to_numpy(), pairs["p"].to_numpy(), len(gt), len(pred))
    g_cls, p_cls = gt["category_id"].to_numpy(), pred["category_id"].to_numpy()
    matched = gt_match >= 0
    iou = np.zeros(len(gt))
    iou[matched] = bm.box_iou(gt[bm.BOX].to_numpy(float)[matched], pred[bm.BOX].to_numpy(float)[gt_match[matched]])
    right = np.zeros(len(gt), bool)
    right[matched] = (g_cls[matched] == p_cls[gt_match[matched]]) & (iou[matched] >= accept_iou)
    gt_action = np.where(right, "accept", np.where(matched, "fix", "draw")).astype(object)
    pred_outcome = np.full(len(pred), None, dtype=object)
    pred_outcome[shown] = "extra"
    m = pred_match >= 0
    g = pred_match[m]
    pred_outcome[m] = np.where(right[g], "right", np.where(g_cls[g] != p_cls[m], "wrong_class", "loose"))
    return gt_action, pred_outcome


def image_counts(gt: pd.DataFrame, pred: pd.DataFrame, gt_action, pred_outcome) -> pd.DataFrame:
    """Per image: truth boxes per action, pre-labels per outcome (``delete`` = ``extra``)."""
    a = pd.crosstab(gt["image_id"].to_numpy(), gt_action).reindex(columns=["accept", "fix", "draw"], fill_value=0)
    shown = pd.notna(pred_outcome)
    o = pd.crosstab(pred["image_id"].to_numpy()[shown], pred_outcome[shown].astype(str)).reindex(
        columns=list(OUTCOMES), fill_value=0)
    out = a.join(o, how="outer").fillna(0).astype(int)
    out["delete"] = out["extra"]
    return out


def seconds(overrides: dict | None = None) -> dict:
    """Seconds per action: the defaults of :data:`SECONDS` with ``overrides`` (all must be > 0)."""
    out = {k: v[0] for k, v in SECONDS.items()} | dict(overrides or {})
    unknown = set(out) - set(ACTIONS)
    if unknown or not all(np.isfinite(float(v)) and float(v) > 0 for v in out.values()):
        raise PrelabelError(f"seconds are needed for {', '.join(ACTIONS)}, each a number > 0; got {out}")
    return {k: float(out[k]) for k in ACTIONS}


def summarize(counts, secs: dict) -> dict:
    """Shares, times and speed-up from summed counts (a row of :func:`image_counts` totals or a dict).

    Output: ``gt_boxes``, ``prelabels``; ``accept``/``fix``/``draw`` (shares of
    the truth boxes), ``delete`` (deleted pre-labels per truth box);
    ``seconds_scratch`` and ``seconds_prelabel`` (per truth box); ``speedup``
    (scratch / pre-labelled time); ``anchoring`` (share of pre-labels that are
    wrong if kept as shown) with ``wrong_class``, ``loose``, ``extra`` counts.
    """
    c = {k: float(counts[k]) for k in ("accept", "fix", "draw", "delete", *OUTCOMES)}
    n = c["accept"] + c["fix"] + c["draw"]
    shown = sum(c[k] for k in OUTCOMES)
    if n == 0:
        raise PrelabelError("the truth field holds no boxes: nothing to label")
    scratch = n * secs["draw"]
    with_pre = sum(c[k] * secs[k] for k in ACTIONS)
    return {"gt_boxes": int(n), "prelabels": int(shown), **{k: c[k] / n for k in ("accept", "fix", "draw", "delete")},
            "seconds_scratch": scratch / n, "seconds_prelabel": with_pre / n, "speedup": scratch / with_pre,
            "anchoring": (shown - c["right"]) / shown if shown else 0.0,
            **{k: int(c[k]) for k in ("wrong_class", "loose", "extra")}}


def bootstrap(counts: pd.DataFrame, secs: dict, runs: int = 200, random_state: int = 0) -> pd.DataFrame:
    """:func:`summarize` on ``runs`` resamples of the images (drawn with replacement); run 0 is the data itself."""
    rng = np.random.default_rng(random_state)
    values = counts.to_numpy()
    idx = np.vstack([np.arange(len(values)), rng.integers(0, len(values), (max(runs, 1) - 1, len(values)))])
    sums = values[idx].sum(axis=1)
    return pd.DataFrame([{"run": r, **summarize(dict(zip(counts.columns, s)), secs)} for r, s in enumerate(sums)])


def sweep(gt: pd.DataFrame, pred: pd.DataFrame, confidences, secs: dict, *, accept_iou: float = 0.7,
          fix_iou: float = 0.3, runs: int = 200, level: float = 0.8) -> pd.DataFrame:
    """Per minimum confidence: :func:`summarize` of the data plus ``level`` bootstrap bands of the speed-up
    and the anchoring risk (``speedup_low``/``_high``, ``anchoring_low``/``_high``)."""
    bm.check_boxes(gt, pred, "score")
    pairs = bm.box_pairs(gt, pred)
    q = ((1 - level) / 2, (1 + level) / 2)
    rows = []
    for t in confidences:
        ga, po = match(gt, pred, min_confidence=t, accept_iou=accept_iou, fix_iou=fix_iou, pairs=pairs)
        boot = bootstrap(image_counts(gt, pred, ga, po), secs, runs)
        rows.append({"min_confidence": float(t), **boot.iloc[0].drop("run").to_dict(),
                     "speedup_low": boot["speedup"].quantile(q[0]), "speedup_high": boot["speedup"].quantile(q[1]),
                     "anchoring_low": boot["anchoring"].quantile(q[0]),
                     "anchoring_high": boot["anchoring"].quantile(q[1])})
    return pd.DataFrame(rows)


def read_boxes(samples, truth: str | None = None, pred_field: str = "predictions") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Truth and predicted boxes of a FiftyOne collection, read in bulk; ``truth`` defaults to
    :func:`analysis.data.detections.truth_field`. Predictions need a ``confidence``."""
    gt = read_detections(samples, truth or truth_field(samples))
    pred = read_detections(samples, pred_field, ["confidence"]).rename(columns={"confidence": "score"})
    bm.check_boxes(gt, pred, "score")
    return gt, pred.astype({"score": float})


def planner_values(summary: dict) -> dict:
    """The planner's ``prelabel_acceptance`` and ``prelabel_speedup`` that reproduce ``summary["speedup"]``.

    Acceptance ``A`` = accept + fix shares; the speed-up ``S`` on those boxes
    satisfies ``1 / (A / S + 1 - A) = speedup``. ``S`` is at least 1 (the
    planner's floor): where deletions make pre-labelled boxes slower than
    drawing, the planner is told "no faster", and ``slower`` is ``True``.
    """
    a = summary["accept"] + summary["fix"]
    rest = 1 / summary["speedup"] - (1 - a)
    s = a / rest if a > 0 and rest > 0 else 1.0
    return {"prelabel_acceptance": a, "prelabel_speedup": max(s, 1.0), "slower": s < 1}


def measurement(summary: dict, dataset: str, min_confidence: float, truth: str, seconds: dict,
                accept_iou: float, fix_iou: float) -> tuple[dict[str, float], str, dict]:
    """``(values, source note, detail)`` for the planner from one :func:`sweep` row ``summary``.

    ``values``: ``prelabel_acceptance`` and ``prelabel_speedup`` (:func:`planner_values`); the note names the
    dataset, the pre-labels' minimum confidence and the truth field; the detail keeps the measured overall
    speed-up with its 80% band and the assumptions it rests on (seconds per action, IoU thresholds).
    """
    planner = planner_values(summary)
    values = {name: planner[name] for name in ("prelabel_acceptance", "prelabel_speedup")}
    note = f"pre-labelling on {dataset} at confidence >= {min_confidence:g}, vs {truth}"
    detail = {"speedup_overall": summary["speedup"], "low": summary["speedup_low"], "high": summary["speedup_high"],
              "seconds": seconds, "accept_iou": accept_iou, "fix_iou": fix_iou}
    return values, note, detail


# --------------------------------------------------------------------------- CLI


def _seconds(text: str) -> dict:
    try:
        pairs = dict(kv.split("=") for kv in text.split(",") if kv.strip())
        return seconds({k.strip(): float(v) for k, v in pairs.items()})
    except (ValueError, PrelabelError):
        raise argparse.ArgumentTypeError(f"--seconds needs action=seconds pairs > 0 for {', '.join(ACTIONS)}, "
                                         f"e.g. accept=1.5,fix=4; got {text!r}") from None


def _arguments(r) -> None:
    r.add_argument("--dataset", required=True, help="a FiftyOne dataset with truth and predicted boxes")
    r.add_argument("--truth", help="the truth field (default: clean_ground_truth if present, else ground_truth)")
    r.add_argument("--predictions", default="predictions")
    r.add_argument("--min-confidence", type=float, default=0.5, help="pre-labels are boxes at least this confident")
    r.add_argument("--accept-iou", type=float, default=0.7)
    r.add_argument("--fix-iou", type=float, default=0.3)
    r.add_argument("--seconds", type=_seconds, default=seconds(), help="e.g. accept=1.6,fix=4,draw=7,delete=1")


def _compute(args, progress) -> dict:
    from analysis.data import datasets

    ds = datasets.load(args.dataset)
    truth = args.truth or truth_field(ds)
    gt, pred = read_boxes(ds, truth, args.predictions)
    progress(0.3, f"{len(gt):,} truth and {len(pred):,} predicted boxes")
    row = sweep(gt, pred, [args.min_confidence], args.seconds, accept_iou=args.accept_iou, fix_iou=args.fix_iou,
                runs=max(args.seeds, 2)).iloc[0].to_dict()
    return {"source": f"dataset {args.dataset}", "truth": truth, "seconds": args.seconds, **row,
            "planner": planner_values(row)}


def main(argv=None) -> int:
    return shared.run_cli(argv, "python -m analysis.prelabel", __doc__.split("\n")[0], _arguments, _compute,
                      sources=False)


if __name__ == "__main__":
    sys.exit(main())
