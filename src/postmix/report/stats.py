"""Per-source distributions measured on the written outputs, in one bounded pass.

Outputs can hold millions of rows, so the pass reads every `stride`-th row
(at most about `SAMPLE_ROWS` in all) and keeps only small integer lists per
source; rows that are not sampled are never parsed.

`ReasoningTally` summarizes reasoning per source from canonical records
instead (every kept record, in constant memory, mergeable across shards).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from postmix.formats.reasoning import reasoning_length, reasoning_share, reasoning_texts
from postmix.report import rows, tokens

SAMPLE_ROWS = 200_000
KEEP_ROWS = 3  # rows kept per source to show when examples.jsonl is absent


@dataclass
class Distribution:
    """What the report plots for one source, from its sampled output rows."""

    rows: int = 0
    chars: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    trainable: list[int] = field(default_factory=list)
    user_turns: Counter[int] = field(default_factory=Counter)
    chosen: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)

    def add(self, row: rows.Row) -> None:
        self.rows += 1
        counts = rows.token_counts(row)
        if counts is not None:
            self.tokens.append(counts[0])
            self.trainable.append(counts[1])
            return
        ts = rows.turns(row)
        self.chars.append(rows.chars(ts))
        if any(t.role == "user" for t in ts):
            self.user_turns[rows.user_turns(ts)] += 1
        pair = rows.pair_chars(ts)
        if pair is not None:
            self.chosen.append(pair[0])
            self.rejected.append(pair[1])


@dataclass
class Sample:
    stride: int = 1
    rows: int = 0  # rows parsed, across all outputs
    sources: dict[str, Distribution] = field(default_factory=dict)
    first: dict[str, list[rows.Row]] = field(default_factory=dict)
    packed: list[tuple[int, int]] = field(default_factory=list)  # (tokens, records) per row


def batches(path: Path) -> Iterator[Any]:
    """Arrow record batches of a Parquet file or of a `save_to_disk` split folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.is_dir():
        for f in sorted(path.glob("*.arrow")):
            with pa.memory_map(str(f)) as source:
                yield from pa.ipc.open_stream(source)
        return
    yield from pq.ParquetFile(path).iter_batches(batch_size=4096)


def iter_rows(path: Path, stride: int = 1, start: int = 0) -> Iterator[rows.Row]:
    """Rows `start`, `start + stride`, ... of an output (JSONL, Parquet or a split folder).

    `start` is the global position of the file's first row, so one stride runs on
    across several files.
    """
    if path.is_file() and path.suffix != ".parquet":
        with open(path, "rb") as fh:
            n = start
            for line in fh:
                if not line.strip():
                    continue
                if n % stride == 0:
                    yield orjson.loads(line)
                n += 1
        return
    import pyarrow as pa

    n = start
    for batch in batches(path):
        pick = range((-n) % stride, batch.num_rows, stride)
        if len(pick):
            yield from batch.take(pa.array(pick)).to_pylist()
        n += batch.num_rows


def sample(
    out_dir: Path, manifest: dict[str, Any], limit: int = SAMPLE_ROWS, keep: int = KEEP_ROWS
) -> Sample:
    """Distributions per source over about `limit` evenly spaced output rows."""
    total = sum(int(o.get("rows") or 0) for o in manifest.get("outputs", ()))
    result = Sample(stride=max(1, math.ceil(total / limit)))
    start = 0
    for out in manifest.get("outputs", ()):
        path = out_dir / out["path"]
        for row in iter_rows(path, result.stride, start) if path.exists() else ():
            packed = tokens.packing_of(row)
            if packed is not None:
                result.packed.append(packed)
            for rec in tokens.records_of(row):  # a packed row's records one by one
                name = str(rec.get("source") or "?")
                result.sources.setdefault(name, Distribution()).add(rec)
                shown = result.first.setdefault(name, [])
                if len(shown) < keep:
                    shown.append(rec)
            result.rows += 1
        start += int(out.get("rows") or 0)
    return result


@dataclass
class ReasoningTally:
    """Reasoning of one source's records: how many think, how long, and what share of a reply.

    Lengths are characters (`formats.reasoning.reasoning_length`); quantiles
    come from power-of-two buckets, so a tally stays a few dozen integers
    however many records it has seen.
    """

    records: int = 0
    with_reasoning: int = 0  # records with some non-empty reasoning
    empty_blocks: int = 0  # records with an empty think block
    chars: int = 0
    answer_chars: int = 0
    max_chars: int = 0
    share_sum: float = 0.0
    buckets: Counter[int] = field(default_factory=Counter)

    def add(self, rec: dict[str, Any]) -> None:
        self.records += 1
        texts = reasoning_texts(rec)
        if any(not t.strip() for t in texts):
            self.empty_blocks += 1
        if not any(t.strip() for t in texts):
            return
        thought, answer = reasoning_length(rec)
        self.with_reasoning += 1
        self.chars += thought
        self.answer_chars += answer
        self.max_chars = max(self.max_chars, thought)
        self.share_sum += reasoning_share(thought, answer) or 0.0
        self.buckets[thought.bit_length()] += 1

    def merge(self, other: ReasoningTally) -> None:
        for name in ("records", "with_reasoning", "empty_blocks", "chars", "answer_chars"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.max_chars = max(self.max_chars, other.max_chars)
        self.share_sum += other.share_sum
        self.buckets.update(other.buckets)

    def quantile(self, q: float) -> int:
        """Upper bound of the power-of-two bucket holding the `q` quantile of reasoning chars."""
        rank, seen = q * self.with_reasoning, 0
        for bits in sorted(self.buckets):
            seen += self.buckets[bits]
            if seen >= rank:
                return min((1 << bits) - 1, self.max_chars)
        return self.max_chars

    def summary(self) -> dict[str, Any]:
        """The manifest/report entry: counts, mean/p50/p90/max chars, mean and pooled share."""
        n = self.with_reasoning
        pooled = reasoning_share(self.chars, self.answer_chars)
        return {
            "records": self.records,
            "with_reasoning": n,
            "empty_blocks": self.empty_blocks,
            "chars": {
                "mean": round(self.chars / n, 1) if n else 0,
                "p50_at_most": self.quantile(0.5) if n else 0,
                "p90_at_most": self.quantile(0.9) if n else 0,
                "max": self.max_chars,
            },
            "share": {
                "mean": round(self.share_sum / n, 4) if n else None,
                "pooled": None if pooled is None else round(pooled, 4),
            },
        }


def reasoning_summary(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`ReasoningTally.summary()` per `source` of canonical records."""
    tallies: dict[str, ReasoningTally] = {}
    for rec in records:
        tallies.setdefault(str(rec.get("source") or "?"), ReasoningTally()).add(rec)
    return {name: tally.summary() for name, tally in sorted(tallies.items())}
