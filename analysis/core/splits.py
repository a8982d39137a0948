"""Splits shared by the experiments and the lab: a fixed stratified validation split, and a stratified
order of the rest so that every prefix is class-balanced (each training size is a prefix).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def validation_split(y: np.ndarray, val_size: int, random_state: int = 0):
    """Stratified split: ``(pool_index, val_index)``, the same for every model and seed."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    counts = np.bincount(pd.factorize(y)[0])
    stratify = y if counts.min() >= 2 and val_size >= len(counts) else None
    pool, val = train_test_split(idx, test_size=val_size, random_state=random_state, stratify=stratify)
    return np.sort(pool), np.sort(val)


def stratified_order(y: np.ndarray, seed: int) -> np.ndarray:
    """A random order of ``range(len(y))`` whose every prefix has about the class proportions of ``y``.

    Items are shuffled within each class and ranked by their position within the
    class divided by the class size, so the first ``n`` items hold each class
    ``round(n * share)`` times; training sets of one seed are nested prefixes
    (a bigger set adds items, as labelling more would).
    """
    rng = np.random.default_rng(seed)
    codes = pd.factorize(y)[0]
    perm = rng.permutation(len(y))
    counts = np.bincount(codes)
    # rank of each permuted item within its class
    order_in_class = pd.Series(codes[perm]).groupby(codes[perm]).cumcount().to_numpy()
    key = (order_in_class + rng.random(len(y))) / counts[codes[perm]]
    return perm[np.argsort(key, kind="stable")]
