"""`postmix dpo`: TRL's DPOTrainer on postmix's preference pairs.

Pairs arrive as `prompt_ids` / `chosen_ids` / `rejected_ids` (the keys of
TRL's DPO collator), tokenized by postmix over one shared prompt. The
reference model is TRL's: with LoRA the adapter-disabled policy, else a frozen
copy of the starting model (the SFT model, with its adapter merged when it
was one).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from trl import DPOConfig, DPOTrainer

from postmix.train.common import (
    TrainedTokens,
    fit_vocab,
    last_logged,
    load_model,
    lora_config,
    resume_checkpoint,
    save_final,
    train,
    trainer_args,
    write_metrics,
)
from postmix.train.config import TrainConfig
from postmix.train.data import TrainData, load_data

COLUMNS = ["prompt_ids", "chosen_ids", "rejected_ids"]


class PostmixDPOTrainer(TrainedTokens, DPOTrainer):
    """DPOTrainer that takes postmix's token ids as they are and counts trained tokens."""

    def _prepare_dataset(self, dataset: Any, *args: Any, **kwargs: Any) -> Any:
        if set(COLUMNS) <= set(dataset.column_names):
            return dataset
        return super()._prepare_dataset(dataset, *args, **kwargs)


def build_trainer(cfg: TrainConfig, td: TrainData, model: Any) -> PostmixDPOTrainer:
    new_tokens = fit_vocab(model, td.tokenizer)
    periodic = td.validation is not None and cfg.training.eval_steps is not None
    args = DPOConfig(
        **trainer_args(cfg, "dpo", evaluate=periodic),
        beta=cfg.dpo.beta,
        loss_type=cfg.dpo.loss,
        max_length=cfg.max_seq_length,
    )
    lora = cfg.lora.enabled
    return PostmixDPOTrainer(
        model=model,
        ref_model=None if lora else copy.deepcopy(model).eval(),
        args=args,
        train_dataset=td.train.select_columns(COLUMNS),
        eval_dataset=td.validation.select_columns(COLUMNS) if periodic else None,
        processing_class=td.tokenizer,
        peft_config=lora_config(cfg, new_tokens) if lora else None,
    )


def validation_metrics(trainer: Any, td: TrainData) -> dict[str, Any]:
    """TRL's own evaluation on the validation pairs: DPO loss, reward accuracy and margin."""
    if td.validation is None:
        return {}
    logs = trainer.evaluate(td.validation.select_columns(COLUMNS))
    keys = ("eval_loss", "eval_rewards/accuracies", "eval_rewards/margins")
    return {k: logs[k] for k in keys if k in logs}


def run_dpo(
    cfg: TrainConfig,
    data: list[str],
    *,
    weights: list[float] | None = None,
    resume: str | None = None,
) -> dict[str, Any]:
    """Train on pairs, evaluate, save; returns (and writes) metrics.json."""
    if cfg.model is None:
        raise ValueError("dpo needs --model (the SFT model)")
    out = Path(cfg.output)
    td = load_data(data, cfg, kinds=("preference",), weights=weights, model=cfg.model)
    trainer = build_trainer(cfg, td, load_model(cfg.model, cfg))
    metrics: dict[str, Any] = {
        "command": "dpo",
        "model": cfg.model,
        "lora": cfg.lora.enabled,
        "beta": cfg.dpo.beta,
        "loss_type": cfg.dpo.loss,
        "data": td.stats,
    }
    metrics.update(train(trainer, resume_checkpoint(resume, out)))
    for key in ("rewards/accuracies", "rewards/margins", "rewards/chosen", "rewards/rejected"):
        metrics[key] = last_logged(trainer, key)
    metrics.update(validation_metrics(trainer, td))
    metrics["saved"] = save_final(trainer, cfg, td.tokenizer)
    if trainer.is_world_process_zero():
        write_metrics(out, metrics)
    return metrics
