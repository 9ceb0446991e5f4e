"""Training config: YAML errors name the path and line; CLI flags override the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from postmix.train.config import DEFAULT_LR, ConfigError, TrainConfig, load, parse, with_overrides


def test_defaults_fit_a_small_model_on_one_gpu() -> None:
    cfg = load(None)
    assert cfg.training.batch_size == 8 and cfg.max_seq_length == 1024 and cfg.packing
    assert cfg.training.bf16 is None and cfg.training.gradient_checkpointing is None
    assert cfg.learning_rate("sft") == DEFAULT_LR[("sft", False)]
    lora = cfg.model_copy(update={"lora": cfg.lora.model_copy(update={"enabled": True})})
    assert lora.learning_rate("sft") == DEFAULT_LR[("sft", True)] > cfg.learning_rate("sft")


def test_errors_name_the_yaml_path_and_line() -> None:
    text = "training:\n  batch_size: 0\n  learnin_rate: 1e-4\nlora:\n  r: -2\n"
    with pytest.raises(ConfigError) as err:
        parse(text, origin="run.yaml")
    msg = str(err.value)
    assert "run.yaml: 3 problem(s)" in msg
    assert "training.batch_size (line 2)" in msg
    assert (
        "training.learnin_rate (line 3): unknown key 'learnin_rate': did you mean 'learning_rate'?"
        in msg
    )
    assert "lora.r (line 5)" in msg


def test_file_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model: m\ntraining:\n  max_steps: 5\n  seed: 3\ndpo:\n  beta: 0.5\n")
    cfg = with_overrides(load(path), max_steps=9, learning_rate=None, lora=True, loss=["ipo"])
    assert cfg.model == "m" and cfg.training.max_steps == 9 and cfg.training.seed == 3
    assert cfg.lora.enabled and cfg.dpo.beta == 0.5 and cfg.dpo.loss == ["ipo"]


def test_bad_flag_values_name_the_flag() -> None:
    with pytest.raises(ConfigError, match="--batch-size"):
        with_overrides(TrainConfig(), batch_size=0)
