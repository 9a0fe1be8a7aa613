"""The one split rule of GAN Explorer's data sets: the last ceil(10 %) of the stored order is held out."""

from __future__ import annotations

import math

import numpy as np

from explorer.errors import DataError

SPLITS = ("train", "heldout", "all")
HELDOUT_FRACTION = 0.1


def split_indices(n: int, split: str) -> np.ndarray:
    """Positions (in stored order) of a split: last ceil(10 %) held out (0 when n < 2)."""
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    num_heldout = math.ceil(n * HELDOUT_FRACTION) if n >= 2 else 0
    if split == "train":
        return np.arange(0, n - num_heldout)
    if split == "heldout":
        return np.arange(n - num_heldout, n)
    return np.arange(n)
