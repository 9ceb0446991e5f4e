"""Exact dedup over 64-bit content keys, first occurrence wins.

The caller orders records by source priority (higher first), then recipe
order, then position, so "first" is exactly the tie rule of the recipe.
Works on the key array alone: O(n log n) with numpy, no record in memory.
"""

from __future__ import annotations

import numpy as np


def first_occurrence(keys: np.ndarray) -> np.ndarray:
    """For every position, the index of the first position holding the same key."""
    if len(keys) == 0:
        return np.empty(0, dtype=np.int64)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first[inverse.reshape(-1)].astype(np.int64)
