"""What the pair filters and the pair diagnostics measure on a preference record.

Side lengths, the score margin (`meta.score_chosen - meta.score_rejected`, as
UltraFeedback and HelpSteer carry them) and how far apart the side lengths
are. `pair_columns` gives the same measures as compact per-record arrays, for
the driver's per-source diagnostics (`report.pairs.pair_diagnostics`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from postmix.dedup.keys import side_bytes
from postmix.filters.score import number
from postmix.steps import Batch

CHOSEN_FIELD, REJECTED_FIELD = "score_chosen", "score_rejected"


def is_pair(rec: dict[str, Any]) -> bool:
    return rec["kind"] == "preference"


def side_chars(rec: dict[str, Any]) -> tuple[int, int]:
    """Characters of the chosen and of the rejected side."""
    return chars(rec["chosen"]), chars(rec["rejected"])


def chars(side: list[dict[str, Any]] | None) -> int:
    return sum(len(m["content"]) for m in side or ())


def length_ratio(chosen: int, rejected: int) -> float:
    """The longer side over the shorter one (an empty side counts as one unit)."""
    return max(chosen, rejected) / max(min(chosen, rejected), 1)


def scores(
    rec: dict[str, Any], chosen_field: str = CHOSEN_FIELD, rejected_field: str = REJECTED_FIELD
) -> tuple[float, float] | None:
    """The two sides' scores from `meta`, or None when a pair lacks a numeric one."""
    if not is_pair(rec):
        return None
    chosen, rejected = (number(rec["meta"].get(f)) for f in (chosen_field, rejected_field))
    return None if chosen is None or rejected is None else (chosen, rejected)


def score_margin(
    rec: dict[str, Any], chosen_field: str = CHOSEN_FIELD, rejected_field: str = REJECTED_FIELD
) -> float | None:
    """How much higher the chosen side scored than the rejected one (None without scores)."""
    both = scores(rec, chosen_field, rejected_field)
    return None if both is None else both[0] - both[1]


def pair_columns(batch: Batch) -> dict[str, np.ndarray]:
    """Per record: side lengths (-1 for records that are not pairs), whether the sides are
    the same text once normalized as exact dedup does, and the two scores (NaN if none)."""
    chars = [side_chars(r) if is_pair(r) else (-1, -1) for r in batch]
    both = [scores(r) or (math.nan, math.nan) for r in batch]
    same = [
        is_pair(r) and side_bytes(r["chosen"] or []) == side_bytes(r["rejected"] or [])
        for r in batch
    ]
    return {
        "chosen_chars": np.array([c for c, _ in chars], dtype=np.int32),
        "rejected_chars": np.array([r for _, r in chars], dtype=np.int32),
        "identical": np.array(same, dtype=np.bool_),
        "score_chosen": np.array([c for c, _ in both], dtype=np.float64),
        "score_rejected": np.array([r for _, r in both], dtype=np.float64),
    }
