"""Shard cuts of a JSONL file: where each shard starts and how many lines come before it.

The plan finds each cut by reading just past its target and counts the lines
before the cuts range by range in threads; both must match one serial pass
over the file, since row numbers in removed and quarantine entries follow them.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from postmix.sources import local


def serial(data: bytes, every: int) -> list[tuple[int, int]]:
    """The rule, on the whole file at once: a shard starts at the first line start at
    least `every` bytes after the previous one; rows count every b"\\n"."""
    starts = [(0, 0)]
    target = every
    while target < len(data):
        nl = data.find(b"\n", target - 1)
        if nl < 0 or nl + 1 >= len(data):
            break
        starts.append((nl + 1, data.count(b"\n", 0, nl + 1)))
        target = nl + 1 + every
    return starts


def lines(seed: int) -> bytes:
    """Lines of 0 to 120 bytes, a few far longer than a read window, maybe no final b"\\n"."""
    rng = random.Random(seed)
    out = []
    for _ in range(rng.randint(0, 400)):
        size = rng.choice([0, 1, rng.randint(2, 120), rng.randint(2, 120), rng.randint(200, 900)])
        out.append(b"x" * size + b"\n")
    data = b"".join(out)
    return data[:-1] if seed % 3 == 0 and data else data


@pytest.fixture
def small_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows and count blocks of a few bytes, so every loop turns many times."""
    monkeypatch.setattr(local, "CUT_WINDOW", 16)
    monkeypatch.setattr(local, "BLOCK", 64)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("every", [1, 5, 100, 1000])
def test_cuts_and_rows_match_one_serial_pass(
    tmp_path: Path, small_reads: None, seed: int, every: int
) -> None:
    data = lines(seed)
    path = tmp_path / "a.jsonl"
    path.write_bytes(data)
    assert local._line_starts(str(path), len(data), every) == serial(data, every)


def test_shards_cover_the_file_and_start_at_their_rows(tmp_path: Path, small_reads: None) -> None:
    data = b"".join(b"%d\n" % i for i in range(5000))
    path = tmp_path / "a.jsonl"
    path.write_bytes(data)
    shards = local._jsonl_shards(str(path), 1000)
    assert len(shards) > 10
    assert [s.start for s in shards[1:]] == [s.end for s in shards[:-1]]
    assert shards[0].start == 0 and shards[-1].end is None
    for s in shards:
        assert data[s.start : data.index(b"\n", s.start)] == b"%d" % s.first_row
