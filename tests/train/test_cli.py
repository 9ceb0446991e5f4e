"""The training commands through their CLI: flags, variadic --data/--weights/--resume, the demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from postmix.train.cli import train_app, variadic

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
REPO = Path(__file__).resolve().parents[2]


def test_variadic_options_keep_their_values() -> None:
    args = ["--data", "a", "b", "--weights", "0.4", "0.6", "--resume"]
    assert variadic(args) == {"--data": ["a", "b"], "--weights": ["0.4", "0.6"], "--resume": []}
    assert variadic(["--resume=ck/3"]) == {"--resume": ["ck/3"]}
    with pytest.raises(typer.BadParameter, match="no such option: --max-step"):
        variadic(["--max-step", "3"])
    with pytest.raises(typer.BadParameter, match="unexpected argument"):
        variadic(["stray"])


def test_sft_command_lora_merge_resume(tmp_path: Path, base_model: Path, sft_dir: Path) -> None:
    common = ["--model", str(base_model), "--template", "chatml", "--output", str(tmp_path)]
    common += ["--batch-size", "2", "--learning-rate", "0.01", "--lora", "--merge"]
    config = tmp_path / "c.yaml"
    config.write_text("max_seq_length: 128\nover_length: truncate\ntraining:\n  save_steps: 2\n")
    runner = CliRunner()
    first = runner.invoke(
        train_app,
        [
            "sft",
            *common,
            "--config",
            str(config),
            "--max-steps",
            "2",
            "--data",
            str(sft_dir),
            str(sft_dir),
            "--weights",
            "1",
            "1",
        ],
    )
    assert first.exit_code == 0, first.output
    again = runner.invoke(
        train_app,
        [
            "sft",
            *common,
            "--config",
            str(config),
            "--max-steps",
            "4",
            "--data",
            str(sft_dir),
            "--resume",
        ],
    )
    assert again.exit_code == 0, again.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["resumed_from"] == str(tmp_path / "checkpoint-2") and metrics["steps"] == 4
    assert metrics["saved"] == "merged" and (tmp_path / "adapter" / "adapter_config.json").is_file()


def test_errors_are_one_line(tmp_path: Path, base_model: Path, sft_dir: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  batch_siz: 2\n")
    result = CliRunner().invoke(
        train_app, ["sft", "--model", str(base_model), "--config", str(bad), "--data", str(sft_dir)]
    )
    assert result.exit_code == 2 and "did you mean 'batch_size'" in result.output
    result = CliRunner().invoke(
        train_app, ["dpo", "--model", str(base_model), "--data", str(sft_dir)]
    )
    assert result.exit_code == 2 and "trains on preference data" in result.output


def test_accelerate_launch_runs_sft(tmp_path: Path, base_model: Path, sft_dir: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "1"]
    cmd += ["-m", "postmix", "sft", "--model", str(base_model), "--template", "chatml"]
    cmd += [
        "--max-steps",
        "2",
        "--batch-size",
        "2",
        "--output",
        str(tmp_path),
        "--data",
        str(sft_dir),
    ]
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "metrics.json").read_text())["steps"] == 2


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    lines: list[str] = []
    from postmix.train.demo import run_demo

    metrics = run_demo(tmp_path, steps=3, say=lines.append)
    assert metrics["steps"] == 3 and metrics["eval_loss"] < metrics["eval_loss_before"]
    assert any(line.startswith("validation loss") for line in lines)
    assert any(line.startswith("sample generation") for line in lines)
    assert (tmp_path / "sft" / "model.safetensors").is_file()
