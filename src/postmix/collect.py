"""Rarer cyclic garbage collection while a phase allocates many objects that form no cycles.

CPython looks at young container objects every 700 net allocations and
promotes the survivors; a phase that holds thousands of small objects alive at
once (records in flight, their spans, their results) makes many passes that
free nothing, and what they promote soon triggers full passes over the whole
heap, which grow with everything the program holds.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

GC_YOUNG = 10_000  # allocations between young-generation collections inside the phase


@contextmanager
def rare_collections(young: int = GC_YOUNG) -> Iterator[None]:
    """Collect young objects every `young` allocations (or the current threshold, if higher).

    The young objects left at the end are collected on the way out, so the pass
    they are due falls in the phase that made them, not in whatever runs next.
    """
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], young), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        if gc.isenabled():
            gc.collect(0)
