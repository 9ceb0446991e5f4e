"""A gather process: copies planned spill lines into the output file at their offsets.

`engine/gather.py` starts a few of these (`python -I spill_copy.py`) to write
one split in parallel. It imports the standard library only: it starts in a
few milliseconds and holds a chunk of lines, where a process forked from the
driver would map (and count in the tree's RSS) the driver's whole index.

Protocol: one JSON header on stdin (`spills`, `plan`, `out`, `chunks`: [first
line, end line, output byte offset] of each of this process's chunks); one
line on stdout per chunk once it is written, in order.
"""

from __future__ import annotations

import json
import os
import sys
from array import array
from collections.abc import Sequence

ROW = 3  # int64s per planned line in the plan file: spill file number, offset, length


def plan_rows(fd: int, lo: int, hi: int) -> tuple[Sequence[int], Sequence[int], Sequence[int]]:
    """(spill file numbers, offsets, lengths) of planned lines lo..hi (native int64 rows)."""
    rows = array("q")
    rows.frombytes(os.pread(fd, (hi - lo) * ROW * rows.itemsize, lo * ROW * rows.itemsize))
    return rows[0::ROW], rows[1::ROW], rows[2::ROW]


def fill(
    buf: bytearray,
    spills: list[int],
    files: Sequence[int],
    offsets: Sequence[int],
    lengths: Sequence[int],
) -> tuple[bytearray, int]:
    """The lines read into `buf` (grown when they do not fit) back to back; their size.

    One `preadv` per line into place: no bytes object per line and no join.
    """
    size = sum(lengths)
    if size > len(buf):
        buf = bytearray(size)
    view, preadv, at = memoryview(buf), os.preadv, 0
    for f, off, n in zip(files, offsets, lengths):
        end = at + n
        if preadv(spills[f], [view[at:end]], off) != n:
            raise OSError(f"short read of a spill line ({n} bytes at {off} of spill {f})")
        at = end
    return buf, size


def write_all(fd: int, view: memoryview, at: int) -> None:
    while len(view):
        done = os.pwrite(fd, view, at)
        view, at = view[done:], at + done


def copy(
    buf: bytearray, spills: list[int], plan: int, out: int, lo: int, hi: int, at: int
) -> tuple[bytearray, int]:
    """Planned lines lo..hi written at byte `at` of `out`; (buffer holding them, their size)."""
    buf, size = fill(buf, spills, *plan_rows(plan, lo, hi))
    write_all(out, memoryview(buf)[:size], at)
    return buf, size


def main() -> None:
    head = json.loads(sys.stdin.buffer.read())
    spills = [os.open(p, os.O_RDONLY) for p in head["spills"]]
    plan = os.open(head["plan"], os.O_RDONLY)
    out = os.open(head["out"], os.O_WRONLY)
    buf = bytearray()
    for lo, hi, at in head["chunks"]:
        buf, _ = copy(buf, spills, plan, out, lo, hi, at)
        sys.stdout.write("written\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
