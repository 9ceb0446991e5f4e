"""What crosses a process (or a Ray node): plain, picklable values only.

A `ShardTask` carries everything a worker needs (the source's plan, its
shards, where to spill); a `ShardResult` carries back the tallies and the
compact per-record columns the driver's global decisions work on. Nothing a
worker uses is inherited through fork(), so any start method and any
executor give the same result.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from postmix import sources
from postmix.decontam import DecontamConfig
from postmix.dedup.config import NearConfig
from postmix.report.stats import ReasoningTally

SHARD_BITS = 40  # positions handed to converters: shard number << 40 | row within the file


def split_pos(pos: int) -> tuple[int, int]:
    """(shard number within the task, row within its file) of a converter position."""
    return pos >> SHARD_BITS, pos & ((1 << SHARD_BITS) - 1)


@dataclass(frozen=True)
class TokenizeSpec:
    """How shard work renders and tokenizes records (templates, labels, length policy)."""

    formats: tuple[str, ...]
    special_tokens: str
    train_on: str
    max_length: int | None
    over_length: str
    write: bool  # the output holds token ids (else tokens only measure budgets)
    reasoning: str = "all"  # which replies keep their reasoning when rendered
    train_reasoning: bool = True
    strict: bool = False  # what the tokenizer's round trip loses is an error


@dataclass(frozen=True)
class SourcePlan:
    """Everything a worker needs to process one source."""

    index: int
    name: str
    converter: str
    kind: str
    options: dict[str, Any]
    filters: list[Any]
    transforms: list[Any]
    dedup_key: str | None  # `dedup.keys.exact_key` mode, None when exact dedup is off
    schema: str
    seed: int
    tokenizer: str | None
    count_tokens: bool
    near: NearConfig | None = None
    tokenize: TokenizeSpec | None = None
    decontaminate: DecontamConfig | None = None


@dataclass(frozen=True)
class ShardTask:
    plan: SourcePlan
    shards: tuple[sources.Shard, ...]
    order: int  # position of this task among the source's tasks
    spill_dir: str
    limit: int | None = None


def _counter() -> Counter[str]:
    return Counter()


@dataclass
class Tally:
    """Counts of one shard, or of a source once its shards are merged (`+`)."""

    rows: int = 0  # upstream rows
    read: int = 0  # records conversion produced (the `read` of the identity)
    invalid: int = 0
    spilled: int = 0  # records that left the shard's chain alive
    dropped: Counter[str] = field(default_factory=_counter)
    contaminated: Counter[str] = field(default_factory=_counter)
    categories: Counter[str] = field(default_factory=_counter)
    langs: Counter[str] = field(default_factory=_counter)
    notes: Counter[str] = field(default_factory=_counter)  # facts about kept records

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            rows=self.rows + other.rows,
            read=self.read + other.read,
            invalid=self.invalid + other.invalid,
            spilled=self.spilled + other.spilled,
            dropped=self.dropped + other.dropped,
            contaminated=self.contaminated + other.contaminated,
            categories=self.categories + other.categories,
            langs=self.langs + other.langs,
            notes=self.notes + other.notes,
        )


@dataclass
class ShardResult:
    """What a worker hands back: its tally, compact arrays and the paths of its side files."""

    source: int
    order: int
    labels: list[str]  # the task's input files (or hub splits), by shard number
    formats: list[str]  # their file formats
    tally: Tally = field(default_factory=Tally)
    keys: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    row: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    shard: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    offset: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    length: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    cost: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    chars: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    group: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))  # judgments
    direction: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))
    # records (positions in this result) whose line can hold an optional key (`glue.mentions`)
    mention: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    pairs: dict[str, np.ndarray] = field(default_factory=dict)  # pair columns (preference)
    reasoning: ReasoningTally = field(default_factory=ReasoningTally)
    bands: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.uint64))
    ntok: list[list[int]] = field(default_factory=list)  # tokens per variant, when tokenizing
    spill: str = ""
    removed: str = ""
    sigs: str = ""
    quarantine: list[bytes] = field(default_factory=list)
    examples: list[bytes] = field(default_factory=list)  # a few dropped records per bucket

    def release(self) -> None:
        """Drop the per-record arrays once the driver has copied them into its index."""
        empty = np.empty(0, np.int64)
        self.keys = self.row = self.shard = self.offset = self.length = self.cost = empty
        self.group = self.direction = self.mention = empty
        self.bands = np.empty((0, 0), np.uint64)
        self.ntok = []
