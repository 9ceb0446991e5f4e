"""The TRL code the dataset card recommends, run as written for two steps on a tiny model.

Only what a CPU test needs is changed: `MODEL` becomes a tiny Llama, and the
config gains two steps, small batches and short generations. Everything the
card recommends (padding_free, max_length=None, columns, the DPO subclass, the
reward) runs as the card prints it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from postmix.writers.trl_usage import MODEL, section, snippet
from tests.outputs import build
from tests.tiny_models import save_model, tiny_llama

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
STEPS = {
    "max_steps": 2,
    "report_to": "none",
    "save_strategy": "no",
    "bf16": False,
    "logging_steps": 1,
    "per_device_train_batch_size": 2,
}
GRPO = {"num_generations": 2, "max_completion_length": 8, "generation_batch_size": 2}


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory: pytest.TempPathFactory, tok_dir: Path) -> Path:
    """A tiny Llama whose saved tokenizer carries the chatml template (as a chat model's does)."""
    from postmix.templates import bind
    from postmix.tokenizer import load_tokenizer

    tok = load_tokenizer(str(tok_dir))
    bind(tok, "chatml")
    return save_model(tiny_llama(tok), tok, tmp_path_factory.mktemp("chat"))


def run_card(out: Path, manifest: dict[str, Any], model: Path, **extra: Any) -> Any:
    """Execute the card's snippet for `out`; the trainer it built and trained."""
    code = snippet(out, manifest, str(out))
    assert code is not None and f'model="{MODEL}"' in code
    assert code.rstrip() in (out / "README.md").read_text()  # as the dataset card prints it
    code = code.replace(f'"{MODEL}"', repr(str(model)))
    config = code.split("args = ")[1].split("(")[0]
    code = code.replace(f"args = {config}(", f"args = {config}(**OVERRIDES, ")
    scope: dict[str, Any] = {"OVERRIDES": {**STEPS, **extra}, "__name__": "card"}
    exec(compile(code, str(out / "README.md"), "exec"), scope)
    trainer = scope["trainer"]
    assert trainer.state.global_step == 2
    return trainer


@pytest.mark.parametrize("packing", [True, False])
def test_sft_on_token_rows_keeps_records_apart(
    tmp_path: Path, tok_dir: Path, chat_model: Path, packing: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = {"tokenizer": str(tok_dir), "template": "chatml", "max_seq_length": 512}
    out, manifest = build(tmp_path, "sft", "tokenized", "parquet", packing=packing, **settings)
    code = snippet(out, manifest, str(out))
    assert "padding_free=True, max_length=None" in code
    trainer = run_card(out, manifest, chat_model)
    rows = pq.read_table(out / "t_train.parquet").to_pylist()[:2]
    batch = trainer.data_collator(
        [{k: r[k] for k in trainer.train_dataset.column_names} for r in rows]
    )
    assert "attention_mask" not in batch  # attention follows the restarting positions
    starts = int((batch["position_ids"][0] == 0).sum())
    assert starts == sum(len(r.get("seq_lengths") or [1]) for r in rows)
    assert (packing and starts > 2) or (not packing and starts == 2)


def test_sft_on_messages(tmp_path: Path, chat_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out, manifest = build(tmp_path, "sft", "messages", "jsonl")
    run_card(out, manifest, chat_model)


def test_dpo_on_messages_pairs(
    tmp_path: Path, chat_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out, manifest = build(tmp_path, "preference", "messages", "jsonl")
    trainer = run_card(out, manifest, chat_model)
    assert any("rewards/margins" in e for e in trainer.state.log_history)


def test_dpo_on_token_pairs_uses_the_ids_as_written(
    tmp_path: Path, tok_dir: Path, chat_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = {"tokenizer": str(tok_dir), "template": "chatml"}
    out, manifest = build(tmp_path, "preference", "tokenized", "parquet", **settings)
    trainer = run_card(out, manifest, chat_model)
    cols = ["prompt_ids", "chosen_ids", "rejected_ids"]
    written = pq.read_table(out / "t_train.parquet").select(cols).to_pylist()
    assert trainer.train_dataset.select_columns(cols).to_list() == written


@pytest.mark.parametrize("schema", ["messages", "tokenized"])
def test_grpo_on_prompts_scores_with_trls_accuracy_reward(
    tmp_path: Path, tok_dir: Path, chat_model: Path, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("math_verify", reason="trl's accuracy_reward needs math-verify")
    monkeypatch.chdir(tmp_path)
    settings = {"tokenizer": str(tok_dir), "template": "chatml"} if schema == "tokenized" else {}
    fmt = "parquet" if schema == "tokenized" else "jsonl"
    out, manifest = build(tmp_path, "prompt", schema, fmt, **settings)
    trainer = run_card(out, manifest, chat_model, **GRPO)
    reward = "accuracy_reward" if schema == "messages" else "text_accuracy"
    assert any(f"rewards/{reward}/mean" in e for e in trainer.state.log_history)


def test_kto_on_unpaired_preferences(
    tmp_path: Path, chat_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out, manifest = build(tmp_path, "kto", "messages", "jsonl")
    run_card(out, manifest, chat_model)


def test_the_card_carries_the_snippet_and_the_glue(tmp_path: Path) -> None:
    out, manifest = build(tmp_path, "sft", "sharegpt", "jsonl")
    text = section(out, manifest, str(out))
    assert "TRL reads the `messages` and `tokenized` schemas" in text
