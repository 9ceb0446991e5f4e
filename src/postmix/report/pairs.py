"""Pair diagnostics per source: what a preference mix is made of, before anyone trains on it.

Ties and identical pairs carry no preference; conflicting judgments push both
ways; a mix whose chosen side is nearly always the longer one teaches length;
close scores are weak signal. `pair_diagnostics` summarizes these per source
from compact columns (`filters.pairs.pair_columns` of the kept records), the
judgment counts (`dedup.judgments.Resolution.counts`) and the drop tallies,
for the manifest and the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

JUDGMENTS = ("duplicate_judgment", "conflicting_judgments", "conflicts_resolved")
IDENTICAL = frozenset({"identical_pair", "identical_after_truncation"})


def _spread(values: np.ndarray) -> dict[str, float] | None:
    if not len(values):
        return None
    return {
        "median": float(np.median(values)),
        "p90": float(np.quantile(values, 0.9)),
        "max": float(values.max()),
    }


def _margins(margin: np.ndarray) -> dict[str, Any] | None:
    margin = margin[~np.isnan(margin)]
    if not len(margin):
        return None
    return {
        "scored": len(margin),
        "mean": float(margin.mean()),
        "median": float(np.median(margin)),
        "min": float(margin.min()),
        "max": float(margin.max()),
        "zero": int((margin == 0).sum()),
        "negative": int((margin < 0).sum()),
    }


def _one_source(
    cols: Mapping[str, np.ndarray],
    rows: np.ndarray,
    judged: Mapping[str, int],
    dropped: Mapping[str, int],
) -> dict[str, Any]:
    chosen, rejected = cols["chosen_chars"][rows], cols["rejected_chars"][rows]
    ratio = np.maximum(chosen, rejected) / np.maximum(np.minimum(chosen, rejected), 1)
    identical_dropped = sum(n for r, n in dropped.items() if r.rsplit(":", 1)[-1] in IDENTICAL)
    return {
        "pairs": len(rows),
        "ties": int(dropped.get("tie", 0)),
        **{k: int(judged.get(k, 0)) for k in JUDGMENTS},
        "identical_pairs": int(cols["identical"][rows].sum()) + identical_dropped,
        "chosen_longer_share": float((chosen > rejected).mean()) if len(rows) else None,
        "length_ratio": _spread(ratio),
        "score_margin": _margins(cols["score_chosen"][rows] - cols["score_rejected"][rows]),
    }


def pair_diagnostics(
    columns: Mapping[str, np.ndarray],
    source: np.ndarray,
    names: Sequence[str],
    judgments: Mapping[str, Mapping[str, int]] | None = None,
    dropped: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per source name: pairs kept, ties dropped, judgment counts, identical pairs (kept
    after normalization + dropped), chosen-longer share, side length ratio (median, p90,
    max) and score margins where scores exist. `source` indexes `names` per record;
    sources without pairs, judgments or pair drops are left out."""
    judgments, dropped = judgments or {}, dropped or {}
    is_pair = np.asarray(columns["chosen_chars"]) >= 0
    out: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(names):
        rows = np.flatnonzero(is_pair & (np.asarray(source) == index))
        drops = dropped.get(name, {})
        pair_drops = "tie" in drops or any(r.rsplit(":", 1)[-1] in IDENTICAL for r in drops)
        if len(rows) or name in judgments or pair_drops:
            out[name] = _one_source(columns, rows, judgments.get(name, {}), drops)
    return out
