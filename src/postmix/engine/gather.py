"""A JSONL split from spill lines: gathered by a few processes at once, hashed in order here.

Reading a split's lines back is one `pread` per line, in shuffled order: the
slowest serial step left after shard work. The driver writes a plan (spill
file, offset, length of every output line, in output order) and the byte
offset of each chunk of CHUNK lines; `spill_copy` processes take every
P-th chunk and `pwrite` it at its offset into the pre-sized file, so each
holds one chunk. The driver reads each chunk back in order as its process
reports it written and hashes it (sha256 is sequential); for the trainer
glue (`glue.KeyScan`) it parses only the chunks holding a line the workers
flagged as one that can hold an optional key, so no second pass over the file
is needed. Small splits are gathered here alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Generator
from contextlib import ExitStack, closing
from pathlib import Path
from typing import IO

import numpy as np

from postmix.engine import spill_copy
from postmix.engine.index import CHUNK, Index
from postmix.writers.files import atomic_path
from postmix.writers.glue import KeyScan

PROCS = 4  # most gather processes (the driver hashing is one more)
INLINE = 16 * CHUNK  # lines below which the driver gathers alone: starting processes costs more
PIECE = 64  # chunks of the plan computed (and held) at a time


def write_jsonl(
    path: Path,
    idx: Index,
    order: np.ndarray,
    work: Path,
    scan: KeyScan | None = None,
    procs: int | None = None,
) -> tuple[int, str]:
    """Rows and sha256 of a JSONL file of the spill lines of records `order`, in that order.

    `scan` is fed the chunks holding a line the workers flagged (`Index.mention`: the only
    lines where an optional key can be); `procs`: gather processes (default: one per CPU,
    at most PROCS; 1 gathers in this process).
    """
    procs = min(PROCS, os.cpu_count() or 1) if procs is None else procs
    digest = hashlib.sha256()
    flagged = np.zeros(len(idx.file), np.bool_)
    flagged[idx.mention] = True
    with ExitStack() as stack:
        tmp = stack.enter_context(atomic_path(path))
        plan_fh = stack.enter_context(tempfile.NamedTemporaryFile(dir=work, prefix="plan-"))
        at = _plan(idx, order, plan_fh)
        with open(tmp, "wb") as fh:
            fh.truncate(at[-1])
        chunks = [(c * CHUNK, min((c + 1) * CHUNK, len(order)), at[c]) for c in range(len(at) - 1)]
        parallel = procs > 1 and len(order) >= INLINE and bool(sys.executable)
        written = (
            _processes(idx.spills, plan_fh.name, tmp, chunks, at[-1], procs)
            if parallel
            else _here(idx.spills, plan_fh.name, tmp, chunks)
        )
        for (lo, hi, _), view in zip(chunks, stack.enter_context(closing(written))):
            digest.update(view)  # on an error, closing the stream ends the processes
            if scan is not None and flagged[order[lo:hi]].any():
                scan.lines(bytes(view))
    return len(order), digest.hexdigest()


def _plan(idx: Index, order: np.ndarray, fh: IO[bytes]) -> list[int]:
    """Writes the plan rows of `order` (native int64: spill file, offset, length) to `fh`;
    returns the output byte offset of each chunk's first line, and the file's size last."""
    at = [0]
    for lo in range(0, len(order), PIECE * CHUNK):
        sel = order[lo : lo + PIECE * CHUNK]
        cols = [idx.file[sel], idx.offset[sel], idx.length[sel]]
        rows = np.stack([c.astype(np.int64) for c in cols], axis=1)
        fh.write(memoryview(rows))
        sizes = np.add.reduceat(rows[:, 2], np.arange(0, len(sel), CHUNK))
        at.extend((at[-1] + np.cumsum(sizes)).tolist())
    fh.flush()
    return at


Chunk = tuple[int, int, int]  # first line, end line, output byte offset


def _here(
    spills: list[str], plan: str, out: Path, chunks: list[Chunk]
) -> Generator[memoryview, None, None]:
    """The bytes of each chunk, gathered in this process."""
    fds = [os.open(p, os.O_RDONLY) for p in spills]
    plan_fd = os.open(plan, os.O_RDONLY)
    out_fd = os.open(out, os.O_WRONLY)
    try:
        buf = bytearray()
        for lo, hi, off in chunks:
            buf, size = spill_copy.copy(buf, fds, plan_fd, out_fd, lo, hi, off)
            yield memoryview(buf)[:size]
    finally:
        for fd in (*fds, plan_fd, out_fd):
            os.close(fd)


def _processes(
    spills: list[str],
    plan: str,
    out: Path,
    chunks: list[Chunk],
    size: int,
    procs: int,
) -> Generator[memoryview, None, None]:
    """Each chunk as a `spill_copy` process reports it written, read back from `out`."""
    ends = [off for _, _, off in chunks[1:]] + [size]
    procs = min(procs, len(chunks))
    cmd = [sys.executable, "-I", spill_copy.__file__]
    workers = [
        subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(procs)
    ]
    fd = os.open(out, os.O_RDONLY)
    try:
        for w, proc in enumerate(workers):
            head = {
                "spills": spills,
                "plan": plan,
                "out": str(out),
                "chunks": chunks[w::procs],
            }
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(head).encode())
            proc.stdin.close()
        buf = bytearray()
        for c, (_, _, off) in enumerate(chunks):
            _reported(workers[c % procs])
            n = ends[c] - off
            if n > len(buf):
                buf = bytearray(n)
            view = memoryview(buf)[:n]
            if os.preadv(fd, [view], off) != n:
                raise OSError(f"{out}: chunk {c} is short after its gather process wrote it")
            yield view
        for proc in workers:
            if proc.wait():
                _failed(proc)
    finally:
        os.close(fd)
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()


def _reported(proc: subprocess.Popen[bytes]) -> None:
    """Waits for a gather process to report its next chunk written."""
    assert proc.stdout is not None
    if not proc.stdout.readline():
        proc.wait()
        _failed(proc)


def _failed(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace").strip()
    raise OSError(f"a gather process failed (exit {proc.returncode}): {err[-2000:]}")
