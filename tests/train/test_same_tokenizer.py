"""Trainers take `--template` / `--tokenizer` equal to the tokenized data's, refuse others."""

from __future__ import annotations

from pathlib import Path

import pytest

from postmix.train.data import DataError, load_data
from tests.outputs import build
from tests.tiny import bpe_tokenizer
from tests.train.conftest import tiny_config

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, tok_dir: Path) -> Path:
    tmp = tmp_path_factory.mktemp("same")
    return build(tmp, "sft", "tokenized", "parquet", tokenizer=str(tok_dir), template="chatml")[0]


def test_the_datas_own_template_and_tokenizer_are_accepted(
    tmp_path: Path, data: Path, tok_dir: Path, base_model: Path
) -> None:
    cfg = tiny_config(tmp_path, base_model)  # template: chatml, as prepared
    assert load_data([str(data)], cfg, kinds=("sft",)).template == "chatml"
    same = cfg.model_copy(update={"tokenizer": str(tok_dir)})
    assert len(load_data([str(data)], same, kinds=("sft",)).train) > 0
    copy = cfg.model_copy(update={"tokenizer": str(data / "tokenizer")})
    assert len(load_data([str(data)], copy, kinds=("sft",)).train) > 0


def test_a_conflicting_template_or_tokenizer_names_both(
    tmp_path: Path, data: Path, base_model: Path
) -> None:
    cfg = tiny_config(tmp_path, base_model).model_copy(update={"template": "llama3"})
    with pytest.raises(DataError, match=r"--template llama3 conflicts with .*template chatml"):
        load_data([str(data)], cfg, kinds=("sft",))
    other = tmp_path / "other"
    bpe_tokenizer(other, vocab_size=1000)
    cfg = cfg.model_copy(update={"template": None, "tokenizer": str(other)})
    with pytest.raises(DataError, match=rf"--tokenizer {other} conflicts with .*tokenizer"):
        load_data([str(data)], cfg, kinds=("sft",))
