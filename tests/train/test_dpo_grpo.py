"""`postmix dpo` and `postmix grpo` on a tiny model: real pairs and real GSM8K prompts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from postmix.train.common import load_model
from postmix.train.config import GRPOSettings
from postmix.train.data import load_data
from postmix.train.dpo import run_dpo
from postmix.train.evaluate import pair_metrics
from postmix.train.grpo import run_grpo
from tests.conftest import shared_file
from tests.train.conftest import GSM8K, PAIRS, logged, prepare, tiny_config

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_dpo_reward_accuracy_rises_on_the_training_pairs(
    tmp_path: Path, base_model: Path, pairs_dir: Path
) -> None:
    cfg = tiny_config(tmp_path, base_model, max_steps=8, batch_size=4, learning_rate=3e-3)
    metrics = run_dpo(cfg, [str(pairs_dir)])
    state = json.loads((tmp_path / "checkpoint-8" / "trainer_state.json").read_text())
    accuracies = logged(state["log_history"], "rewards/accuracies")
    assert accuracies[0] == 0.0  # step 1: the policy is the reference, every reward is 0
    assert np.mean(accuracies[-4:]) > 0.7, accuracies
    assert metrics["rewards/accuracies"] == accuracies[-1]
    assert metrics["rewards/margins"] == logged(state["log_history"], "rewards/margins")[-1] > 0
    assert {"eval_loss", "eval_rewards/accuracies", "eval_rewards/margins"} <= set(metrics)

    td = load_data([str(pairs_dir)], cfg, kinds=("preference",), model=cfg.model)
    trained, start = load_model(str(tmp_path), cfg), load_model(str(base_model), cfg)
    before = pair_metrics(start, td.train, beta=cfg.dpo.beta, reference=start)
    after = pair_metrics(trained, td.train, beta=cfg.dpo.beta, reference=start)
    assert before["accuracy"] == 0.0 and before["margin"] == 0.0
    assert after["accuracy"] > 0.8 and after["margin"] > 0, after


def test_grpo_runs_with_the_math_reward_and_logs_it(
    tmp_path: Path, base_model: Path, prompts_dir: Path
) -> None:
    cfg = tiny_config(tmp_path, base_model, max_steps=2, batch_size=4)
    cfg = cfg.model_copy(
        update={
            "grpo": GRPOSettings(
                rewards=["math_answer", {"name": "length_penalty", "weight": 0.1}],
                num_generations=2,
                max_completion_length=8,
            )
        }
    )
    metrics = run_grpo(cfg, [str(prompts_dir)])
    state = json.loads((tmp_path / "checkpoint-2" / "trainer_state.json").read_text())
    rewards = logged(state["log_history"], "rewards/math_answer/mean")
    assert len(rewards) == 2 and all(r == 0.0 for r in rewards)  # a random model never solves one
    assert logged(state["log_history"], "rewards/length_penalty/mean")
    assert metrics["steps"] == 2 and metrics["reward"] is not None
    assert metrics["rewards/math_answer/mean"] == 0.0
    assert metrics["trained_tokens"] > 0
    assert metrics["rewards"] == ["math_answer", "length_penalty"]


def test_grpo_prompts_carry_their_reference_answers(
    tmp_path: Path, base_model: Path, prompts_dir: Path, tok_dir: Path, shared_data: Path
) -> None:
    cfg = tiny_config(tmp_path, base_model)
    td = load_data([str(prompts_dir)], cfg, kinds=("prompt",), model=cfg.model)
    row: dict[str, Any] = td.train[0]
    assert row["prompt"][-1]["role"] == "user" and row["answer"].lstrip("-").isdigit()
    assert len(td.train) == 8 and td.validation is None
    source = shared_file(shared_data, GSM8K)
    settings = {"tokenizer": str(tok_dir), "template": "chatml"}
    tokenized = prepare(tmp_path / "tok", source, "gsm8k", "prompt", 8, 0.0, **settings)
    again = load_data(
        [str(tokenized)], cfg.model_copy(update={"template": None}), kinds=("prompt",)
    )
    texts = {r["answer"]: r["prompt"] for r in again.train}
    for r in td.train:
        rendered = td.tokenizer.apply_chat_template(
            r["prompt"], tokenize=False, add_generation_prompt=True
        )
        assert texts[r["answer"]] == rendered and rendered.endswith("<|im_start|>assistant\n")


def test_tokenized_pairs_match_the_messages_path(
    tmp_path: Path, base_model: Path, tok_dir: Path, shared_data: Path
) -> None:
    """Pairs prepared as `tokenized` Parquet load to the ids the messages output tokenizes to;
    postmix 0.1's column names and the layout with whole sequences and labels load the same,
    and wrong labels are refused."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from postmix.tokenize import IGNORE
    from postmix.train.data import DataError
    from postmix.writers.tokenized import ALIASES

    source = shared_file(shared_data, PAIRS)
    settings = {"tokenizer": str(tok_dir), "template": "chatml"}  # no length limit: no drops
    tokenized = prepare(
        tmp_path / "tok", source, "sharegpt_preference", "preference", 24, 0.15, **settings
    )
    messages = prepare(tmp_path / "msg", source, "sharegpt_preference", "preference", 24, 0.15)
    cfg = tiny_config(tmp_path / "run", base_model).model_copy(update={"max_seq_length": 10**6})
    plain = cfg.model_copy(update={"template": None})
    a = load_data([str(tokenized)], plain, kinds=("preference",))
    b = load_data([str(messages)], cfg, kinds=("preference",), model=cfg.model)
    key = ("prompt_ids", "chosen_ids", "rejected_ids")
    assert sorted(zip(*(a.train[k] for k in key))) == sorted(zip(*(b.train[k] for k in key)))

    table = pq.read_table(tokenized / "t_train.parquet")
    old = table.drop_columns(list(key)).to_pylist()  # postmix 0.1's column names alone
    # (the files are rewritten below, so they no longer match the manifest: verify=False)
    pq.write_table(pa.Table.from_pylist(old), tokenized / "t_train.parquet")
    assert all(
        load_data([str(tokenized)], plain, kinds=("preference",), verify=False).train[k]
        == a.train[k]
        for k in key
    )
    rows = table.drop_columns(list(ALIASES.values())).to_pylist()
    for row in rows:
        for side in ("chosen", "rejected"):
            reply = row[f"{side}_ids"]
            row[f"{side}_ids"] = row["prompt_ids"] + reply
            row[f"{side}_labels"] = [IGNORE] * len(row["prompt_ids"]) + reply
    pq.write_table(pa.Table.from_pylist(rows), tokenized / "t_train.parquet")
    whole = load_data([str(tokenized)], plain, kinds=("preference",), verify=False)
    assert all(whole.train[k] == a.train[k] for k in key)
    rows[0]["chosen_labels"] = [IGNORE] * len(rows[0]["chosen_ids"])
    pq.write_table(pa.Table.from_pylist(rows), tokenized / "t_train.parquet")
    with pytest.raises(DataError, match="chosen"):
        load_data([str(tokenized)], plain, kinds=("preference",), verify=False)
