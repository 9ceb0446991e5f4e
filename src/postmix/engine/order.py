"""The shuffled order of the outputs, decided where each record is made.

A shuffled split lists its records by a 64-bit key: splitmix64 of the record's
task base (`base`: the recipe seed, source and task) plus its position among
the task's survivors. The worker knows the keys of its own records, so it
writes its spill file already in key order (`Spill`); the driver sorts the
chosen records by the same keys (`record_keys`), so each spill file is read in
ascending offsets, and a chunk of output takes one contiguous segment of each
file (`spill_copy`) instead of one read per line. splitmix64 is a bijection of
64-bit integers that mixes every input bit into every output bit, so the order
is a seeded pseudo-random permutation, the same on every executor and process
count. Unshuffled outputs (`output.shuffle: false`) keep the record order.
"""

from __future__ import annotations

import os

import numpy as np
import xxhash

IOV = 1024  # buffers per writev (IOV_MAX on Linux)
_GOLDEN, _M1, _M2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def base(seed: int, source: int, task: int) -> int:
    """A task's key base: the recipe seed, the source's index and the task's order, hashed."""
    return xxhash.xxh3_64_intdigest(f"{seed}/{source}/{task}".encode())


def keys(start: int | np.ndarray, positions: np.ndarray) -> np.ndarray:
    """splitmix64(start + position) for each position (uint64, wrapping arithmetic); `start`
    is one task's base or one per position."""
    with np.errstate(over="ignore"):
        x = positions.astype(np.uint64) + np.asarray(start, np.uint64) + np.uint64(_GOLDEN)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(_M1)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(_M2)
        return x ^ (x >> np.uint64(31))


def by_key(key: np.ndarray) -> np.ndarray:
    """Positions in ascending key order (ties, vanishingly rare, in position order)."""
    return np.argsort(key, kind="stable")


class Spill:
    """A task's spill file, written when the task ends: its survivors' lines in key order
    (`start` is the task's `base`), or in record order when `start` is None.

    Lines are held in one buffer until then: a task is a few MB of input
    (`plan.SHARD_BYTES`), so a worker holds at most about that much more.
    """

    def __init__(self, path: str, start: int | None) -> None:
        self.path, self.start = path, start
        self.buf = bytearray()

    def write(self, data: bytes) -> None:
        self.buf += data

    def close(self, lengths: np.ndarray) -> np.ndarray:
        """Write the file; the offset of each record's line in it (records in their order)."""
        n = len(lengths)
        ends = np.cumsum(lengths, dtype=np.int64)
        starts = ends - lengths
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if self.start is None or n < 2:
                _write_all(fd, [memoryview(self.buf)])
                return starts
            perm = by_key(keys(self.start, np.arange(n)))
            view = memoryview(self.buf)
            lo, hi = starts[perm].tolist(), ends[perm].tolist()
            for i in range(0, n, IOV):
                _write_all(fd, [view[a:b] for a, b in zip(lo[i : i + IOV], hi[i : i + IOV])])
            offsets = np.empty(n, np.int64)
            placed = lengths[perm].astype(np.int64)
            offsets[perm] = np.cumsum(placed) - placed
            return offsets
        finally:
            os.close(fd)
            self.buf = bytearray()


def _write_all(fd: int, views: list[memoryview]) -> None:
    """`os.writev` until every byte of `views` is written (a write may stop short)."""
    while views:
        done = os.writev(fd, views)
        while views and done >= len(views[0]):
            done -= len(views[0])
            views.pop(0)
        if views and done:
            views[0] = views[0][done:]


def record_keys(
    starts: np.ndarray, first: np.ndarray, file: np.ndarray, g: np.ndarray
) -> np.ndarray:
    """Keys of records `g` of the index: `file` their spill files, `first[f]` the index
    position of file f's first record, `starts[f]` its task's `base`."""
    return keys(starts[file], g - first[file])
