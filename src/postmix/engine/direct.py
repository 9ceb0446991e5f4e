"""Shard work for plain rows without records: parsed row → spill line in one pass.

For a source whose lane has a fast converter, `messages` output and a prompt
key (`Lane.direct`), this loop replaces shard work's row → record → batch →
chain path. A row in the common shape of its layout (`formats/fast.py`) gives
its messages; their walk (characters, empty turns, roles), serialization, id,
key and output line are computed at once, with no record dict, no generator
per row and no per-row ledger call. Everything else takes the lane's own
per-record path, in place, so records keep their order:

- a row the fast converter leaves alone (other shapes, invalid lines) goes
  through the format's converter, then `Lane.one`;
- a plain row that a check would drop is assembled into its record and the
  step itself decides (`Lane.keeps`), as on the general path.

Drops and survivors are handed over every BATCH converted records, exactly
where `shard.run` flushes its batches, so removed.jsonl, examples.jsonl and
the spill files are the same bytes (`tests/engine/test_fast.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import orjson

from postmix import sources
from postmix.collect import rare_collections
from postmix.engine.contracts import SHARD_BITS, ShardTask
from postmix.engine.fast import LINE, Lane, Shape, plain_id, prompt_key
from postmix.engine.ledger import Ledger
from postmix.engine.survivors import Dropped, Survivors, emit
from postmix.formats.fast import Plain, as_record
from postmix.report.stats import ReasoningTally
from postmix.schema import InvalidRow

Block = list[tuple[int, Any]]


def blocks(task: ShardTask) -> Iterator[tuple[int, Block]]:
    """(shard number, rows) of the task a block at a time, up to the task's row limit."""
    left = task.limit
    for number, shard in enumerate(task.shards):
        for block in sources.read_blocks(shard):
            if left is not None:
                if left <= 0:
                    return
                block = block[:left]
                left -= len(block)
            yield number, block


class Direct:
    """One shard task's state on the direct path (see the module doc)."""

    def __init__(
        self,
        lane: Lane,
        ledger: Ledger,
        spill: IO[bytes],
        cols: dict[str, list[Any]],
        reasoning: ReasoningTally,
        batch: int,
    ) -> None:
        self.lane, self.ledger, self.spill, self.cols = lane, ledger, spill, cols
        self.reasoning = reasoning
        self.batch = batch
        self.count = 0  # converted records in the current batch
        self.counted = 0  # survivors of the batch whose reasoning `Lane.one` already counted
        self.dropped: Dropped = [[] for _ in lane.chain.steps]
        self.out = Survivors()
        lows = [c.lo for c in lane.checks if c.lo is not None]
        highs = [c.hi for c in lane.checks if c.hi is not None]
        self.lo = max(lows, default=0)
        self.hi = min(highs, default=None)
        self.structure = any(c.structure for c in lane.checks)

    def run(self, task: ShardTask) -> None:
        """Every row of the task: counted, then spilled, dropped, skipped or quarantined."""
        lane, tally, out = self.lane, self.ledger.tally, self.out
        fast = lane.fast
        assert fast is not None
        dumps, shape_of, shapes = orjson.dumps, lane.shape, lane.shapes
        source = orjson.dumps(lane.source)
        lo, hi, structure, keyed = self.lo, self.hi, self.structure, lane.key_mode is not None
        batch = self.batch
        lines, keys, shards, rows, chars, metas = (
            out.lines.append,
            out.keys.append,
            out.shard.append,
            out.row.append,
            out.chars.append,
            out.metas.append,
        )
        with rare_collections():
            for number, block in blocks(task):
                tally.rows += len(block)
                tally.read += len(block)  # less the rows `_convert` counts itself
                for row, value in block:
                    plain = fast(value)
                    if plain is None:
                        tally.read -= 1
                        self._convert(number, row, value)
                        continue
                    msgs, meta = plain
                    n = 0
                    empty = False
                    roles = []
                    for m in msgs:
                        content = m["content"]
                        n += len(content)
                        if not content or content.isspace():
                            empty = True
                        roles.append(m["role"])
                    shape = shapes.get(tuple(roles)) or shape_of(tuple(roles))
                    mb = dumps(msgs)
                    rid = plain_id(mb)
                    if (
                        (structure and (empty or shape.problem is not None))
                        or n < lo
                        or (hi is not None and n > hi)
                        or not shape.writable
                    ) and not self._keeps(plain, rid, (number, row), n, empty, shape):
                        self.count += 1
                        if self.count == batch:
                            self._hand_over()
                        continue
                    lines(LINE % (mb, rid.encode(), source))
                    keys(prompt_key(msgs, shape.prompt) if keyed else 0)
                    shards(number)
                    rows(row)
                    chars(n)
                    if meta:
                        metas(meta)
                    self.count += 1  # `_counted`, inline
                    if self.count == batch:
                        self._hand_over()
        self._hand_over()

    def _counted(self) -> None:
        """One more converted record in the batch; a full batch is handed over."""
        self.count += 1
        if self.count == self.batch:
            self._hand_over()

    def _hand_over(self) -> None:
        """The batch's drops (chain order) and survivors to the ledger and the spill file."""
        emit(self.ledger, self.dropped)
        self.reasoning.records += len(self.out.lines) - self.counted  # plain: no reasoning
        self.out.spill(self.ledger, self.spill, self.cols)
        self.count = self.counted = 0

    def _keeps(
        self, plain: Plain, rid: str, at: tuple[int, int], n: int, empty: bool, shape: Shape
    ) -> bool:
        """A plain row a check would drop: its record, and the steps' verdicts on it."""
        rec = self._record(plain, at[1])
        rec["id"] = rid
        misshaped = empty or shape.problem is not None
        return self.lane.keeps(rec, at, n, misshaped, shape.writable, self.dropped)

    def _record(self, plain: Plain, row: int) -> dict[str, Any]:
        rec = as_record(plain)
        rec["source"] = self.lane.source
        rec["meta"]["row"] = row
        return rec

    def _convert(self, number: int, row: int, value: Any) -> None:
        """A row outside the common shape: quarantined, or through the format's converter and
        the lane's per-record path (`Lane.one`)."""
        ledger = self.ledger
        if isinstance(value, InvalidRow):
            ledger.tally.read += 1
            ledger.invalid(number, row, value)
            return
        lane = self.lane
        rows = (((number << SHARD_BITS) | row, value),)
        for pos, outcome in lane.chain.converter.stream(rows, lane.chain.ctx):
            shard, at, rec = ledger.converted(pos, outcome)
            if rec is None:
                continue
            rec["source"] = lane.source
            rec["meta"]["row"] = at
            before = len(self.out.lines)
            lane.one(rec, (shard, at), self.dropped, self.out, self.reasoning)
            self.counted += len(self.out.lines) - before
            self._counted()
