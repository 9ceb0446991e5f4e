"""Contradictory judgments resolved: one pair per prompt and unordered pair of responses.

The same battle judged by several people (arena, MT-bench) comes out as the
pair in both directions, and DPO would push both ways on the same data.
Records are grouped by their prompt and their two responses, unordered; each
votes for a direction. The majority direction wins and the first record on
its side (records come in exact-dedup order: priority, recipe order,
position) represents the group; the other records of that side are
`duplicate_judgment`, those of the losing side `conflicting_judgments`. An
even split drops the whole group as `conflicting_judgments`. Groups may span
sources: a pair one source prefers and another reverses is a conflict too.

This runs on the driver over two compact columns per record (`judgment_key`),
before exact dedup: exact dedup would otherwise remove the agreeing repeats
and turn a 2-to-1 majority into an even split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import xxhash

from postmix.dedup.keys import prompt_bytes, side_bytes

KEPT, DUPLICATE, CONFLICT = 0, 1, 2
REASONS: dict[int, str] = {DUPLICATE: "duplicate_judgment", CONFLICT: "conflicting_judgments"}
Policy = Literal["majority", "keep_all"]
_SEP = b"\x1e"


def judgment_key(rec: dict[str, Any]) -> tuple[int, int]:
    """(group, direction) of a record: direction +1 when its chosen is the group's first response.

    The first response is the smaller of the two normalized sides, so a pair and
    its reverse share a group. Records that are not pairs, and pairs whose sides
    are the same text, give (0, 0) and are never grouped.
    """
    if rec["kind"] != "preference":
        return 0, 0
    chosen, rejected = side_bytes(rec["chosen"] or []), side_bytes(rec["rejected"] or [])
    if chosen == rejected:
        return 0, 0
    first, second = sorted((chosen, rejected))
    group = xxhash.xxh3_64_intdigest(_SEP.join((prompt_bytes(rec), first, second)))
    return group, 1 if chosen == first else -1


@dataclass(frozen=True)
class Resolution:
    """Per record: `reason` (KEPT, DUPLICATE or CONFLICT) and `kept_as`, the index of the
    record kept for its group (itself when kept, -1 when the group was an even split);
    per source name: duplicate_judgment and conflicting_judgments (records) and
    conflicts_resolved (groups with votes both ways and a majority, counted at the
    source of the kept record)."""

    reason: np.ndarray
    kept_as: np.ndarray
    counts: dict[str, dict[str, int]]

    @property
    def keep(self) -> np.ndarray:
        return self.reason == KEPT

    def reason_names(self) -> list[str | None]:
        """The drop reason of every record (None when kept), for the ledger."""
        return [REASONS.get(int(r)) for r in self.reason]


def resolve_judgments(
    group: np.ndarray,
    direction: np.ndarray,
    source: np.ndarray,
    names: Sequence[str],
    policy: Policy = "majority",
) -> Resolution:
    """Resolve judgments given per-record `group` (uint64), `direction` (+1/-1, 0 for
    records that are not judgments) and `source` (index into `names`), in dedup order."""
    if policy not in ("majority", "keep_all"):
        raise ValueError(f"unknown judgments policy {policy!r}; known: majority, keep_all")
    n = len(group)
    reason = np.zeros(n, dtype=np.int8)
    kept_as = np.arange(n, dtype=np.int64)
    judged = np.flatnonzero(np.asarray(direction) != 0)
    if policy == "keep_all" or not len(judged):
        return Resolution(reason, kept_as, {})
    _, inv = np.unique(np.asarray(group)[judged], return_inverse=True)
    inv = inv.reshape(-1)
    votes = np.asarray(direction)[judged].astype(np.int64)
    ngroups = int(inv.max()) + 1
    winner = np.sign(np.bincount(inv, weights=votes, minlength=ngroups)).astype(np.int64)
    on_winner = votes == winner[inv]
    rep = np.full(ngroups, n, dtype=np.int64)
    np.minimum.at(rep, inv[on_winner], judged[on_winner])
    rep[winner == 0] = -1
    kept_as[judged] = rep[inv]
    reason[judged] = np.where(on_winner, DUPLICATE, CONFLICT)
    reason[rep[rep >= 0]] = KEPT
    for_first = np.bincount(inv, weights=votes > 0, minlength=ngroups)
    size = np.bincount(inv, minlength=ngroups)
    resolved = rep[(winner != 0) & (for_first > 0) & (for_first < size)]
    return Resolution(reason, kept_as, _counts(np.asarray(source), judged, reason, resolved, names))


def _counts(
    source: np.ndarray,
    judged: np.ndarray,
    reason: np.ndarray,
    resolved: np.ndarray,
    names: Sequence[str],
) -> dict[str, dict[str, int]]:
    width = len(names)

    def per_source(rows: np.ndarray) -> np.ndarray:
        return np.bincount(source[rows], minlength=width)

    dup = per_source(np.flatnonzero(reason == DUPLICATE))
    conflict = per_source(np.flatnonzero(reason == CONFLICT))
    fixed = per_source(resolved)
    return {
        names[s]: {
            "duplicate_judgment": int(dup[s]),
            "conflicting_judgments": int(conflict[s]),
            "conflicts_resolved": int(fixed[s]),
        }
        for s in np.unique(source[judged]).tolist()
    }
