"""What a batch of shard work keeps and drops, in the order the ledger and spill file see it.

Both lanes of shard work (`engine/fast.py`, `engine/direct.py`) collect a
batch's survivors (spill lines and per-record columns, in record order) and
its drops (per chain step), and hand them over when the batch is complete, as
the general path does (`chain.run_chain`): removed.jsonl and the spill files
are the same bytes whichever path a record took.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Any

from postmix.engine.ledger import Ledger
from postmix.steps import Drop
from postmix.writers.glue import mentions

Where = tuple[int, int]  # (shard number within the task, row within its file)
Dropped = list[list[tuple[dict[str, Any], Where, Drop]]]  # per chain step: record, where, verdict


@dataclass
class Survivors:
    """Spill lines and columns of the records a batch keeps, in record order."""

    lines: list[bytes] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)
    shard: list[int] = field(default_factory=list)
    row: list[int] = field(default_factory=list)
    chars: list[int] = field(default_factory=list)
    metas: list[dict[str, Any]] = field(default_factory=list)  # the non-empty ones (categories)
    flagged: list[int] = field(default_factory=list)  # lines that can hold an optional key

    def add(self, line: bytes, key: int, at: Where, n: int, meta: dict[str, Any]) -> None:
        if mentions(line):
            self.flagged.append(len(self.lines))
        self.lines.append(line)
        self.keys.append(key)
        self.shard.append(at[0])
        self.row.append(at[1])
        self.chars.append(n)
        if meta:
            self.metas.append(meta)

    def spill(self, ledger: Ledger, spill: IO[bytes], cols: dict[str, list[Any]]) -> None:
        """Write the lines, hand over the columns and count them kept; then start empty."""
        if not self.lines:
            return
        ledger.spilled(len(self.lines), self.metas)
        cols["mention"].extend(len(cols["length"]) + i for i in self.flagged)
        spill.write(b"".join(self.lines))
        cols["length"].extend(map(len, self.lines))
        cols["cost"].extend([1] * len(self.lines))
        for name in ("keys", "shard", "row", "chars"):
            cols[name].extend(getattr(self, name))
        for column in (self.lines, self.keys, self.shard, self.row, self.chars):
            column.clear()
        self.metas.clear()
        self.flagged.clear()


def emit(ledger: Ledger, dropped: Dropped) -> None:
    """A batch's drops to the ledger in the chain's order: step by step, records in order."""
    for per_step in dropped:
        for rec, (shard, row), verdict in per_step:
            ledger.drop(rec, shard, row, verdict)
        per_step.clear()
