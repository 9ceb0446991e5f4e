"""The driver's compact view of every surviving record, and random access to its spill line.

The workers' columns are narrowed as each shard's result arrives (`compact`),
then joined into parallel arrays in dedup order (source priority, recipe
order, position), one field at a time; records themselves stay in the spill
files. Per record the index holds ~27 bytes: record ids are not kept (16
bytes each), since only the few records the second stage removes need one,
and those are read back from their spill lines (`record_ids`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import orjson

from postmix.engine.contracts import ShardResult
from postmix.engine.ledger import LedgerError
from postmix.writers import tokenized as tokenized_out

CHUNK = 4096  # spill lines read (and held) at a time by the final write
COLUMNS = ("row", "shard", "offset", "length", "cost")  # one entry per record each
NARROW = (np.int8, np.int16, np.int32)  # signed: differences and sums never wrap


@dataclass
class Index:
    """All surviving records of all sources as parallel arrays, in dedup order.

    Integer columns have the narrowest signed dtype their values fit in.
    """

    source: np.ndarray
    row: np.ndarray  # row within its input file
    label: np.ndarray  # index into `labels`: the input file (or hub split) of the record
    file: np.ndarray  # spill file number
    offset: np.ndarray
    length: np.ndarray
    keys: np.ndarray
    cost: np.ndarray
    spills: list[str]
    labels: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)  # file format of each label
    sigs: list[str] = field(default_factory=list)
    bands: np.ndarray | None = None
    group: np.ndarray | None = None  # judgment group and direction, when there are pairs
    direction: np.ndarray | None = None
    pairs: dict[str, np.ndarray] | None = None  # pair columns (filters.pairs.pair_columns)
    ntok: np.ndarray | None = None  # (records, formats) tokens, when tokenizing
    binary: bool = False  # spill entries are tokenized binary entries, not JSON lines
    # records whose line can hold an optional key (`glue.mentions`): the glue parses only those
    mention: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def where(self, g: int) -> tuple[str, str, int]:
        """(file label, file format, row) of record `g`."""
        at = int(self.label[g])
        return self.labels[at], self.formats[at], int(self.row[g])

    def drop_keys(self) -> None:
        """Free the exact-dedup keys once duplicates are decided, their only use
        (8 bytes a record less through the mix and the writes)."""
        self.keys = np.empty(0, dtype=np.uint64)


def narrow(values: np.ndarray) -> np.ndarray:
    """`values` in the narrowest signed integer dtype that holds them (itself if none is
    narrower): rows and offsets fit 32 bits in all but huge files, costs of 1 fit 8."""
    if not len(values) or values.dtype.kind not in "iu":
        return values
    low, high = int(values.min()), int(values.max())
    for dtype in NARROW:
        if np.dtype(dtype).itemsize >= values.dtype.itemsize:
            break
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return values.astype(dtype)
    return values


def _fitting(high: int) -> type[np.signedinteger]:
    """The narrowest signed dtype holding 0..high."""
    return next((d for d in NARROW if high <= np.iinfo(d).max), np.int64)


def compact(res: ShardResult) -> None:
    """Narrow a shard's columns as it reaches the driver.

    The driver holds every finished shard's columns while the others run, so
    this halves its bytes per record at the moment the workers are alive too.
    """
    for name in (*COLUMNS, "chars"):
        setattr(res, name, narrow(getattr(res, name)))


def trim_heap() -> None:
    """Give freed heap memory back to the OS (glibc keeps it otherwise).

    The workers' per-shard arrays arrive by unpickling as many ~100 KB blocks
    on the heap; once they are joined into the index and freed, glibc would
    keep those pages, and the peak would count them twice.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def build(results: list[list[ShardResult]], order: list[int]) -> Index:
    """Concatenate the workers' arrays in dedup order (`order`: source indices by priority;
    `results[s]`: source s's shard results sorted by task order)."""
    names = ("source", "row", "label", "file", "offset", "length", "keys", "cost")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in names}
    spills: list[str] = []
    mention: list[np.ndarray] = []
    total = 0  # records joined so far
    labels: list[str] = []
    fmts: list[str] = []
    sigs: list[str] = []
    bands: list[np.ndarray] = []
    ntok: list[list[int]] = []
    judged = any(len(r.direction) for per_source in results for r in per_source)
    group: list[np.ndarray] = []
    direction: list[np.ndarray] = []
    pairs: list[dict[str, np.ndarray]] = []
    source_t = _fitting(len(results))
    file_t = _fitting(sum(map(len, results)))
    label_t = _fitting(sum(len(r.labels) for per_source in results for r in per_source))
    for si in order:
        for res in results[si]:
            n = len(res.keys)
            sizes = {len(getattr(res, k)) for k in COLUMNS}
            if sizes != {n}:
                raise LedgerError(
                    f"shard {res.order} of source {si} returned columns of lengths {sorted(sizes)} "
                    f"for {n} records: its spill lines cannot be located"
                )
            if judged:
                filled = len(res.direction) == n
                group.append(res.group if filled else np.zeros(n, np.uint64))
                direction.append(res.direction if filled else np.zeros(n, np.int8))
                pairs.append(res.pairs or _no_pairs(n))
            parts["source"].append(np.full(n, si, dtype=source_t))
            parts["label"].append(res.shard.astype(label_t) + len(labels))
            parts["file"].append(np.full(n, len(spills), dtype=file_t))
            for name in ("row", "offset", "length", "keys", "cost"):
                parts[name].append(getattr(res, name))
            spills.append(res.spill)
            mention.append(res.mention + total)
            total += n
            labels.extend(res.labels)
            fmts.extend(res.formats)
            sigs.append(res.sigs)
            bands.append(res.bands)
            ntok.extend(res.ntok)
            res.release()
    # One field at a time, dropping its parts as it goes: with the workers' arrays
    # released, each field exists once in memory (plus the one being joined).
    cat: dict[str, np.ndarray] = {}
    for name in names:
        chunks = parts.pop(name)
        cat[name] = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
        del chunks
    near = [b for b in bands if b.size] or None
    return Index(
        group=np.concatenate(group) if judged else None,
        direction=np.concatenate(direction) if judged else None,
        pairs={k: np.concatenate([p[k] for p in pairs]) for k in pairs[0]} if judged else None,
        spills=spills,
        mention=np.concatenate(mention) if mention else np.empty(0, np.int64),
        labels=labels,
        formats=fmts,
        sigs=sigs,
        bands=np.concatenate(near) if near else None,
        ntok=np.asarray(ntok, dtype=np.int64) if ntok else None,
        **cat,
    )


