"""Training test fixtures: a tiny tokenizer and model, and real rows prepared by postmix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from postmix import recipe
from postmix.prepare import prepare as run_prepare
from postmix.train.config import EvalSettings, TrainConfig, Training
from tests.conftest import shared_file
from tests.tiny import bpe_tokenizer
from tests.tiny_models import save_model, tiny_llama, tiny_qwen2

ALPACA = "hiyouga__LLaMA-Factory/alpaca_en_demo.json"
PAIRS = "hiyouga__LLaMA-Factory/dpo_en_demo.json"
GSM8K = "openai__grade-school-math/train.jsonl"


def prepare(
    out: Path,
    source: Path,
    converter: str,
    kind: str,
    n: int,
    ratio: float,
    **tokenized: Any,
) -> Path:
    """`postmix prepare` on the first rows of one real file: messages JSONL, or with
    `tokenized` settings (tokenizer, template, packing, ...) the tokenized Parquet schema."""
    output = {"dir": str(out), "schema": "messages", "file_format": "jsonl"}
    if tokenized:
        output.update(schema="tokenized", file_format="parquet")
    text = yaml.safe_dump(
        {
            "metadata": {"phase": "t", "kind": kind},
            **tokenized,
            "datasets": [
                {
                    "name": source.stem,
                    "source": str(source),
                    "format_converter": converter,
                    "max_samples": n,
                }
            ],
            "validation": {"ratio": ratio, "seed": 1},
            "output": output,
        }
    )
    run_prepare(recipe.parse(text), out, num_proc=1, progress=False)
    return out


@pytest.fixture(scope="session")
def tok_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tok")
    bpe_tokenizer(out)
    return out


@pytest.fixture(scope="session")
def tok(tok_dir: Path) -> Any:
    from postmix.tokenizer import load_tokenizer

    return load_tokenizer(str(tok_dir))


@pytest.fixture(scope="session")
def base_model(tmp_path_factory: pytest.TempPathFactory, tok: Any) -> Path:
    """A ~1M-parameter Llama with random weights, saved with its tokenizer."""
    return save_model(tiny_llama(tok), tok, tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="session")
def qwen_model(tmp_path_factory: pytest.TempPathFactory, tok: Any) -> Path:
    """The same size in Qwen2's shape (biased q/k/v projections)."""
    return save_model(tiny_qwen2(tok), tok, tmp_path_factory.mktemp("qwen"))


@pytest.fixture(scope="session")
def sft_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """48 real Alpaca records (12 held out for validation)."""
    source = shared_file(shared_data, ALPACA)
    return prepare(tmp_path_factory.mktemp("sft"), source, "alpaca", "sft", 48, 0.25)


@pytest.fixture(scope="session")
def pairs_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """24 real preference pairs from LLaMA-Factory's DPO demo (4 held out)."""
    source = shared_file(shared_data, PAIRS)
    return prepare(
        tmp_path_factory.mktemp("pairs"), source, "sharegpt_preference", "preference", 24, 0.15
    )


@pytest.fixture(scope="session")
def prompts_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """8 real GSM8K questions as prompt records with their reference answers."""
    source = shared_file(shared_data, GSM8K)
    return prepare(tmp_path_factory.mktemp("prompts"), source, "gsm8k", "prompt", 8, 0.0)


def tiny_config(out: Path, model: Path, **training: Any) -> TrainConfig:
    """Settings that make a 1M-parameter model learn within a few CPU steps."""
    settings = {
        "max_steps": 8,
        "batch_size": 2,
        "learning_rate": 3e-3,
        "warmup": 0,
        "logging_steps": 1,
        "save_steps": 1000,
        **training,
    }
    return TrainConfig(
        model=str(model),
        template="chatml",
        max_seq_length=256,
        over_length="truncate",
        output=str(out),
        training=Training(**settings),
        eval=EvalSettings(max_new_tokens=8, generations=2),
    )


def logged(log_history: list[dict[str, Any]], key: str) -> list[float]:
    return [float(e[key]) for e in log_history if key in e]
