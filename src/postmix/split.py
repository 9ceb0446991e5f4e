"""Validation split drawn from unique records before any upsampling.

Holding out unique records first and upsampling only what is left is what
keeps every copy of a validation record out of train.
"""

from __future__ import annotations

import numpy as np


def holdout(
    unique: np.ndarray, ratio: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(validation, remaining) from an array of unique record indices, seeded."""
    n_val = round(ratio * len(unique))
    order = rng.permutation(len(unique))
    return unique[np.sort(order[:n_val])], unique[np.sort(order[n_val:])]
