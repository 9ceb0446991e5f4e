"""The driver's bytes per record: a narrow index without ids, lean exact dedup and mix.

Before, the index held ~70 bytes a record (ids, int64 rows and offsets, int16
sources) and exact dedup (`np.unique` with `return_inverse`) and the mix peaked
at ~50 bytes a record more, so the driver grew by ~100 MiB from 100k to 1M rows.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from postmix.dedup.exact import repeats
from postmix.engine import index, select
from postmix.engine.contracts import ShardResult
from postmix.schema import uuid_str
from tests.test_pipeline import alpaca_rows, assert_accounted, read_rows, run, write_jsonl


def shard(tmp_path: Path, source: int, order: int, n: int, first_row: int = 0) -> ShardResult:
    """A worker's result for `n` records spilled as JSON lines, with the worker's dtypes."""
    ids = [bytes([source, order]) + i.to_bytes(14, "big") for i in range(n)]
    lines = [
        orjson.dumps({"id": uuid_str(r), "n": i}, option=orjson.OPT_APPEND_NEWLINE)
        for i, r in enumerate(ids)
    ]
    spill = tmp_path / f"{source}-{order}.spill"
    spill.write_bytes(b"".join(lines))
    res = ShardResult(source=source, order=order, labels=[f"s{source}.jsonl"], formats=["jsonl"])
    length = np.asarray([len(x) for x in lines], dtype=np.int64)
    res.keys = np.arange(n, dtype=np.uint64) * 7919
    res.row = np.arange(first_row, first_row + n, dtype=np.int64)
    res.shard = np.zeros(n, dtype=np.int32)
    res.length = length.astype(np.int32)
    res.offset = np.cumsum(length) - length
    res.cost = np.ones(n, dtype=np.int32)
    res.chars = np.full(n, 120, dtype=np.int32)
    res.spill = str(spill)
    return res


PER_RECORD = ("source", "row", "label", "file", "offset", "length", "keys", "cost")


def test_the_index_holds_under_28_bytes_a_record_and_every_value(tmp_path: Path) -> None:
    results = [[shard(tmp_path, 0, 0, 300), shard(tmp_path, 0, 1, 200, 300)]]
    results.append([shard(tmp_path, 1, 0, 100)])
    for res in (r for per_source in results for r in per_source):
        index.compact(res)
        assert not hasattr(res, "ids")  # records' ids stay in their spill lines
    idx = index.build(results, order=[1, 0])
    assert sum(getattr(idx, c).itemsize for c in PER_RECORD) <= 27
    idx.drop_keys()  # after dedup, their only use
    assert idx.keys.nbytes == 0
    assert idx.source.tolist() == [1] * 100 + [0] * 500
    assert idx.row.tolist() == list(range(100)) + list(range(500))
    assert idx.file.tolist() == [0] * 100 + [1] * 300 + [2] * 200
    assert idx.where(450) == ("s0.jsonl", "jsonl", 350)
    assert index.record_ids(idx, np.asarray([450, 0, 450])) == {
        0: uuid_str(bytes([1, 0]) + (0).to_bytes(14, "big")),
        450: uuid_str(bytes([0, 1]) + (50).to_bytes(14, "big")),
    }


def test_rows_past_2_31_keep_64_bits(tmp_path: Path) -> None:
    res = shard(tmp_path, 0, 0, 3, first_row=2**31 + 5)
    index.compact(res)
    idx = index.build([[res]], order=[0])
    assert idx.row.dtype == np.int64
    assert idx.where(2)[2] == 2**31 + 7


@pytest.mark.parametrize(
    "values",
    [[0, 127, -128], [0, 128], [-40_000, 3], [2**31], np.empty(0)],
)
def test_narrow_keeps_every_value(values: list[int]) -> None:
    wide = np.asarray(values, dtype=np.int64)
    narrow = index.narrow(wide)
    assert narrow.tolist() == wide.tolist()
    assert narrow.dtype.itemsize == {3: 1, 2: 2 if 128 in values else 4, 1: 8, 0: 8}[len(wide)]


def first_occurrence(keys: np.ndarray) -> np.ndarray:
    """The reference rule: for every position, the first position holding its key."""
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first[inverse.reshape(-1)]


@pytest.mark.parametrize("n", [0, 1, 2, 1000])
def test_repeats_name_each_later_copy_and_its_first(n: int) -> None:
    keys = np.random.default_rng(n).integers(0, max(n // 3, 1), n).astype(np.uint64)
    again, first = repeats(keys)
    want = first_occurrence(keys) if n else np.empty(0, dtype=np.int64)
    hit = np.flatnonzero(want != np.arange(n))
    order = np.argsort(again)
    assert again[order].tolist() == hit.tolist()
    assert first[order].tolist() == want[hit].tolist()


def peak_per_record(fn: Callable[[], Any], n: int) -> float:
    """Bytes a record that `fn` allocates at its peak (numpy reports to tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / n
    finally:
        tracemalloc.stop()


def an_index(n: int) -> index.Index:
    rng = np.random.default_rng(0)
    source = np.repeat(np.arange(3, dtype=np.int8), [n // 2, n // 3, n - n // 2 - n // 3])
    narrow = np.zeros(n, dtype=np.int32)
    return index.Index(
        source=source,
        row=narrow,
        label=source,
        file=source,
        offset=narrow,
        length=narrow,
        keys=rng.integers(0, 50 * n, n).astype(np.uint64),  # ~1% repeats
        cost=np.ones(n, dtype=np.int8),
        spills=[],
    )


def test_exact_dedup_and_the_mix_peak_under_25_bytes_a_record() -> None:
    n = 200_000
    idx = an_index(n)
    names = ["a", "b", "c"]
    dups = select.duplicates(idx, True, None, names, "resolve")
    assert dups.is_dup.sum() > n // 200
    assert peak_per_record(lambda: select.duplicates(idx, True, None, names, "resolve"), n) < 25
    spec = select.MixSpec(["a", "b", "c"], [0.5, 0.3, 0.2], [None] * 3, None, 1, 0.01, 1, True)
    assert peak_per_record(lambda: select.select(spec, idx.source, idx.cost, dups.removed), n) < 25


def test_removed_entries_name_the_ids_of_both_copies(tmp_path: Path) -> None:
    rows = alpaca_rows(40)
    again = [dict(r, output=f"another answer {i}") for i, r in enumerate(rows[5:15])]
    write_jsonl(tmp_path / "a.jsonl", rows + again)  # same prompts: the sft key repeats
    recipe = {
        "datasets": [{"name": "a", "source": str(tmp_path / "a.jsonl")}],
        "validation": {"ratio": 0},
    }
    manifest, out = run(tmp_path, recipe)
    assert_accounted(manifest)
    _, every = run(tmp_path, {**recipe, "dedup": {"exact": False}}, name="every")
    id_of = {r["messages"][-1]["content"]: r["id"] for r in read_rows(every / "train.jsonl")}
    removed = read_rows(out / "removed.jsonl")
    assert [r["row"] for r in removed] == list(range(40, 50))
    for r in removed:
        assert r["reason"] == "duplicate"
        assert r["id"] == id_of[again[r["row"] - 40]["output"]]
        assert r["of"] == id_of[rows[r["row"] - 35]["output"]]
