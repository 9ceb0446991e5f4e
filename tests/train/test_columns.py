"""Tokenized pairs and prompt sets in the columns TRL 1.16 reads; `solution` beside `answer`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from postmix.train.data import load_data
from postmix.train.dpo import COLUMNS, build_trainer
from tests.outputs import build
from tests.train.conftest import tiny_config

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
TRL_PAIR = ["prompt_ids", "chosen_ids", "rejected_ids"]
OLD_PAIR = ["prompt_input_ids", "chosen_input_ids", "rejected_input_ids"]


def tokenized(tmp: Path, kind: str, tok_dir: Path) -> Path:
    out, _ = build(tmp, kind, "tokenized", "parquet", tokenizer=str(tok_dir), template="chatml")
    return out


def test_tokenized_pairs_use_trl_names_and_keep_the_old_ones(tmp_path: Path, tok_dir: Path) -> None:
    table = pq.read_table(tokenized(tmp_path, "preference", tok_dir) / "t_train.parquet")
    assert set(TRL_PAIR + OLD_PAIR) <= set(table.column_names)
    for new, old in zip(TRL_PAIR, OLD_PAIR):
        assert table[new].to_pylist() == table[old].to_pylist()


def test_dpo_feeds_tokenized_pairs_without_tokenizing_again(
    tmp_path: Path, tok_dir: Path, base_model: Path
) -> None:
    from postmix.train.common import load_model

    out = tokenized(tmp_path, "preference", tok_dir)
    written = pq.read_table(out / "t_train.parquet").select(TRL_PAIR).to_pylist()
    cfg = tiny_config(tmp_path / "run", base_model).model_copy(update={"template": None})
    td = load_data([str(out)], cfg, kinds=("preference",))
    trainer = build_trainer(cfg, td, load_model(str(base_model), cfg))
    fed = trainer.train_dataset.select_columns(COLUMNS).to_list()
    key = lambda r: tuple(tuple(r[c]) for c in TRL_PAIR)  # noqa: E731
    assert sorted(map(key, fed)) == sorted(map(key, written))


def test_prompt_sets_carry_solution_with_answer(tmp_path: Path, tok_dir: Path) -> None:
    out, _ = build(tmp_path / "msg", "prompt")
    rows = [orjson.loads(line) for line in (out / "t_train.jsonl").read_bytes().splitlines()]
    assert rows and all(r["solution"] == r["answer"] and r["answer"].isdigit() for r in rows)
    table = pq.read_table(tokenized(tmp_path / "tok", "prompt", tok_dir) / "t_train.parquet")
    assert {"prompt_ids", "input_ids", "solution", "answer"} <= set(table.column_names)
    assert table["solution"].to_pylist() == table["answer"].to_pylist()
    assert table["prompt_ids"].to_pylist() == table["input_ids"].to_pylist()


def test_trl_accuracy_reward_scores_prompt_rows(tmp_path: Path, base_model: Path) -> None:
    """`trl.rewards.accuracy_reward` reads `solution`: a right completion scores 1, a wrong 0."""
    pytest.importorskip("math_verify", reason="trl's accuracy_reward needs math-verify")
    from trl.rewards import accuracy_reward

    out, _ = build(tmp_path, "prompt")
    cfg = tiny_config(tmp_path / "run", base_model)
    td = load_data([str(out)], cfg, kinds=("prompt",), model=cfg.model)
    rows: list[dict[str, Any]] = td.train.to_list()[:2]
    good = [[{"role": "assistant", "content": f"\\boxed{{{r['solution']}}}"}] for r in rows]
    bad = [[{"role": "assistant", "content": "\\boxed{-1}"}] for _ in rows]
    solutions = [r["solution"] for r in rows]
    assert accuracy_reward(good, solutions) == [1.0, 1.0]
    assert accuracy_reward(bad, solutions) == [0.0, 0.0]
