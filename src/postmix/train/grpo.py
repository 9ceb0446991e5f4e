"""`postmix grpo`: TRL's GRPOTrainer on prompt records, rewarded by name or dotted path.

Prompts stay messages: TRL renders them with the chat template postmix bound
to the tokenizer (the same template the data was prepared and the SFT model
trained with) and generates without vLLM unless `trainer_args` asks for it.
Each prompt's reference answer (`meta.answer`) reaches the reward functions
as the keywords `answer` (postmix's rewards) and `solution` (TRL's
`trl.rewards.accuracy_reward`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trl import GRPOConfig, GRPOTrainer

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
from postmix.train.data import load_data
from postmix.train.rewards import Reward, load_reward

COLUMNS = ["prompt", "answer", "solution"]


class PostmixGRPOTrainer(TrainedTokens, GRPOTrainer):
    """GRPOTrainer that counts the completion tokens it trains on."""


def reward_functions(cfg: TrainConfig) -> tuple[list[Reward], list[float]]:
    """The configured rewards and their weights; the length penalty's limit defaults to
    the completion budget."""
    funcs, weights = [], []
    for spec in cfg.grpo.reward_specs():
        options = dict(spec.options)
        if spec.name == "length_penalty":
            options.setdefault("limit", cfg.grpo.max_completion_length)
        funcs.append(load_reward(spec.name, options))
        weights.append(spec.weight)
    return funcs, weights


def run_grpo(
    cfg: TrainConfig,
    data: list[str],
    *,
    weights: list[float] | None = None,
    resume: str | None = None,
) -> dict[str, Any]:
    """Generate, reward, update; returns (and writes) metrics.json."""
    if cfg.model is None:
        raise ValueError("grpo needs --model")
    out = Path(cfg.output)
    td = load_data(data, cfg, kinds=("prompt",), weights=weights, model=cfg.model)
    model = load_model(cfg.model, cfg)
    new_tokens = fit_vocab(model, td.tokenizer)
    funcs, reward_weights = reward_functions(cfg)
    g = cfg.grpo
    args = GRPOConfig(
        **trainer_args(cfg, "grpo", evaluate=False),
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        temperature=g.temperature,
        beta=g.beta,
        loss_type=g.loss_type,
        reward_weights=reward_weights,
    )
    trainer = PostmixGRPOTrainer(
        model=model,
        reward_funcs=funcs,
        args=args,
        train_dataset=td.train.select_columns(COLUMNS),
        processing_class=td.tokenizer,
        peft_config=lora_config(cfg, new_tokens) if cfg.lora.enabled else None,
    )
    metrics: dict[str, Any] = {
        "command": "grpo",
        "model": cfg.model,
        "lora": cfg.lora.enabled,
        "rewards": [f.__name__ for f in funcs],
        "data": td.stats,
    }
    metrics.update(train(trainer, resume_checkpoint(resume, out)))
    metrics["reward"] = last_logged(trainer, "reward")
    for f in funcs:
        metrics[f"rewards/{f.__name__}/mean"] = last_logged(trainer, f"rewards/{f.__name__}/mean")
    metrics["saved"] = save_final(trainer, cfg, td.tokenizer)
    if trainer.is_world_process_zero():
        write_metrics(out, metrics)
    return metrics
