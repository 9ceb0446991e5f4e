"""`postmix sft` on a tiny model and real Alpaca rows: full and LoRA, merge, resume, labels."""

from __future__ import annotations

import copy
import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from postmix.tokenize import IGNORE
from postmix.train.common import load_model
from postmix.train.data import load_data, message_rows, open_prepared
from postmix.train.rows import to_record
from postmix.train.sft import build_trainer, run_sft
from tests.conftest import shared_file
from tests.train.conftest import ALPACA, logged, prepare, tiny_config

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def first_last(history: list[dict[str, Any]], key: str = "loss", k: int = 2) -> tuple[float, float]:
    values = logged(history, key)
    return float(np.mean(values[:k])), float(np.mean(values[-k:]))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory, base_model: Path, sft_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("full")
    cfg = tiny_config(out, base_model, max_steps=12).model_copy(update={"gen_test": 2})
    run_sft(cfg, [str(sft_dir)])
    return out


def test_full_sft_loss_falls_and_the_model_reloads(full_run: Path, tok: Any) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    metrics = json.loads((full_run / "metrics.json").read_text())
    state = json.loads((full_run / "checkpoint-12" / "trainer_state.json").read_text())
    first, last = first_last(state["log_history"])
    assert last < first - 0.3, (first, last)
    assert metrics["steps"] == 12 and metrics["saved"] == "full"
    assert metrics["trained_tokens"] > 0 and metrics["tokens_per_second"] > 0
    assert metrics["train_loss"] == pytest.approx(logged(state["log_history"], "loss")[-1])
    assert set(metrics["per_source"]) == {"alpaca_en_demo"}
    assert metrics["eval_loss"] == pytest.approx(metrics["per_source"]["alpaca_en_demo"]["loss"])
    model = AutoModelForCausalLM.from_pretrained(full_run)
    saved_tok = AutoTokenizer.from_pretrained(full_run)
    assert "<|im_start|>assistant" in saved_tok.chat_template
    assert saved_tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False) == (
        "<|im_start|>user\nHi<|im_end|>\n"
    )
    assert model.config.vocab_size == len(tok)
    gens = [json.loads(line) for line in (full_run / "generations.jsonl").read_text().splitlines()]
    assert len(gens) == 2 and all(g["prompt"].endswith("<|im_start|>assistant\n") for g in gens)


def test_lora_merge_gives_the_logits_of_base_plus_adapter(
    tmp_path: Path, qwen_model: Path, tok_dir: Path, sft_dir: Path
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    cfg = tiny_config(tmp_path, qwen_model, max_steps=10, learning_rate=1e-2)
    # The tokenizer's own dir: from a qwen2 model dir, AutoTokenizer would load Qwen2's class,
    # which adds its <|endoftext|> to this tokenizer.
    lora = cfg.lora.model_copy(update={"enabled": True})
    cfg = cfg.model_copy(update={"merge": True, "lora": lora, "tokenizer": str(tok_dir)})
    metrics = run_sft(cfg, [str(sft_dir)])
    assert metrics["saved"] == "merged"
    state = json.loads((tmp_path / "checkpoint-10" / "trainer_state.json").read_text())
    first, last = first_last(state["log_history"])
    assert last < first - 0.1, (first, last)
    adapter_cfg = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert adapter_cfg["base_model_name_or_path"] == str(qwen_model.resolve())
    ids = torch.tensor([[5, 17, 99, 230, 41, 7, 300]])
    stacked = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(qwen_model), tmp_path / "adapter"
    )
    merged = AutoModelForCausalLM.from_pretrained(tmp_path)
    base = AutoModelForCausalLM.from_pretrained(qwen_model)
    with torch.no_grad():
        want = stacked.eval()(ids).logits
        got = merged.eval()(ids).logits
        before = base.eval()(ids).logits
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, before, atol=1e-3)  # the adapter did change the model


