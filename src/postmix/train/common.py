"""What every command shares: devices, models, LoRA, TRL arguments, checkpoints, outputs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from postmix.train.config import ConfigError, Method, TrainConfig

ADAPTER_CONFIG = "adapter_config.json"
METRICS = "metrics.json"


def has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def precision(cfg: TrainConfig) -> tuple[bool, bool]:
    """(bf16, gradient_checkpointing): as configured, else on for a GPU and off on a CPU.

    TRL turns both on by default, also on a CPU, where they slow small models down.
    """
    import torch

    gpu = has_gpu()
    t = cfg.training
    bf16 = t.bf16 if t.bf16 is not None else gpu and torch.cuda.is_bf16_supported()
    ckpt = t.gradient_checkpointing if t.gradient_checkpointing is not None else gpu
    return bf16, ckpt


def is_adapter(spec: str | Path) -> bool:
    return (Path(spec) / ADAPTER_CONFIG).is_file()


def model_path(spec: str) -> str:
    """An existing local path made absolute (so an adapter's base pointer works from anywhere)."""
    path = Path(spec)
    return str(path.resolve()) if path.exists() else spec


def load_model(spec: str, cfg: TrainConfig, *, merge_adapter: bool = True) -> Any:
    """A causal LM from a dir or hub id; an adapter dir loads on its base (merged by default).

    QLoRA (`lora.qlora`) loads the base in 4 bits through bitsandbytes.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from postmix.remote_code import refuse_remote_code

    if is_adapter(spec):
        from peft import AutoPeftModelForCausalLM

        with refuse_remote_code(spec):
            model = AutoPeftModelForCausalLM.from_pretrained(
                model_path(spec), dtype=torch.float32, trust_remote_code=False
            )
        return model.merge_and_unload() if merge_adapter else model
    kwargs: dict[str, Any] = {"dtype": torch.float32, "trust_remote_code": False}
    if cfg.attn_implementation:
        kwargs["attn_implementation"] = cfg.attn_implementation
    if cfg.lora.enabled and cfg.lora.qlora:
        from transformers import BitsAndBytesConfig

        if not has_gpu():
            raise ValueError("lora.qlora needs a GPU (bitsandbytes 4-bit)")
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True,
        )
    with refuse_remote_code(spec):
        return AutoModelForCausalLM.from_pretrained(model_path(spec), **kwargs)


def fit_vocab(model: Any, tok: Any) -> list[int]:
    """Grow the embeddings to the tokenizer (template tokens added); the new ids."""
    have = model.get_input_embeddings().num_embeddings
    if len(tok) <= have:
        return []
    model.resize_token_embeddings(len(tok))
    return list(range(have, len(tok)))


def lora_config(cfg: TrainConfig, new_tokens: list[int]) -> Any:
    """PEFT LoRA settings.

    Tokens the template added to the tokenizer start with random embeddings
    that LoRA cannot train (PEFT's trainable-token rows break TRL's fused LM
    head on tied embeddings), so that combination is refused.
    """
    from peft import LoraConfig

    if new_tokens:
        raise ConfigError(
            f"the template added {len(new_tokens)} tokens whose embeddings LoRA cannot train: "
            "use special_tokens: text, a tokenizer that has them, or full fine-tuning"
        )
    lo = cfg.lora
    return LoraConfig(
        r=lo.r,
        lora_alpha=lo.alpha,
        lora_dropout=lo.dropout,
        target_modules=lo.target_modules,
        task_type="CAUSAL_LM",
    )


def checkpointing_arg() -> str:
    """transformers' name for activation checkpointing: `activation_checkpointing` where it
    exists (5.2x: `gradient_checkpointing` is a deprecated alias that warns), else the old."""
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    return (
        "activation_checkpointing"
        if "activation_checkpointing" in names
        else ("gradient_checkpointing")
    )


def trainer_args(cfg: TrainConfig, method: Method, *, evaluate: bool) -> dict[str, Any]:
    """Keyword arguments shared by SFTConfig, DPOConfig and GRPOConfig.

    Pinned memory only helps a GPU (torch warns about it everywhere else), and
    checkpointing goes by transformers' current name, so postmix's own arguments
    cause no warning.
    """
    t = cfg.training
    bf16, ckpt = precision(cfg)
    periodic = evaluate and t.eval_steps is not None
    args: dict[str, Any] = {
        "output_dir": cfg.output,
        "max_steps": t.max_steps,
        "num_train_epochs": t.epochs,
        "learning_rate": cfg.learning_rate(method),
        "per_device_train_batch_size": t.batch_size,
        "per_device_eval_batch_size": t.batch_size,
        "gradient_accumulation_steps": t.grad_accum,
        "seed": t.seed,
        "warmup_steps": t.warmup,
        "lr_scheduler_type": t.lr_scheduler,
        "weight_decay": t.weight_decay,
        "max_grad_norm": t.max_grad_norm,
        "logging_steps": t.logging_steps,
        "logging_first_step": True,
        "save_strategy": "steps",
        "save_steps": t.save_steps,
        "save_total_limit": t.save_total_limit,
        "eval_strategy": "steps" if periodic else "no",
        "eval_steps": t.eval_steps if periodic else None,
        "bf16": bf16,
        checkpointing_arg(): ckpt,
        "report_to": t.report_to,
        "dataloader_num_workers": t.dataloader_num_workers,
        "dataloader_pin_memory": has_gpu(),
    }
    args.update(cfg.trainer_args)
    return args


def resume_checkpoint(resume: str | None, output: Path) -> str | None:
    """`--resume` alone ("last"): the newest `checkpoint-*` in the output dir; else the path."""
    from transformers.trainer_utils import get_last_checkpoint

    if resume is None:
        return None
    if resume == "last":
        last = get_last_checkpoint(str(output)) if output.is_dir() else None
        if last is None:
            raise FileNotFoundError(f"--resume: no checkpoint-* in {output}")
        return last
    if not Path(resume).is_dir():
        raise FileNotFoundError(f"--resume: no checkpoint at {resume}")
    return resume


class TrainedTokens:
    """Mixin for a TRL trainer: counts the tokens that carry loss, for tokens/s.

    SFT batches mark them in `labels` (shifted by one, as the loss reads them);
    DPO and GRPO in `completion_mask`.
    """

    trained_tokens: int = 0

    def compute_loss(self, model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if model.training:
            if "labels" in inputs:
                n = (inputs["labels"][:, 1:] != -100).sum()
            else:
                n = inputs["completion_mask"].sum()
            self.trained_tokens += int(self.accelerator.gather_for_metrics(n.reshape(1)).sum())
        return super().compute_loss(model, inputs, *args, **kwargs)


def last_logged(trainer: Any, key: str) -> float | None:
    """The last value of `key` in the trainer's log history."""
    for entry in reversed(trainer.state.log_history):
        if key in entry:
            return float(entry[key])
    return None


def train(trainer: Any, resume: str | None) -> dict[str, Any]:
    """Run the trainer; the run's own numbers (what every metrics.json reports)."""
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - started
    tokens = getattr(trainer, "trained_tokens", 0)
    return {
        "train_loss": last_logged(trainer, "loss"),
        "train_loss_mean": round(float(result.training_loss), 6),
        "steps": int(trainer.state.global_step),
        "trained_tokens": int(tokens),
        "input_tokens": last_logged(trainer, "num_tokens"),
        "tokens_per_second": round(tokens / seconds, 2) if seconds > 0 else None,
        "train_seconds": round(seconds, 3),
        "resumed_from": resume,
    }


def save_final(trainer: Any, cfg: TrainConfig, tok: Any) -> str:
    """The final model at the top of the output dir, with the tokenizer and its chat template.

    LoRA: the adapter (its config points at the base), or with `merge` the
    merged model on top and the adapter in `adapter/`.
    """
    from peft import PeftModel

    out = Path(cfg.output)
    model = trainer.accelerator.unwrap_model(trainer.model)
    if cfg.merge and isinstance(model, PeftModel):
        trainer.save_model(str(out / "adapter"))
        if trainer.is_world_process_zero():
            model.merge_and_unload().save_pretrained(str(out))
            tok.save_pretrained(str(out))
        return "merged"
    trainer.save_model(str(out))  # the trainer saves its processing class (the tokenizer) too
    return "adapter" if isinstance(model, PeftModel) else "full"


def write_metrics(out: Path, metrics: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / METRICS
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
