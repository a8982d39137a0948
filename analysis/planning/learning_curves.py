"""Learning curves: run them, import them, extrapolate them.

A *learning curve* is a model's validation metric as a function of the number
of labelled training items. This module

* **runs** them through :mod:`analysis.planning.experiments` (on the data
  sources of :mod:`analysis.data.sources`), from the command line;
* **reads** a team's own curve points from CSV (:func:`read_points`; columns
  ``model, n_labels, metric[, seed]``), with one-line messages for bad files;
* **decides** per model: label more, or change the model (:func:`verdicts`,
  with the evidence: ceiling, the metric at 10x the labels, who gets there);
* **extrapolates** them to a target (:func:`extrapolate`, which calls
  :mod:`analysis.planning.curve_fit`), also from the command line::

      python -m analysis.learning_curves extrapolate --csv POINTS.csv --target 0.85 --at 10000,20000
      python -m analysis.learning_curves run --source mnist5k --out points.csv

Points tables have one row per trained model: ``model`` (str), ``n_labels``
(int, training items), ``seed`` (int) and ``metric`` (float, e.g. accuracy in
[0, 1]).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.core.cli import ArgumentParser
from analysis.core.errors import InputError
from analysis.data.sources import CROPS, SOURCES
from analysis.planning import curve_fit
from analysis.planning.curve_fit import CurveError
from analysis.planning.experiments import DEFAULT_MODELS, MODELS, cached_experiment

REQUIRED = ("model", "n_labels", "metric")


def read_points(source) -> pd.DataFrame:
    """Read and check curve points (a CSV path, file-like object, or DataFrame).

    Columns: ``model`` (text), ``n_labels`` (positive integer, labelled
    training items), ``metric`` (number), optional ``seed`` (run id; default:
    the row's order within its model and size). Other columns are ignored.
    Returns a DataFrame with exactly those four columns, sorted. Raises
    :class:`CurveError` with a one-line reason (which column, which row).
    """
    if isinstance(source, pd.DataFrame):
        df = source.copy()
    else:
        try:
            df = pd.read_csv(source, skipinitialspace=True)
        except FileNotFoundError:
            raise CurveError(f"no such file: {source}") from None
        except IsADirectoryError:
            raise CurveError(f"{source} is a folder: give the CSV file in it") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise CurveError(f"not a readable CSV file: {str(e).splitlines()[0] if str(e) else e}") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise CurveError(f"missing column(s) {', '.join(missing)}; expected columns model,n_labels,metric[,seed] "
                         f"(found: {', '.join(df.columns) or 'none'})")
    if df.empty:
        raise CurveError("the file has a header but no points")
    df["model"] = df["model"].astype(str).str.strip()
    for col in ("n_labels", "metric") + (("seed",) if "seed" in df.columns else ()):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = np.flatnonzero(num.isna() | ~np.isfinite(num))
        if len(bad):
            value = df[col].iloc[bad[0]]
            shown = "an empty cell" if pd.isna(value) or not str(value).strip() else repr(value)
            raise CurveError(f"column {col}: {shown} in data row {bad[0] + 1} is not a number"
                             + (f" ({len(bad)} such rows)" if len(bad) > 1 else ""))
        df[col] = num
    bad = np.flatnonzero((df["n_labels"] < 1) | (df["n_labels"] != np.round(df["n_labels"])))
    if len(bad):
        raise CurveError(f"column n_labels: {df['n_labels'].iloc[bad[0]]} in data row {bad[0] + 1} "
                         "is not a positive whole number of labels")
    df["n_labels"] = df["n_labels"].astype(int)
    if "seed" not in df.columns:
        df["seed"] = df.groupby(["model", "n_labels"]).cumcount()
    sizes = df.groupby("model")["n_labels"].nunique()
    few = sizes[sizes < 3]
    if len(few):
        raise CurveError(f"model {few.index[0]!r} has points at {few.iloc[0]} training-set size(s); "
                         "a curve needs 3 or more sizes (ideally 5+, log-spaced)")
    return df[["model", "n_labels", "seed", "metric"]].sort_values(["model", "n_labels", "seed"], ignore_index=True)


def direction_warning(name: str, fit: curve_fit.CurveFit) -> str | None:
    """A one-line warning when the points strongly suggest the metric's direction is the other one than the
    answer assumes (:attr:`analysis.planning.curve_trend.Trend.other_direction`), else ``None``. The answer is given
    either way: the direction is the user's statement."""
    t = fit.trend
    if t is None or not t.other_direction:
        return None
    moves, assumed, other = (("falls", "higher", "lower (an error or a loss)") if fit.higher_is_better else
                             ("rises", "lower", "higher (accuracy, IoU)"))
    return (f"model {name!r}: the metric {moves} steadily as labels grow (from {t.first[1]:.4g} at {t.first[0]:,} "
            f"labels to {t.last[1]:.4g} at {t.last[0]:,}); the answer reads {assumed} as better. If {other} is "
            "better for this metric, say so and the answer follows.")


def fit_models(points: pd.DataFrame, higher_is_better: bool = True, **fit_kwargs) -> dict:
    """Fit every model's curve in a checked points table: ``{model: CurveFit}``.

    Every real curve gets a fit, also one that is flat, falls or is noisy (its verdict says so); only
    unusable points raise :class:`CurveError` (see :func:`analysis.planning.curve_fit.fit_curve`).
    """
    fits = {}
    for name, grp in points.groupby("model", sort=True):
        try:
            fits[name] = curve_fit.fit_curve(grp["n_labels"], grp["metric"], grp["seed"],
                                             higher_is_better=higher_is_better, **fit_kwargs)
        except curve_fit.FitError as e:
            raise CurveError(f"model {name!r}: {e}") from None
    return fits


def summarize(fit: curve_fit.CurveFit, target: float, at=(), level: float = 0.8) -> dict:
    """The CLI's per-model answer (see :func:`extrapolate`) from one fitted curve."""
    est, lo, hi = fit.labels_to_target(target, level)

    def count(v):
        return None if not np.isfinite(v) else int(round(v))

    p_short = fit.p_ceiling_short(target)
    out = {
        "form": fit.method,
        "ceiling": round(fit.ceiling(), 6),
        "labels_to_target": None if not np.isfinite(est) else {"estimate": count(est), "low": count(lo),
                                                                "high": count(hi)},
        "p_ceiling_below_target": round(p_short, 4),
        "predicted": {},
    }
    if len(at):
        m, m_lo, m_hi = fit.predict(np.asarray(at, float), level)
        out["predicted"] = {str(int(n)): {"estimate": round(float(a), 6), "low": round(float(b), 6),
                                          "high": round(float(c), 6)}
                            for n, a, b, c in zip(at, m, m_lo, m_hi)}
    return out


def extrapolate(points, target: float, at=(), higher_is_better: bool = True, level: float = 0.8,
                with_warnings: bool = False):
    """Fit each model's curve and answer: labels to reach ``target``, and the metric at sizes ``at``.

    Inputs: ``points`` (anything :func:`read_points` takes), ``target``
    metric value, ``at`` sizes to predict, ``level`` interval coverage.
    Output, keyed by model: ``{"form", "ceiling", "labels_to_target":
    {"estimate", "low", "high"} or None, "p_ceiling_below_target",
    "predicted": {"<N>": {"estimate", "low", "high"}}}``. ``labels_to_target``
    is ``None`` when the fitted curve does not reach the target within
    ``curve_fit.MAX_LABELS`` labels; ``high`` is ``None`` when the interval is
    unbounded (some draws do not reach it within ``MAX_LABELS``). With ``with_warnings``: ``(answers,
    {model: warning})``, the models whose points suggest the other direction (:func:`direction_warning`).
    """
    if not np.isfinite(target):
        raise CurveError(f"the target must be a number, got {target}")
    points = read_points(points)
    fits = fit_models(points, higher_is_better)
    answers = {name: summarize(fit, target, at, level) for name, fit in fits.items()}
    if not with_warnings:
        return answers
    return answers, {name: w for name, fit in fits.items() if (w := direction_warning(name, fit))}


#: Needing more than this many times the current labels counts as "more data will not get there".
FAR = 100


def default_target(metric, higher_is_better: bool = True) -> float:
    """A starting target a little beyond the best point (the page's default): 2 points of the scale above the
    best score (at most 99% of the perfect score; percentages count on 0-100), or 2 points under the best
    error (at least half of it), to 3 decimals."""
    metric = np.asarray(metric, float)
    if not higher_is_better:
        best = metric.min()
        return float(np.round(max(best - 0.02, best / 2), 3))
    best = metric.max()
    scale = 100.0 if best > 1 else 1.0
    return float(np.round(min(best + 0.02 * scale, 0.99 * scale), 3))


def trend_text(fit: curve_fit.CurveFit) -> str:
    """The observed trend as evidence: "it falls (from 0.842 at 100 labels to 0.815 at 3,200; -0.006 per
    doubling of the labels over the last 4 sizes, standard error 0.002; seeds spread 0.004)"."""
    t = fit.trend
    what = {"rises": "it rises", "flat": "it is flat", "falls": "it falls"}[t.direction]
    seeds = f"; seeds spread {t.seed_sd:.3g}" if np.isfinite(t.seed_sd) else "; one run per size"
    return (f"{what} (from {t.first[1]:.4g} at {t.first[0]:,} labels to {t.last[1]:.4g} at {t.last[0]:,}; "
            f"{t.per_doubling:+.3g} per doubling of the labels over the last {t.window} sizes, standard error "
            f"{t.se:.2g}{seeds})")


def verdicts(fits: dict, target: float, n_now: int | None = None, level: float = 0.8) -> dict:
    """Per model: label more, or change the model/architecture, with the evidence.

    Inputs: ``fits`` (``{model: CurveFit}``), the ``target`` metric, ``n_now``
    the labels of the largest run (default: each model's own largest size,
    as models may stop at different sizes). A model gets ``"target reached"`` when
    the curve gets there by ``n_now``; ``"change the model"`` when its points do
    not rise over their last sizes (flat or falling: :func:`analysis.planning.curve_trend.observed_trend`;
    more labels do not help this model), when its fitted ceiling is more likely below the target than not,
    or when the target needs more than ``FAR`` times ``n_now`` labels (or is never
    reached); otherwise ``"label more"``. Output: ``{model: {"verdict",
    "labels": estimate or None, "text"}}``; the text (markdown) gives the
    evidence: the observed trend when it does not rise, labels needed with their ``level`` interval, the fitted
    ceiling and the probability that it is below the target, the metric the
    curve predicts at 10x ``n_now``, and the model that gets there with the fewest labels.
    """
    now = {m: int(n_now or f.n_ref) for m, f in fits.items()}
    answers = {m: summarize(f, target, [10 * now[m]], level) for m, f in fits.items()}
    reached = {m for m, a in answers.items() if a["labels_to_target"] and a["p_ceiling_below_target"] < 0.5
               and a["labels_to_target"]["estimate"] <= now[m]}
    reach = {m: a["labels_to_target"]["estimate"] for m, a in answers.items()
             if m in reached or (a["labels_to_target"] and a["p_ceiling_below_target"] < 0.5
                                 and a["labels_to_target"]["estimate"] <= FAR * now[m]
                                 and fits[m].trend.direction == "rises")}
    out = {}
    for m, a in answers.items():
        n_now, fit = now[m], fits[m]
        lt, p, at10 = a["labels_to_target"], a["p_ceiling_below_target"], a["predicted"][str(10 * n_now)]
        # for a metric where lower is better the curve levels off at a floor, and "short" means above the target
        bound = "ceiling" if fit.higher_is_better else "floor"
        at_10x = (f"at 10x the labels ({10 * n_now:,}) the curve predicts {at10['estimate']:.3f} ({level:.0%} "
                  f"interval {at10['low']:.3f} to {at10['high']:.3f}).")
        # a curve that does not rise: the fit's far ceiling is no evidence, the observed trend is
        evidence = (at_10x[0].upper() + at_10x[1:] if m not in reached and fit.trend.direction != "rises" else
                    f"Fitted {bound} {a['ceiling']:.3f} (probability it falls short of the target: {p:.0%}); {at_10x}")
        if m in reached:
            verdict = "target reached"
            text = (f"**{m}: target reached.** The curve is at {target:g} by about {lt['estimate']:,} labels, no more "
                    f"than the {n_now:,} now. ")
        elif m in reach:
            verdict = "label more"
            text = (f"**{m}: label more.** Reaches {target:g} at about **{lt['estimate']:,} labels** ({level:.0%} "
                    f"interval {lt['low']:,} to {curve_fit.upper_end_text(lt['high'])}), "
                    f"{lt['estimate'] - n_now:,} more than now. ")
        else:
            verdict = "change the model"
            others = sorted((o for o in reach if o not in reached), key=reach.get)
            alt = (f" {others[0]} reaches it at about {reach[others[0]]:,} labels." if others else
                   " None of the models compared gets there: change the architecture, the features or the label "
                   "quality.")
            if fit.trend.direction != "rises":
                what = "it falls" if fit.trend.direction == "falls" else "it is flat"
                text = (f"**{m}: more labels do not help this model: change the model ({what}).** Over its "
                        f"sizes {trend_text(fit)}.{alt} ")
            else:
                if p >= 0.5:
                    why = f"its fitted {bound} falls short of the target (probability {p:.0%})"
                elif lt is None:
                    why = f"the fitted curve does not reach the target within {curve_fit.MAX_LABELS:,.0f} labels"
                else:
                    why = f"the target needs about {lt['estimate']:,} labels, over {FAR}x the {n_now:,} now"
                text = f"**{m}: change the model.** More data of this kind will not get there: {why}.{alt} "
        out[m] = {"verdict": verdict, "labels": lt["estimate"] if lt else None, "text": text + evidence}
    return out


def planner_answer(points: pd.DataFrame, model: str, answer: dict, target: float, higher_is_better: bool,
                   source: str) -> dict:
    """What the budget planner reads from one model's fitted curve (the page hands it over as JSON).

    Args:
        points: the curve points (``model, n_labels, metric[, seed]``).
        model: the model whose curve the planner uses.
        answer: that model's :func:`summarize` output (labels to target, ceiling, ...), kept as is.
        target, higher_is_better: how the curve was read.
        source: where the points come from (shown by the planner).

    Returns ``{source, model, target, higher_is_better, current_labels, current_metric, **answer}``:
    "now" is this model's largest run (models may stop at different sizes), its metric the mean over
    seeds there.
    """
    own = points[points["model"] == model]
    n_now = int(own["n_labels"].max())
    current = float(own.loc[own["n_labels"] == n_now, "metric"].mean())
    return {"source": source, "model": model, "target": target, "higher_is_better": higher_is_better,
            "current_labels": n_now, "current_metric": current, **answer}


def _sizes_arg(text: str) -> list[int]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--at needs comma-separated label counts, got {text!r}") from None
    if not values or not all(np.isfinite(v) and v >= 1 and v == round(v) for v in values):
        raise argparse.ArgumentTypeError(f"--at needs positive whole label counts, got {text!r}")
    return [int(v) for v in values]


def main(argv=None) -> int:
    parser = ArgumentParser(prog="python -m analysis.learning_curves", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    p = sub.add_parser("extrapolate", help="fit curve points from a CSV and print a JSON answer")
    p.add_argument("--csv", required=True, help="points with columns model,n_labels,metric[,seed]")
    p.add_argument("--target", required=True, type=float, help="metric value to reach")
    p.add_argument("--at", type=_sizes_arg, default=[], help="label counts to predict, e.g. 10000,20000")
    p.add_argument("--lower-is-better", action="store_true", help="the metric is an error or loss")
    r = sub.add_parser("run", help="run a learning-curve experiment on an embedded data set")
    r.add_argument("--source", default="mnist5k",
                   help=f"{', '.join(SOURCES)}, or {CROPS}<FiftyOne dataset> (its ground-truth boxes' crops)")
    r.add_argument("--models", default=",".join(DEFAULT_MODELS), help=f"comma-separated, from {','.join(MODELS)}")
    r.add_argument("--sizes", type=int, default=8, help="number of log-spaced training-set sizes")
    r.add_argument("--seeds", type=int, default=3)
    r.add_argument("--jobs", type=int, default=2, help="worker processes")
    r.add_argument("--out", help="CSV to write (default: stdout)")
    args = parser.parse_args(argv)
    try:
        if args.command == "extrapolate":
            result, warnings = extrapolate(args.csv, args.target, args.at, higher_is_better=not args.lower_is_better,
                                           with_warnings=True)
            for w in warnings.values():  # beside the answer, never instead of it
                print(f"warning: {w}", file=sys.stderr)
            print(json.dumps(result))
            return 0
        df = cached_experiment(args.source, args.models.split(","), args.sizes, args.seeds, n_jobs=args.jobs,
                               progress=lambda f, m: print(f"{f:4.0%} {m}", file=sys.stderr, flush=True))
        buf = io.StringIO()
        df.to_csv(buf, index=False)
        if args.out:
            Path(args.out).write_text(buf.getvalue())
        else:
            sys.stdout.write(buf.getvalue())
        return 0
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
