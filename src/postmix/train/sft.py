"""`postmix sft`: TRL's SFTTrainer on postmix's tokenized rows, full fine-tuning or LoRA.

The rows go in as `input_ids` + `labels` + per-record `seq_lengths`; TRL sees
labels already there and leaves them alone, and its padding-free collator lays
the rows of a batch end to end with position ids restarting at every record
and no attention mask (`padding_free=True`, `packing=False`: the rows are
packed already, by postmix, and TRL must not pack them again). Without
flash-attention, packed rows go one per forward and accumulate (`micro_batch`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from trl import SFTConfig, SFTTrainer

from postmix.train.common import (
    TrainedTokens,
    fit_vocab,
    load_model,
    lora_config,
    resume_checkpoint,
    save_final,
    train,
    trainer_args,
    write_metrics,
)
from postmix.train.config import TrainConfig
from postmix.train.data import LM_KINDS, TrainData, load_data
from postmix.train.evaluate import GENERATIONS, gen_prompts, generate, lm_metrics, write_jsonl

COLUMNS = ["input_ids", "labels", "seq_lengths"]
# TRL's advice for padding-free batches of one row; postmix's rows are packed already
# (`micro_batch`), so one row per forward is the point, not a mistake.
ONE_ROW = "per_device_train_batch_size of 1 with padding-free"


@contextmanager
def without_warning(logger: str, text: str) -> Iterator[None]:
    """Drop `logger`'s records containing `text` while the block runs."""

    def keep(record: logging.LogRecord) -> bool:
        return text not in record.getMessage()

    target = logging.getLogger(logger)
    target.addFilter(keep)
    try:
        yield
    finally:
        target.removeFilter(keep)


class PostmixSFTTrainer(TrainedTokens, SFTTrainer):
    """SFTTrainer that counts the tokens it trains on."""


def micro_batch(cfg: TrainConfig, td: TrainData, model: Any) -> tuple[int, int]:
    """(rows per forward, accumulation steps) for `batch_size` rows per optimizer step.

    A padding-free batch is one sequence. Flash-attention's varlen kernels attend
    within each record of it; other kernels (sdpa, eager) attend across the whole
    sequence through a block-diagonal mask, at a cost quadratic in its length. So
    packed rows (already about `max_seq_length` long) go one per forward and
    accumulate: the same optimizer step (the loss is normalized over every
    accumulated token), without attention over batch_size x max_seq_length.
    """
    t = cfg.training
    kernel = model.config._attn_implementation or ""
    packed = any(len(n) > 1 for n in td.train[:256]["seq_lengths"])
    if packed and "flash" not in kernel:
        return 1, t.batch_size * t.grad_accum
    return t.batch_size, t.grad_accum


def build_trainer(cfg: TrainConfig, td: TrainData, model: Any) -> PostmixSFTTrainer:
    """SFTTrainer over the prepared rows as they are (no re-tokenizing, no re-packing)."""
    new_tokens = fit_vocab(model, td.tokenizer)
    periodic = td.validation is not None and cfg.training.eval_steps is not None
    args = trainer_args(cfg, "sft", evaluate=periodic)
    if "per_device_train_batch_size" not in cfg.trainer_args:
        rows, accumulate = micro_batch(cfg, td, model)
        args.update(per_device_train_batch_size=rows, gradient_accumulation_steps=accumulate)
    args = SFTConfig(**args, padding_free=True, packing=False, max_length=None)
    with without_warning("trl.trainer.sft_trainer", ONE_ROW):
        return PostmixSFTTrainer(
            model=model,
            args=args,
            train_dataset=td.train.select_columns(COLUMNS),
            eval_dataset=td.validation.select_columns(COLUMNS) if periodic else None,
            processing_class=td.tokenizer,
            peft_config=lora_config(cfg, new_tokens) if cfg.lora.enabled else None,
        )


def validation_metrics(trainer: Any, td: TrainData, cfg: TrainConfig) -> dict[str, Any]:
    """Response-only loss on the validation split (TRL's evaluate when several processes share
    a possibly sharded model, postmix's per-source evaluation otherwise)."""
    if td.validation is None:
        return {}
    if trainer.accelerator.num_processes > 1:
        return {"eval_loss": trainer.evaluate(td.validation.select_columns(COLUMNS))["eval_loss"]}
    model = trainer.accelerator.unwrap_model(trainer.model)
    m = lm_metrics(model, td.validation, cfg.eval.batch_tokens or cfg.max_seq_length)
    return {
        "eval_loss": m["loss"],
        "eval_perplexity": m["perplexity"],
        "eval_tokens": m["tokens"],
        "per_source": m["per_source"],
    }


def gen_test(trainer: Any, td: TrainData, cfg: TrainConfig) -> str | None:
    """Generate for a few validation prompts and write them next to the model (one process:
    a model sharded over several cannot generate on one)."""
    if not cfg.gen_test or trainer.accelerator.num_processes > 1:
        return None
    ds = td.validation if td.validation is not None else td.train
    model = trainer.accelerator.unwrap_model(trainer.model)
    rows = generate(
        model, td.tokenizer, gen_prompts(ds, td.kind, cfg.gen_test), cfg.eval.max_new_tokens
    )
    return str(write_jsonl(Path(cfg.output) / GENERATIONS, rows))


def run_sft(
    cfg: TrainConfig,
    data: list[str],
    *,
    weights: list[float] | None = None,
    resume: str | None = None,
    eval_before: bool = False,
) -> dict[str, Any]:
    """Train, evaluate, save; returns (and writes) metrics.json."""
    if cfg.model is None:
        raise ValueError("sft needs --model")
    out = Path(cfg.output)
    td = load_data(data, cfg, kinds=LM_KINDS, weights=weights, model=cfg.model)
    model = load_model(cfg.model, cfg)
    metrics: dict[str, Any] = {
        "command": "sft",
        "model": cfg.model,
        "lora": cfg.lora.enabled,
        "template": td.template,
        "data": td.stats,
    }
    trainer = build_trainer(cfg, td, model)
    if eval_before and td.validation is not None:
        metrics["eval_loss_before"] = validation_metrics(trainer, td, cfg)["eval_loss"]
    metrics.update(train(trainer, resume_checkpoint(resume, out)))
    metrics.update(validation_metrics(trainer, td, cfg))
    metrics["generations"] = gen_test(trainer, td, cfg)
    metrics["saved"] = save_final(trainer, cfg, td.tokenizer)
    if trainer.is_world_process_zero():
        write_metrics(out, metrics)
    return metrics
