"""What the lab's techniques share: the simulated learner (a standardised logistic regression on PCA
features), labels needed to reach a target on a curve, and the ``python -m analysis.<technique> run`` CLI
that prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Callable

import numpy as np

from analysis.core.cli import ArgumentParser
from analysis.core.errors import InputError
from analysis.data.sources import SOURCES


def learner(classes, random_state: int = 0):
    """The simulated model: standardised logistic regression, as a skactiveml classifier."""
    from skactiveml.classifier import SklearnClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return SklearnClassifier(make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=200)),
                             classes=classes, random_state=random_state)


def fit_quietly(model, X, y):
    """``model.fit(X, y)`` without convergence warnings; returns the model."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # small labelled sets often stop at max_iter; the simulation measures the model as trained
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def features(X, n_components: int = 50, random_state: int = 0) -> np.ndarray:
    """PCA features of ``X`` (at most ``n_components``), fitted without labels: cheap rounds for the learner."""
    from sklearn.decomposition import PCA

    X = np.asarray(X, dtype=np.float64)
    k = min(n_components, X.shape[1], len(X))
    return PCA(k, random_state=random_state).fit_transform(X)


def labels_to_reach(n_labels, accuracy, target: float) -> float:
    """Labels at which a curve first reaches ``target`` (linear between rounds); ``inf`` if it never does.

    ``n_labels`` ascending label counts, ``accuracy`` the curve's values there.
    """
    n, acc = np.asarray(n_labels, float), np.asarray(accuracy, float)
    hit = np.flatnonzero(acc >= target)
    if not len(hit):
        return np.inf
    i = hit[0]
    if i == 0:
        return float(n[0])
    return float(n[i - 1] + (target - acc[i - 1]) * (n[i] - n[i - 1]) / (acc[i] - acc[i - 1]))


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"needs a whole number >= 1, got {text!r}")
    return int(text)


def run_cli(argv, prog: str, description: str, add_arguments: Callable, compute: Callable,
            sources: bool = True) -> int:
    """The labelling-lab CLIs: ``prog run --source S --seeds N --jobs J [own options]``, JSON on stdout.

    ``add_arguments(run_parser)`` adds the command's own options; ``compute(args,
    progress)`` returns the JSON-able answer (its ``source`` key, if any, wins).
    ``sources=False`` drops ``--source`` for commands on the user's own data.
    Bad input: one line on stderr, exit 2.
    """
    parser = ArgumentParser(prog=prog, description=description)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    r = sub.add_parser("run", help="measure and print JSON")
    if sources:
        r.add_argument("--source", choices=list(SOURCES), default="mnist5k", help="embedded data set")
    r.add_argument("--seeds", type=positive, default=5)
    r.add_argument("--jobs", type=positive, default=2, help="worker processes")
    add_arguments(r)
    args = parser.parse_args(argv)
    try:
        out = compute(args, lambda f, m: print(f"{f:4.0%} {m}", file=sys.stderr, flush=True))
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"source": getattr(args, "source", None), **out}))
    return 0
