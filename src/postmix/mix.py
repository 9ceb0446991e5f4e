"""Mixing: relative weights → per-source targets, then seeded selection with repetition.

Targets and selections are in "cost" units: 1 per record for row targets, or a
record's trainable tokens for `metadata.total_tokens`. One selection function
serves both, so row and token budgets cannot drift apart.
"""

from __future__ import annotations

import numpy as np


def targets(
    available: list[float],
    ratios: list[float | None],
    total: float | None = None,
) -> list[float]:
    """Per-source budget.

    Without ratios every source contributes all it has. With ratios (relative
    weights), the total is `total` or else what the sources have together, split
    by weight.
    """
    if all(r is None for r in ratios):
        return list(available) if total is None else _scaled(available, total)
    weights = np.asarray([r or 0.0 for r in ratios], dtype=np.float64)
    if weights.sum() <= 0:
        raise ValueError("mix_ratio weights sum to zero")
    grand = float(sum(available)) if total is None else float(total)
    return list(grand * weights / weights.sum())


def _scaled(available: list[float], total: float) -> list[float]:
    have = float(sum(available))
    return [total * a / have if have else 0.0 for a in available]


def select(costs: np.ndarray, budget: float, rng: np.random.Generator) -> np.ndarray:
    """Indices into `costs` whose costs sum to about `budget`, seeded.

    Under the available total, a random subset (without repetition); over it,
    whole copies of everything plus a random subset for the rest — upsampling by
    repetition. Returned in selection order.
    """
    n = len(costs)
    if n == 0 or budget <= 0:
        return np.empty(0, dtype=np.int64)
    have = float(costs.sum())
    copies = int(budget // have) if have else 0
    rest = budget - copies * have
    parts = [np.arange(n, dtype=np.int64)] * copies
    order = rng.permutation(n)
    if rest > 0:
        cum = np.cumsum(costs[order])
        take = int(np.searchsorted(cum, rest, side="right"))
        # Round to the nearer boundary so a budget of k records takes exactly k.
        if take < n and (cum[take] - rest) < (rest - (cum[take - 1] if take else 0)):
            take += 1
        parts.append(order[:take])
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def cap(indices: np.ndarray, limit: int | None) -> np.ndarray:
    """Apply a source's `max_samples` to its selection."""
    return indices if limit is None else indices[:limit]
