"""Shard work: read → convert → chain → spill, for one task, in any process or node.

Survivors are written to a spill file already in the output schema (or as
tokenized entries), and the worker returns compact per-record columns (dedup
key, id, row, spill offset, cost, band keys): everything after this stage
works on those arrays, never on records, so memory does not grow with the
data. The ledger counts every record on the way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson

from postmix import sources
from postmix.dedup.judgments import judgment_key
from postmix.dedup.keys import exact_key
from postmix.dedup.near import sketch
from postmix.engine import chain as chains
from postmix.engine import fast
from postmix.engine.contracts import SHARD_BITS, ShardResult, ShardTask
from postmix.engine.direct import Direct
from postmix.engine.ledger import Ledger
from postmix.filters.pairs import pair_columns
from postmix.schema import InvalidRow, response_texts, text_length
from postmix.steps import Batch, StepEnv, count_tokens
from postmix.writers import tokenized
from postmix.writers.glue import mentions
from postmix.writers.schemas import SCHEMAS

BATCH = 1000


def _rows(task: ShardTask, ledger: Ledger) -> Iterator[tuple[int, Any]]:
    """Rows of every shard of the task; unparseable ones are quarantined here."""
    seen = 0
    for number, shard in enumerate(task.shards):
        for row, value in sources.read(shard):
            if task.limit is not None and seen >= task.limit:
                return
            seen += 1
            ledger.row_read()
            if isinstance(value, InvalidRow):
                ledger.record_read()
                ledger.invalid(number, row, value)
                continue
            yield (number << SHARD_BITS) | row, value


class _Columns:
    """Per-record columns of the survivors, accumulated batch by batch."""

    def __init__(self) -> None:
        names = ("keys", "row", "shard", "length", "cost", "chars", "group", "dir", "mention")
        self.cols: dict[str, list[Any]] = {k: [] for k in names}
        self.pairs: list[dict[str, np.ndarray]] = []
        self.bands: list[np.ndarray] = []
        self.ntok: list[list[int]] = []

    def into(self, res: ShardResult, near_width: int | None) -> None:
        cols = self.cols
        lengths = np.asarray(cols["length"], dtype=np.int64)
        res.keys = np.asarray(cols["keys"], dtype=np.uint64)
        res.row = np.asarray(cols["row"], dtype=np.int64)  # rows past 2**31 exist in big files
        res.shard = np.asarray(cols["shard"], dtype=np.int32)
        res.length = lengths.astype(np.int32)
        res.offset = (np.cumsum(lengths) - lengths).astype(np.int64)
        res.cost = np.asarray(cols["cost"], dtype=np.int32)
        res.chars = np.asarray(cols["chars"], dtype=np.int32)
        res.group = np.asarray(cols["group"], dtype=np.uint64)
        res.direction = np.asarray(cols["dir"], dtype=np.int8)
        res.mention = np.asarray(cols["mention"], dtype=np.int64)
        if self.pairs:
            res.pairs = {k: np.concatenate([p[k] for p in self.pairs]) for k in self.pairs[0]}
        res.ntok = self.ntok
        if near_width is not None:
            res.bands = (
                np.concatenate(self.bands) if self.bands else np.empty((0, near_width), np.uint64)
            )


def run(task: ShardTask) -> ShardResult:
    """Process one task (one shard, or a whole source when it must be seen at once)."""
    plan = task.plan
    chain = chains.build(plan)
    lane = fast.lane(plan, chain)  # fast path: the common chain fused (engine/fast.py), or None
    labels = [s.label for s in task.shards]
    formats = [s.fmt for s in task.shards]
    res = ShardResult(source=plan.index, order=task.order, labels=labels, formats=formats)
    os.makedirs(task.spill_dir, exist_ok=True)
    stem = os.path.join(task.spill_dir, f"{plan.index:04d}-{task.order:05d}")
    res.spill, res.removed, res.sigs = stem + ".spill", stem + ".removed", stem + ".sigs"
    to_row = SCHEMAS.get(plan.schema)
    dumps = orjson.dumps
    acc = _Columns()
    write_tokens = plan.tokenize is not None and plan.tokenize.write

    with (
        open(res.spill, "wb") as spill,
        open(res.removed, "wb") as removed,
        open(res.sigs, "wb") as sigs,
    ):
        ledger = Ledger(plan.name, labels, formats, removed)
        reasoning = res.reasoning

        def flush(batch: Batch, where: list[tuple[int, int]]) -> None:
            for rec, (_, row) in zip(batch, where):
                rec["source"] = plan.name
                rec["meta"]["row"] = row
            if lane is not None:  # fast path: same verdicts, lines and columns
                lane.flush(batch, where, ledger, spill, acc.cols, reasoning)
                return
            kept, where, columns = chains.run_chain(chain.steps, batch, where, ledger)
            if not kept:
                return
            ledger.spilled(len(kept), [r["meta"] for r in kept])
            if plan.near is not None:
                sk = sketch(kept, plan.near)
                sigs.write(sk.signatures.tobytes())
                acc.bands.append(sk.keys)
            variants = columns.get("variants")
            if variants:
                for rec, forms in zip(kept, variants):
                    lost = sorted({w for v in forms for w in v.lost})
                    if lost:
                        ledger.note(rec, "round_trip", example=False)
                    for what in lost:
                        ledger.note(rec, f"round_trip:{what}")
                    if any(v.cut_reply for v in forms):
                        ledger.note(rec, "cut_reply")
                costs = [sum(v.n_trainable for v in vs) for vs in variants]
                acc.ntok.extend([v.n_tokens for v in vs] for vs in variants)
            else:
                costs = _costs(chain.env, kept) if plan.count_tokens else [1] * len(kept)
            if write_tokens:
                lines = [tokenized.encode(r, v) for r, v in zip(kept, variants or [])]
            else:
                lines = [dumps(to_row(r), option=orjson.OPT_APPEND_NEWLINE) for r in kept]
            spill.write(b"".join(lines))
            cols = acc.cols
            if not write_tokens:
                start = len(cols["length"])
                cols["mention"].extend(start + i for i, x in enumerate(lines) if mentions(x))
            cols["length"].extend(map(len, lines))
            mode = plan.dedup_key
            cols["keys"].extend([exact_key(r, mode) for r in kept] if mode else [0] * len(kept))
            cols["shard"].extend(w[0] for w in where)
            cols["row"].extend(w[1] for w in where)
            cols["cost"].extend(costs)
            cols["chars"].extend(map(text_length, kept))
            if plan.kind == "preference":
                judged = [judgment_key(r) for r in kept]
                cols["group"].extend(g for g, _ in judged)
                cols["dir"].extend(d for _, d in judged)
                acc.pairs.append(pair_columns(kept))
            for rec in kept:
                reasoning.add(rec)

        if lane is not None and lane.direct:  # plain rows without records (engine/direct.py)
            Direct(lane, ledger, spill, acc.cols, reasoning, BATCH).run(task)
        else:
            rows = _rows(task, ledger)
            stream = chain.converter.stream(rows, chain.ctx) if lane is None else lane.stream(rows)
            batch: Batch = []
            where: list[tuple[int, int]] = []
            for pos, outcome in stream:
                shard, row, rec = ledger.converted(pos, outcome)
                if rec is not None:
                    batch.append(rec)
                    where.append((shard, row))
                    if len(batch) >= BATCH:
                        flush(batch, where)
                        batch, where = [], []
            if batch:
                flush(batch, where)
        ledger.check()

    acc.into(res, plan.near.bands[0] if plan.near is not None else None)
    res.tally = ledger.tally
    res.quarantine = ledger.quarantine
    res.examples = ledger.examples
    return res


def _costs(env: StepEnv, batch: Batch) -> list[int]:
    """Tokens a record trains on (its replies, or the whole text), for token budgets."""
    texts = [
        rec["text"] if rec["kind"] == "text" else "\n".join(response_texts(rec)) for rec in batch
    ]
    return count_tokens(env, texts)
