"""Code inside a tokenizer or model dir never runs (issue 10, item 6).

transformers asks "run custom code? [y/N]" for a dir whose config has `auto_map`
unless `trust_remote_code` is given; `yes | postmix ...` used to answer it. Every
load passes `trust_remote_code=False`, and a dir that needs its own code is an
error saying so. The dirs here carry a Python file that would write a marker.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.tiny import bpe_tokenizer

REPO = Path(__file__).resolve().parents[2]

EVIL = textwrap.dedent(
    """
    from pathlib import Path
    Path({marker!r}).write_text("custom code ran")
    from transformers import PreTrainedTokenizerFast, PretrainedConfig, PreTrainedModel

    class EvilTokenizer(PreTrainedTokenizerFast):
        pass

    class EvilConfig(PretrainedConfig):
        model_type = "evil"

    class EvilModel(PreTrainedModel):
        config_class = EvilConfig
    """
)


def plant(directory: Path, marker: Path, config_name: str, auto_map: dict[str, object]) -> None:
    """Point `config_name`'s auto_map at evil.py, which writes `marker` when imported."""
    (directory / "evil.py").write_text(EVIL.format(marker=str(marker)))
    path = directory / config_name
    config = json.loads(path.read_text()) if path.exists() else {}
    config["auto_map"] = auto_map
    if config_name == "tokenizer_config.json":
        config["tokenizer_class"] = "EvilTokenizer"
    else:
        config["model_type"] = "evil"
        config["architectures"] = ["EvilModel"]
    path.write_text(json.dumps(config))


def run(code: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter with "y" answered to every prompt on stdin."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        input="y\n" * 20,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tok")
    bpe_tokenizer(directory)
    return directory


def test_tokenizer_with_auto_map_is_refused_and_its_code_never_runs(
    tok_dir: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran.txt"
    auto = {"AutoTokenizer": ["evil.EvilTokenizer", "evil.EvilTokenizer"]}
    plant(tok_dir, marker, "tokenizer_config.json", auto)
    got = run(f"from postmix.tokenizer import load_tokenizer; load_tokenizer({str(tok_dir)!r})")
    assert not marker.exists(), "the tokenizer dir's Python code ran"
    assert got.returncode != 0
    assert "custom code" in got.stderr and str(tok_dir) in got.stderr


def test_model_with_auto_map_is_refused_and_its_code_never_runs(
    tok_dir: Path, tmp_path: Path
) -> None:
    from tests.tiny_models import save_model, tiny_llama

    model_dir = tmp_path / "model"
    clean_tok = tmp_path / "clean_tok"
    tok = bpe_tokenizer(clean_tok)
    save_model(tiny_llama(tok), tok, model_dir)
    marker = tmp_path / "ran.txt"
    plant(
        model_dir,
        marker,
        "config.json",
        {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"},
    )
    code = (
        "from postmix.train.common import load_model; from postmix.train.config import TrainConfig;"
        f"load_model({str(model_dir)!r}, TrainConfig())"
    )
    got = run(code)
    assert not marker.exists(), "the model dir's Python code ran"
    assert got.returncode != 0
    assert "custom code" in got.stderr and str(model_dir) in got.stderr
