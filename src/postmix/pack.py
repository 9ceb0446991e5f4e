"""Best-fit-decreasing packing of tokenized records into padding-free rows.

`pack` makes the same bins as TRL's `pack_dataset(strategy="bfd")` on the same
lengths (a test checks it), but over the whole set at once: TRL packs inside
each `datasets.map` batch (1000 rows by default), which leaves a partly empty
bin per batch. Packed rows carry `position_ids` restarting at 0 at every
record and per-record `seq_lengths`, so flash-attention varlen kernels (and
transformers' sdpa/eager path, which derives a block-diagonal mask from
position ids) never let one record attend to another.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from postmix.tokenize import IGNORE, TokenizedRecord


def pack(lengths: Sequence[int] | np.ndarray, max_length: int) -> list[np.ndarray]:
    """Bins of record indices: longest first, each into the fullest bin it fits (ties: oldest)."""
    sizes = np.asarray(lengths, dtype=np.int64)
    if len(sizes) and (sizes.max() > max_length or sizes.min() < 1):
        raise ValueError(f"every length must be in 1..{max_length} (truncate or drop first)")
    order = np.argsort(-sizes, kind="stable")
    spaces: list[int] = []  # distinct free space of open bins, ascending
    waiting: dict[int, deque[int]] = {}  # free space -> bins with exactly that space, oldest first
    bins: list[list[int]] = []
    for idx, n in zip(order.tolist(), sizes[order].tolist()):
        i = bisect_left(spaces, n)
        if i < len(spaces):
            space = spaces[i]
            queue = waiting[space]
            b = queue.popleft()
            if not queue:
                del spaces[i], waiting[space]
        else:
            space, b = max_length, len(bins)
            bins.append([])
        bins[b].append(idx)
        left = space - n
        if left:
            if left not in waiting:
                insort(spaces, left)
                waiting[left] = deque()
            waiting[left].append(b)
    return [np.array(b, dtype=np.int64) for b in bins]


def pack_stats(lengths: np.ndarray, bins: list[np.ndarray], max_length: int) -> dict[str, Any]:
    """Packing efficiency (non-pad share of rows * max_length), bins, records per bin."""
    per_bin = np.fromiter(map(len, bins), dtype=np.int64, count=len(bins))
    tokens = int(np.asarray(lengths, dtype=np.int64).sum())
    return {
        "max_length": max_length,
        "rows": len(bins),
        "records": int(per_bin.sum()),
        "tokens": tokens,
        "efficiency": round(tokens / (len(bins) * max_length), 4) if bins else 0.0,
        "records_per_row": {
            "mean": round(float(per_bin.mean()), 2) if bins else 0.0,
            "max": int(per_bin.max()) if bins else 0,
        },
    }


@dataclass
class PackedRows:
    """Packed rows laid flat: row r is `input_ids[row_offsets[r]:row_offsets[r + 1]]`.

    `seq_lengths[seq_offsets[r]:seq_offsets[r + 1]]` are the lengths of the
    records in row r and `record_ids[r]` their ids, in order. The first token of
    each record has no label: it would be predicted from the previous record.
    """

    input_ids: np.ndarray
    labels: np.ndarray
    position_ids: np.ndarray
    row_offsets: np.ndarray
    seq_lengths: np.ndarray
    seq_offsets: np.ndarray
    record_ids: list[list[Any]]
    stats: dict[str, Any]

    def __len__(self) -> int:
        return len(self.record_ids)

    def row(self, r: int) -> dict[str, Any]:
        a, b = self.row_offsets[r], self.row_offsets[r + 1]
        return {
            "input_ids": self.input_ids[a:b],
            "labels": self.labels[a:b],
            "position_ids": self.position_ids[a:b],
            "seq_lengths": self.seq_lengths[self.seq_offsets[r] : self.seq_offsets[r + 1]],
            "ids": self.record_ids[r],
        }


def pack_records(records: Sequence[TokenizedRecord], max_length: int) -> PackedRows:
    """Pack sft/text records (input_ids + labels) into rows of at most `max_length` tokens."""
    if any(r.labels is None for r in records):
        raise ValueError("only records with labels (sft, text) can be packed")
    lengths = np.fromiter((len(r.input_ids) for r in records), dtype=np.int64, count=len(records))
    bins = pack(lengths, max_length)
    order = np.concatenate(bins) if bins else np.zeros(0, dtype=np.int64)
    seq_lengths = lengths[order]
    starts = np.concatenate(([0], np.cumsum(seq_lengths)))
    seq_offsets = np.concatenate(([0], np.cumsum([len(b) for b in bins], dtype=np.int64)))
    empty = np.zeros(0, dtype=np.int32)
    labels = np.concatenate([empty] + [records[i].labels for i in order])
    labels[starts[:-1]] = IGNORE
    return PackedRows(
        input_ids=np.concatenate([empty] + [records[i].input_ids for i in order]),
        labels=labels,
        position_ids=(np.arange(starts[-1]) - np.repeat(starts[:-1], seq_lengths)).astype(np.int32),
        row_offsets=starts[seq_offsets],
        seq_lengths=seq_lengths,
        seq_offsets=seq_offsets,
        record_ids=[[records[i].id for i in b.tolist()] for b in bins],
        stats=pack_stats(lengths, bins, max_length),
    )