def test_resume_continues_from_the_checkpoint_step_and_optimizer_state(
    tmp_path: Path, base_model: Path, sft_dir: Path
) -> None:
    from transformers import TrainerCallback

    cfg = tiny_config(tmp_path, base_model, max_steps=6, save_steps=3, logging_steps=1)
    run_sft(cfg, [str(sft_dir)])
    final = load_model(str(tmp_path), cfg).state_dict()
    saved = torch.load(tmp_path / "checkpoint-3" / "optimizer.pt", weights_only=True)

    seen: dict[str, Any] = {}

    class Capture(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if "step" not in seen:
                seen["step"] = state.global_step
                seen["optimizer"] = copy.deepcopy(kw["optimizer"].state_dict())

    td = load_data([str(sft_dir)], cfg, kinds=("sft",), model=cfg.model)
    trainer = build_trainer(cfg, td, load_model(cfg.model, cfg))
    trainer.add_callback(Capture())
    trainer.train(resume_from_checkpoint=str(tmp_path / "checkpoint-3"))
    assert seen["step"] == 3 and trainer.state.global_step == 6
    assert [e["step"] for e in trainer.state.log_history if "loss" in e] == [1, 2, 3, 4, 5, 6]
    for key, value in saved["state"].items():
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(seen["optimizer"]["state"][key][name], value[name]), (key, name)
    resumed = trainer.model.state_dict()
    for name, tensor in final.items():
        assert torch.allclose(resumed[name], tensor, atol=1e-6), name


def test_resume_flag_alone_picks_the_last_checkpoint(
    tmp_path: Path, base_model: Path, sft_dir: Path
) -> None:
    cfg = tiny_config(tmp_path, base_model, max_steps=4, save_steps=2)
    run_sft(cfg, [str(sft_dir)])
    more = cfg.model_copy(update={"training": cfg.training.model_copy(update={"max_steps": 6})})
    metrics = run_sft(more, [str(sft_dir)], resume="last")
    assert metrics["resumed_from"] == str(tmp_path / "checkpoint-4")
    assert metrics["steps"] == 6


def batch_records(batch: dict[str, torch.Tensor]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """The (input_ids, labels) of every record in a padding-free batch, split at position 0."""
    ids, labels, pos = (batch[k][0].tolist() for k in ("input_ids", "labels", "position_ids"))
    starts = [i for i, p in enumerate(pos) if p == 0] + [len(pos)]
    return [(tuple(ids[a:b]), tuple(labels[a:b])) for a, b in itertools.pairwise(starts)]


def collated(trainer: Any) -> Counter:
    """Every record of one epoch exactly as the trainer's collator hands it to the model."""
    out: Counter = Counter()
    for batch in trainer.get_train_dataloader():
        assert "attention_mask" not in batch  # padding-free: the mask comes from position_ids
        out.update(batch_records(batch))
    return out


def test_the_trainer_sees_postmix_labels_unchanged(
    tmp_path: Path, base_model: Path, sft_dir: Path, tok: Any
) -> None:
    from postmix.templates import bind
    from postmix.tokenize import tokenize_batch

    cfg = tiny_config(tmp_path, base_model)
    td = load_data([str(sft_dir)], cfg, kinds=("sft",), model=cfg.model)
    trainer = build_trainer(cfg, td, load_model(cfg.model, cfg))
    prepared = open_prepared(sft_dir)
    path = sft_dir / next(o["path"] for o in prepared.manifest["outputs"] if o["split"] == "train")
    records = [to_record(r, "sft") for r in message_rows(path)]
    expected = Counter()
    for r in tokenize_batch(
        records, tok, bind(tok, "chatml"), max_length=256, over_length="truncate"
    ):
        assert r.labels[0] == IGNORE and (r.labels != IGNORE).any()
        expected[(tuple(r.input_ids.tolist()), tuple(r.labels.tolist()))] += 1
    assert collated(trainer) == expected
    assert sum(len(n) for n in td.train["seq_lengths"]) == len(records) > len(td.train)  # packed


def records_of(rows: list[dict[str, Any]]) -> Counter:
    """(input_ids, labels) of every record of tokenized rows, split where positions restart."""
    out: Counter = Counter()
    for row in rows:
        pos = np.asarray(row["position_ids"]) if "position_ids" in row else None
        if pos is None:
            pos = np.concatenate([np.arange(n) for n in row["seq_lengths"]])
        for a, b in itertools.pairwise([*np.flatnonzero(pos == 0).tolist(), len(pos)]):
            out[(tuple(row["input_ids"][a:b]), tuple(row["labels"][a:b]))] += 1
    return out


def test_tokenized_output_reaches_the_trainer_id_for_id(
    tmp_path: Path, base_model: Path, tok_dir: Path, shared_data: Path
) -> None:
    """`prepare` with output.schema: tokenized and packing, then sft: the collator's records
    are the Parquet file's, and the same as tokenizing the messages output here."""
    source = shared_file(shared_data, ALPACA)
    # Long enough that prepare drops nothing, so both outputs hold the same records.
    settings = {"tokenizer": str(tok_dir), "template": "chatml", "max_seq_length": 4096}
    tokenized = prepare(
        tmp_path / "tok", source, "alpaca", "sft", 48, 0.25, packing=True, **settings
    )
    messages = prepare(tmp_path / "msg", source, "alpaca", "sft", 48, 0.25)
    cfg = tiny_config(tmp_path / "run", base_model)
    cfg = cfg.model_copy(update={"template": None, "max_seq_length": 4096})
    td = load_data([str(tokenized)], cfg, kinds=("sft",))
    assert td.template == "chatml" and td.tokenizer.chat_template
    parquet = pq.read_table(tokenized / "t_train.parquet").to_pylist()
    assert len(parquet) < sum(len(r["seq_lengths"]) for r in parquet)  # packed
    trainer = build_trainer(cfg, td, load_model(cfg.model, cfg))
    assert collated(trainer) == records_of(parquet)
    again = load_data(
        [str(messages)],
        cfg.model_copy(update={"template": "chatml"}),
        kinds=("sft",),
        model=cfg.model,
    )
    assert records_of(again.train.to_list()) == records_of(parquet)


def test_template_tokens_added_to_the_vocabulary(
    tmp_path: Path, base_model: Path, sft_dir: Path
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from postmix.train.config import ConfigError

    cfg = tiny_config(tmp_path, base_model, max_steps=2).model_copy(
        update={"special_tokens": "add"}
    )
    run_sft(cfg, [str(sft_dir)])
    saved = AutoTokenizer.from_pretrained(tmp_path)
    end = saved.convert_tokens_to_ids("<|im_end|>")
    assert saved("<|im_end|>", add_special_tokens=False)["input_ids"] == [end]
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert model.get_input_embeddings().num_embeddings == len(saved) > end
    lora = cfg.model_copy(update={"lora": cfg.lora.model_copy(update={"enabled": True})})
    with pytest.raises(ConfigError, match="LoRA cannot train"):
        run_sft(lora.model_copy(update={"output": str(tmp_path / "lora")}), [str(sft_dir)])


def test_packed_rows_go_one_per_forward_without_flash_attention(base_model: Path) -> None:
    from types import SimpleNamespace

    from datasets import Dataset

    from postmix.train.sft import micro_batch

    cfg = tiny_config(Path("unused"), base_model, batch_size=8, grad_accum=2)
    packed = SimpleNamespace(train=Dataset.from_dict({"seq_lengths": [[3, 4], [5]]}))
    single = SimpleNamespace(train=Dataset.from_dict({"seq_lengths": [[3], [5]]}))

    def model(kernel: str) -> Any:
        return SimpleNamespace(config=SimpleNamespace(_attn_implementation=kernel))

    assert micro_batch(cfg, packed, model("sdpa")) == (1, 16)
    assert micro_batch(cfg, packed, model("flash_attention_2")) == (8, 2)
    assert micro_batch(cfg, single, model("sdpa")) == (8, 2)
