"""The shuffled order is decided by keys known where records are made (`engine/order.py`):
workers write their spill files in that order, so the gather reads each file's lines in
ascending offsets, one span per file and chunk; the order is still a seeded shuffle."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from postmix.engine import order, plan, spill_copy
from tests.test_pipeline import alpaca_rows, assert_accounted, read_rows, run, write_jsonl

MASK = (1 << 64) - 1


def splitmix64(x: int) -> int:
    """The reference splitmix64 step (Steele, Lea and Flood), on Python integers."""
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def test_keys_are_splitmix64_of_base_plus_position() -> None:
    start = order.base(42, 1, 3)
    positions = np.arange(0, 5000, 7)
    want = [splitmix64((start + int(p)) & MASK) for p in positions]
    assert order.keys(start, positions).tolist() == want
    starts = np.full(len(positions), start, np.uint64)
    assert order.keys(starts, positions).tolist() == want  # one start per position
    assert order.base(42, 1, 3) != order.base(43, 1, 3) != order.base(42, 2, 3)


@pytest.mark.parametrize("start", [order.base(7, 0, 0), None])
def test_a_spill_file_holds_its_lines_in_key_order(tmp_path: Path, start: int | None) -> None:
    lines = [f"line {i} {'x' * (i % 13)}\n".encode() for i in range(3000)]
    spill = order.Spill(str(tmp_path / "s.spill"), start)
    for i in range(0, len(lines), 250):
        spill.write(b"".join(lines[i : i + 250]))
    lengths = np.asarray([len(x) for x in lines])
    offsets = spill.close(lengths)
    data = (tmp_path / "s.spill").read_bytes()
    assert [data[o : o + n] for o, n in zip(offsets, lengths)] == lines  # each record located
    placed = np.argsort(offsets)
    if start is None:
        assert placed.tolist() == list(range(len(lines)))
    else:
        assert placed.tolist() == order.by_key(order.keys(start, np.arange(len(lines)))).tolist()


def test_spans_give_the_bytes_per_line_reads_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [f"{i}:{'y' * (i * 7 % 50)}\n".encode() for i in range(400)]
    path = tmp_path / "s"
    path.write_bytes(b"".join(lines))
    starts = np.cumsum([0, *map(len, lines)])[:-1]
    reads: list[int] = []
    preadv = os.preadv
    monkeypatch.setattr(os, "preadv", lambda *a: reads.append(1) or preadv(*a))
    fd = os.open(path, os.O_RDONLY)
    try:
        dense = list(range(100, 160))  # neighbours: one span, no read per line
        sparse = [3, 390, 200]  # far apart: a read per line
        for picked, per_line in ((dense, False), (sparse, True)):
            reads.clear()
            buf, size = spill_copy.fill(
                bytearray(),
                [fd],
                [0] * len(picked),
                [int(starts[i]) for i in picked],
                [len(lines[i]) for i in picked],
            )
            assert bytes(buf[:size]) == b"".join(lines[i] for i in picked)
            assert bool(reads) == per_line
    finally:
        os.close(fd)


def test_shuffled_splits_read_each_spill_file_forward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The split's rows are a seeded shuffle of the records (no trace of the input order,
    another seed another order), and along the split every spill file is read forward."""
    monkeypatch.setattr(plan, "SHARD_BYTES", 4096)  # many tasks
    write_jsonl(tmp_path / "a.jsonl", alpaca_rows(2000))
    recipe = {
        "seed": 5,
        "datasets": [{"name": "a", "source": str(tmp_path / "a.jsonl")}],
        "validation": {"ratio": 0.1},
    }
    manifest, out = run(tmp_path, recipe)
    assert_accounted(manifest)
    rows = read_rows(out / "train.jsonl")
    number = [int(r["messages"][0]["content"].split()[3][:-1]) for r in rows]
    assert sorted(number) != number and len(set(number)) == len(rows)
    rank = np.corrcoef(np.arange(len(number)), number)[0, 1]
    assert abs(rank) < 0.1  # no trace of the input order
    _, other = run(tmp_path, {**recipe, "seed": 6}, name="other")
    assert read_rows(other / "train.jsonl") != rows

    from postmix.engine import gather

    seen: list[tuple[np.ndarray, np.ndarray]] = []
    plan_lines = gather._plan

    def spy(idx, chosen, fh):  # type: ignore[no-untyped-def]
        seen.append((idx.file[chosen], idx.offset[chosen]))
        return plan_lines(idx, chosen, fh)

    monkeypatch.setattr(gather, "_plan", spy)
    run(tmp_path, recipe, name="again")
    files, offsets = seen[0]
    assert len(set(files.tolist())) > 5
    for f in set(files.tolist()):
        assert np.all(np.diff(offsets[files == f]) > 0)  # forward through each spill file