def _no_pairs(n: int) -> dict[str, np.ndarray]:
    """Pair columns of records that are not pairs (see `filters.pairs.pair_columns`)."""
    minus = np.full(n, -1, np.int32)
    nan = np.full(n, np.nan)
    return {
        "chosen_chars": minus,
        "rejected_chars": minus,
        "identical": np.zeros(n, np.bool_),
        "score_chosen": nan,
        "score_rejected": nan,
    }


def record_ids(idx: Index, records: np.ndarray) -> dict[int, str]:
    """The id of each of `records`, read from its spill line (every output row keeps `id`)
    one line at a time: only the ids are held."""
    wanted = np.unique(records)
    decode = tokenized_out.as_row if idx.binary else orjson.loads
    ids = {}
    with SpillReader(idx.spills) as reader:
        fds = [reader.fds[f] for f in idx.file[wanted].tolist()]
        places = zip(fds, idx.length[wanted].tolist(), idx.offset[wanted].tolist())
        for g, (fd, n, off) in zip(wanted.tolist(), places):
            ids[g] = decode(os.pread(fd, n, off))["id"]
    return ids


class SpillReader:
    """Random access to spill lines by (file, offset, length) with pread: no mmap, so the
    file pages read never count as this process's memory."""

    def __init__(self, paths: list[str]) -> None:
        self.fds = [os.open(p, os.O_RDONLY) for p in paths]

    def lines(self, idx: Index, order: np.ndarray) -> Iterator[list[bytes]]:
        pread = os.pread
        for start in range(0, len(order), CHUNK):
            sel = order[start : start + CHUNK]
            fds = [self.fds[f] for f in idx.file[sel].tolist()]
            yield [
                pread(fd, n, off)
                for fd, n, off in zip(fds, idx.length[sel].tolist(), idx.offset[sel].tolist())
            ]

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)

    def __enter__(self) -> SpillReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
