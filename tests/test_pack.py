"""Best-fit-decreasing packing: bins, and rows with every token of every record once, in order."""

from __future__ import annotations

import json
import random
import warnings

import numpy as np
import pytest

from postmix.pack import pack, pack_records, pack_stats
from postmix.templates import bind
from postmix.tokenize import IGNORE, TokenizedRecord, tokenize_batch
from tests.conftest import shared_file
from tests.tiny import bpe_tokenizer


def lengths(n: int, seed: int, top: int) -> np.ndarray:
    rng = random.Random(seed)
    return np.array([min(top, int(rng.lognormvariate(5, 1)) + 1) for _ in range(n)])


def test_bins_hold_every_record_once_within_max_length() -> None:
    sizes = lengths(5000, 0, 2048)
    bins = pack(sizes, 2048)
    flat = np.concatenate(bins)
    assert sorted(flat.tolist()) == list(range(len(sizes)))
    assert max(int(sizes[b].sum()) for b in bins) <= 2048
    assert pack(sizes, 2048)[7].tolist() == bins[7].tolist()  # deterministic
    stats = pack_stats(sizes, bins, 2048)
    assert stats["rows"] == len(bins) and stats["records"] == len(sizes)
    assert stats["efficiency"] == round(sizes.sum() / (len(bins) * 2048), 4)
    assert stats["efficiency"] > 0.95  # lower bound on rows is ceil(sum / 2048)


def test_best_fit_decreasing_by_hand() -> None:
    assert [b.tolist() for b in pack([3, 8, 5, 2, 6, 4], 10)] == [[1, 3], [4, 5], [2, 0]]
    with pytest.raises(ValueError, match=r"1\.\.10"):
        pack([11], 10)
    with pytest.raises(ValueError):
        pack([0, 3], 10)
    assert pack([], 10) == []


@pytest.mark.parametrize("seed", range(3))
def test_same_bins_as_trl_bfd(seed: int) -> None:
    pa = pytest.importorskip("pyarrow")
    data_utils = pytest.importorskip("trl.data_utils")
    sizes = lengths(3000, seed, 512)
    table = pa.table({"input_ids": [list(range(n)) for n in sizes.tolist()]})
    packed = data_utils._pack_bfd(table, 512)
    theirs = [row for row in packed["seq_lengths"].to_pylist()]
    ours = [sizes[b].tolist() for b in pack(sizes, 512)]
    assert ours == theirs


def record(i: int, n: int, trained_from: int) -> TokenizedRecord:
    ids = np.arange(1000 * i, 1000 * i + n, dtype=np.int32)
    labels = np.where(np.arange(n) >= trained_from, ids, IGNORE).astype(np.int32)
    return TokenizedRecord(f"r{i}", "sft", input_ids=ids, labels=labels)


def check_rows(packed, records, max_length: int) -> None:
    """Every token of every record exactly once, in order; positions restart; no padding."""
    by_id = {r.id: r for r in records}
    seen = []
    for r in range(len(packed)):
        row = packed.row(r)
        assert len(row["input_ids"]) == row["seq_lengths"].sum() <= max_length
        start = 0
        for rid, n in zip(row["ids"], row["seq_lengths"].tolist()):
            rec = by_id[rid]
            assert (row["input_ids"][start : start + n] == rec.input_ids).all()
            assert row["position_ids"][start : start + n].tolist() == list(range(n))
            assert row["labels"][start] == IGNORE
            assert (row["labels"][start + 1 : start + n] == rec.labels[1:]).all()
            start += n
        seen += row["ids"]
    assert sorted(seen) == sorted(by_id)


def test_pack_records_rows() -> None:
    records = [record(i, n, n // 2) for i, n in enumerate(lengths(400, 1, 256).tolist())]
    packed = pack_records(records, 256)
    check_rows(packed, records, 256)
    assert packed.stats["records"] == 400
    assert len(packed.input_ids) == sum(len(r.input_ids) for r in records)
    prompt = TokenizedRecord("p", "prompt", input_ids=np.arange(3, dtype=np.int32))
    with pytest.raises(ValueError, match="labels"):
        pack_records([prompt], 16)


def test_pack_real_tokenized_records(tmp_path, shared_data) -> None:
    rows = json.loads(
        shared_file(shared_data, "hiyouga__LLaMA-Factory/alpaca_en_demo.json").read_text()
    )
    recs = [
        {
            "id": i,
            "kind": "sft",
            "messages": [
                {"role": "user", "content": (r["instruction"] + "\n\n" + r["input"]).strip()},
                {"role": "assistant", "content": r["output"]},
            ],
        }
        for i, r in enumerate(rows)
    ]
    tok = bpe_tokenizer(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        renderer = bind(tok, "chatml")
    out = tokenize_batch(recs, tok, renderer, max_length=512, over_length="truncate")
    records = [r for r in out if not isinstance(r, str)]
    assert len(records) > 900
    packed = pack_records(records, 1024)
    check_rows(packed, records, 1024)
    assert packed.stats["efficiency"] > 0.9
