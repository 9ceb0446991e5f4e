"""`prepare` with `output.schema: tokenized`: labels, packing, budgets in trainable tokens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.test_pipeline import alpaca_rows, assert_accounted, run, write_jsonl
from tests.tiny import bpe_tokenizer


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tok")
    bpe_tokenizer(path)
    return path


def chats(n: int) -> list[dict]:
    return [
        {
            "conversations": [
                {"from": "human", "value": f"Question {i}: what is the river?"},
                {"from": "gpt", "value": f"The answer is {i} and the river is long."},
                {"from": "human", "value": "Thanks, and the mountain?"},
                {"from": "gpt", "value": "The mountain is high" + " and old" * (i % 5)},
            ]
        }
        for i in range(n)
    ]


def recipe(tmp_path: Path, tokenizer_dir: Path, **top) -> dict:
    write_jsonl(tmp_path / "a.jsonl", alpaca_rows(30))
    write_jsonl(tmp_path / "c.jsonl", chats(30))
    return {
        "tokenizer": str(tokenizer_dir),
        "template": "chatml",
        "datasets": [
            {"name": "a", "source": str(tmp_path / "a.jsonl")},
            {"name": "c", "source": str(tmp_path / "c.jsonl")},
        ],
        "validation": {"ratio": 0.1},
        "output": {"schema": "tokenized", "file_format": "parquet"},
        **top,
    }


def test_tokenized_rows_train_exactly_the_replies(tmp_path: Path, tokenizer_dir: Path) -> None:
    from postmix.tokenizer import load_tokenizer

    manifest, out = run(tmp_path, recipe(tmp_path, tokenizer_dir), num_proc=2)
    assert_accounted(manifest)
    table = pq.read_table(out / "train.parquet").to_pylist()
    assert len(table) == 54
    tok = load_tokenizer(str(out / "tokenizer"))
    assert "im_start" in tok.chat_template  # the template travels with the data
    for row in table:
        ids, labels = np.array(row["input_ids"]), np.array(row["labels"])
        assert len(ids) == len(labels) == len(row["attention_mask"]) == len(row["position_ids"])
        trained = tok.decode(ids[labels != -100].tolist())
        assert trained.startswith(("answer", "The answer")) and "<|im_end|>" in trained
        assert "Question" not in trained and "user" not in trained
    s = manifest["sources"]["c"]["tokens"]
    assert 0 < s["trainable"] < s["total"]


def test_packing_keeps_every_token_once_with_restarting_positions(
    tmp_path: Path, tokenizer_dir: Path
) -> None:
    run(tmp_path, recipe(tmp_path, tokenizer_dir), "plain", num_proc=1)
    packed, out = run(
        tmp_path,
        recipe(tmp_path, tokenizer_dir, packing=True, max_seq_length=256),
        "packed",
        num_proc=1,
    )
    plain_rows = pq.read_table(tmp_path / "plain" / "train.parquet").to_pylist()
    rows = pq.read_table(out / "train.parquet").to_pylist()
    assert len(rows) < len(plain_rows)
    by_id = {r["id"]: r for r in plain_rows}
    seen = []
    for row in rows:
        assert len(row["input_ids"]) <= 256
        assert sum(row["seq_lengths"]) == len(row["input_ids"])
        start = 0
        for rid, n in zip(row["ids"], row["seq_lengths"]):
            want = by_id[rid]
            assert row["input_ids"][start : start + n] == want["input_ids"]
            assert row["position_ids"][start : start + n] == list(range(n))
            assert row["labels"][start + 1 : start + n] == want["labels"][1:]
            start += n
            seen.append(rid)
    assert sorted(seen) == sorted(by_id)
    stats = packed["packing"]["train"]
    assert stats["records"] == len(plain_rows) and 0.5 < stats["efficiency"] <= 1.0


def test_token_budget_counts_trainable_tokens(tmp_path: Path, tokenizer_dir: Path) -> None:
    r = recipe(tmp_path, tokenizer_dir)
    r["metadata"] = {"total_tokens": 3000}
    for ds in r["datasets"]:
        ds["mix_ratio"] = 0.5
    r["validation"] = {"ratio": 0.0}
    manifest, _ = run(tmp_path, r, num_proc=1)
    for name in ("a", "c"):
        mix = manifest["sources"][name]["mix"]
        assert mix["target_tokens"] == 1500
        assert abs(mix["achieved_tokens"] - 1500) < 60  # within about one record
    assert manifest["sources"]["a"]["mix"]["upsampling"] > 1  # a has fewer trainable tokens


def test_over_length_policy_is_counted(tmp_path: Path, tokenizer_dir: Path) -> None:
    r = recipe(tmp_path, tokenizer_dir, max_seq_length=40)
    manifest, _ = run(tmp_path, r, num_proc=1)
    assert_accounted(manifest)
    assert manifest["sources"]["c"]["dropped"].get("too_long", 0) > 0


def test_expand_formats_renders_each_record_in_every_format(
    tmp_path: Path, tokenizer_dir: Path
) -> None:
    r = recipe(tmp_path, tokenizer_dir, expand_formats=["chatml", "vicuna", "alpaca"])
    r.pop("template")
    manifest, out = run(tmp_path, r, num_proc=1)
    rows = pq.read_table(out / "train.parquet").to_pylist()
    assert manifest["tokenizer"]["expand_formats"] == ["chatml", "vicuna", "alpaca"]
    assert len(rows) == 3 * 54
    assert len({row["id"] for row in rows}) == 54
