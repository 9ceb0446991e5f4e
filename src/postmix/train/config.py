"""Training config: YAML validated like a recipe (errors name the YAML path and line).

Every field has a default that works for a small model on one GPU; the CLI's
common flags (`--max-steps`, `--learning-rate`, ...) override the file.
`trainer_args` passes any other TRL / `TrainingArguments` field through as is
(`deepspeed`, `fsdp`, `optim`, `torch_compile`, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from postmix.recipe.load import _format_errors, _line_map

Method = Literal["sft", "dpo", "grpo"]

# Learning rates by (method, lora): full fine-tuning moves every weight, so it
# takes a smaller step than an adapter; preference and RL steps are smaller still.
DEFAULT_LR: dict[tuple[str, bool], float] = {
    ("sft", False): 2e-5,
    ("sft", True): 2e-4,
    ("dpo", False): 1e-6,
    ("dpo", True): 5e-6,
    ("grpo", False): 1e-6,
    ("grpo", True): 1e-5,
}

# CLI flag -> path in the config: the flags every command shares.
OVERRIDES: dict[str, tuple[str, ...]] = {
    "model": ("model",),
    "tokenizer": ("tokenizer",),
    "template": ("template",),
    "output": ("output",),
    "lora": ("lora", "enabled"),
    "merge": ("merge",),
    "max_steps": ("training", "max_steps"),
    "epochs": ("training", "epochs"),
    "learning_rate": ("training", "learning_rate"),
    "batch_size": ("training", "batch_size"),
    "grad_accum": ("training", "grad_accum"),
    "seed": ("training", "seed"),
    "report_to": ("training", "report_to"),
    "beta": ("dpo", "beta"),
    "loss": ("dpo", "loss"),
    "rewards": ("grpo", "rewards"),
    "verify": ("verify",),
}


class ConfigError(ValueError):
    """A config mistake, formatted with YAML paths and lines."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSettings(Strict):
    enabled: bool = False
    r: int = Field(default=16, gt=0)
    alpha: int = Field(default=32, gt=0)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"
    qlora: bool = False  # 4-bit base through bitsandbytes; needs a GPU


class Training(Strict):
    max_steps: int = -1  # -1: run `epochs`
    epochs: float = Field(default=1.0, gt=0)
    learning_rate: float | None = Field(default=None, gt=0)  # None: DEFAULT_LR
    batch_size: int = Field(default=8, gt=0)
    grad_accum: int = Field(default=1, gt=0)
    seed: int = 42
    warmup: float = Field(default=0.03, ge=0)  # a share of the steps below 1, else steps
    lr_scheduler: str = "cosine"
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    logging_steps: int = Field(default=10, gt=0)
    save_steps: int = Field(default=500, gt=0)
    save_total_limit: int | None = Field(default=2, gt=0)
    eval_steps: int | None = Field(default=None, gt=0)  # None: evaluate once, at the end
    bf16: bool | None = None  # None: on for a GPU with bf16, off on a CPU
    gradient_checkpointing: bool | None = None  # None: on for a GPU, off on a CPU
    report_to: str | list[str] = "none"
    dataloader_num_workers: int = Field(default=0, ge=0)


class DPOSettings(Strict):
    beta: float = Field(default=0.1, gt=0)
    loss: list[str] = Field(default_factory=lambda: ["sigmoid"])


class RewardSpec(Strict):
    name: str  # a built-in reward (postmix.train.rewards) or a dotted path `pkg.module:function`
    weight: float = 1.0
    options: dict[str, Any] = Field(default_factory=dict)


class GRPOSettings(Strict):
    rewards: list[str | RewardSpec] = Field(default_factory=lambda: ["math_answer"])
    num_generations: int = Field(default=4, ge=2)
    max_completion_length: int = Field(default=256, gt=0)
    temperature: float = Field(default=1.0, gt=0)
    beta: float = Field(default=0.0, ge=0)
    loss_type: str = "dapo"

    def reward_specs(self) -> list[RewardSpec]:
        return [RewardSpec(name=r) if isinstance(r, str) else r for r in self.rewards]


class EvalSettings(Strict):
    # Tokens per padding-free forward (whole rows); None: max_seq_length. Without
    # flash-attention the cost of a forward grows with the square of its length.
    batch_tokens: int | None = Field(default=None, gt=0)
    generations: int = Field(default=8, ge=0)  # validation prompts to generate for
    max_new_tokens: int = Field(default=128, gt=0)
    lm_eval_tasks: list[str] = Field(default_factory=list)


class TrainConfig(Strict):
    model: str | None = None
    # transformers' attention kernel; flash_attention_2 makes padding-free rows attend per
    # record (varlen) instead of through a block-diagonal mask over the whole batch.
    attn_implementation: str | None = None
    tokenizer: str | None = None  # None: the data's tokenizer, else the model's
    template: str | None = None  # None: the recipe's, else the tokenizer's own, else chatml
    special_tokens: Literal["text", "add"] = "text"
    train_on: Literal["all_assistant", "last_assistant", "all"] = "all_assistant"
    max_seq_length: int = Field(default=1024, gt=0)
    over_length: Literal["drop", "truncate", "error"] = "drop"
    packing: bool = True
    output: str = "out/train"
    merge: bool = False
    gen_test: int = Field(default=0, ge=0)  # validation prompts to generate for after training
    verify: bool = True  # check prepared dirs against their manifests (--no-verify: off)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    training: Training = Field(default_factory=Training)
    dpo: DPOSettings = Field(default_factory=DPOSettings)
    grpo: GRPOSettings = Field(default_factory=GRPOSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    trainer_args: dict[str, Any] = Field(default_factory=dict)

    def learning_rate(self, method: Method) -> float:
        lr = self.training.learning_rate
        return DEFAULT_LR[(method, self.lora.enabled)] if lr is None else lr


def parse(text: str, *, origin: str = "<config>") -> TrainConfig:
    """Validate a config's YAML text; raise ConfigError listing every mistake."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: a training config is a mapping")
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        problems = _format_errors(exc, (), _line_map(text), TrainConfig)
        raise ConfigError(
            f"{origin}: {len(problems)} problem(s)\n  " + "\n  ".join(problems)
        ) from exc


def load(path: str | Path | None) -> TrainConfig:
    """The config file at `path`, or the defaults when there is none."""
    if path is None:
        return TrainConfig()
    return parse(Path(path).read_text(encoding="utf-8"), origin=str(path))


def with_overrides(cfg: TrainConfig, **flags: Any) -> TrainConfig:
    """`cfg` with the CLI flags that were given (not None) written over it, validated again."""
    data = cfg.model_dump()
    given = {k: v for k, v in flags.items() if v is not None}
    for name, value in given.items():
        *parents, leaf = OVERRIDES[name]
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        flag = {".".join(path): name for name, path in OVERRIDES.items()}
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            lines.append(f"--{flag.get(where, where).replace('_', '-')}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from exc
