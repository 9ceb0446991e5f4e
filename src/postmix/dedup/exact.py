"""Exact dedup over 64-bit content keys, first occurrence wins.

The caller orders records by source priority (higher first), then recipe
order, then position, so "first" is exactly the tie rule of the recipe.
Works on the key array alone: O(n log n) with numpy, no record in memory.
"""

from __future__ import annotations

import numpy as np


def repeats(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions holding a key seen at an earlier position, that key's first position).

    A stable argsort puts equal keys together in position order, so each run's
    first entry is the first occurrence: at its peak this holds the order and
    the sorted keys (16 bytes a key), where `np.unique(return_inverse=True)`
    held about 50.
    """
    order = np.argsort(keys, kind="stable")
    ranked = keys[order]
    again = np.flatnonzero(ranked[1:] == ranked[:-1]) + 1
    first = order[np.searchsorted(ranked, ranked[again])]
    return order[again], first
