"""Loading prepared dirs and recipes for training: schemas, kinds, weighted mixing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from postmix.train.data import DataError, load_data, schema_of, trained_tokens
from postmix.train.rows import seq_lengths
from tests.conftest import shared_file
from tests.train.conftest import GSM8K, prepare, tiny_config

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def math_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """40 real GSM8K problems as SFT conversations."""
    source = shared_file(shared_data, GSM8K)
    return prepare(tmp_path_factory.mktemp("math"), source, "gsm8k", "sft", 40, 0.1)


def shares(ds) -> dict[str, float]:
    """Each source's share of the trained tokens of unpacked rows."""
    tokens = trained_tokens(ds)
    by: Counter = Counter()
    for srcs, n in zip(ds["sources"], tokens.tolist()):
        by[srcs[0]] += n
    return {k: v / tokens.sum() for k, v in by.items()}


def test_weights_are_shares_of_trained_tokens(
    tmp_path: Path, base_model: Path, sft_dir: Path, math_dir: Path
) -> None:
    cfg = tiny_config(tmp_path, base_model).model_copy(update={"packing": False})
    alone = load_data([str(sft_dir)], cfg, kinds=("sft",), model=cfg.model)
    both = load_data(
        [str(sft_dir), str(math_dir)], cfg, kinds=("sft",), weights=[0.8, 0.2], model=cfg.model
    )
    got = shares(both.train)
    assert got["alpaca_en_demo"] == pytest.approx(0.8, abs=0.05)
    assert got["train"] == pytest.approx(0.2, abs=0.05)
    assert len(both.validation) == len(alone.validation) + 4  # validation is never reweighted
    heavy = load_data(
        [str(sft_dir), str(math_dir)], cfg, kinds=("sft",), weights=[0.1, 0.9], model=cfg.model
    )
    repeats = Counter(i for ids in heavy.train["ids"] for i in ids)
    assert max(repeats.values()) > 1  # GSM8K is upsampled by repetition, as the recipe mixer does


def test_without_weights_every_dir_contributes_everything(
    tmp_path: Path, base_model: Path, sft_dir: Path, math_dir: Path
) -> None:
    cfg = tiny_config(tmp_path, base_model)
    a = load_data([str(sft_dir)], cfg, kinds=("sft",), model=cfg.model)
    b = load_data([str(math_dir)], cfg, kinds=("sft",), model=cfg.model)
    both = load_data([str(sft_dir), str(math_dir)], cfg, kinds=("sft",), model=cfg.model)
    assert (
        trained_tokens(both.train).sum()
        == trained_tokens(a.train).sum() + trained_tokens(b.train).sum()
    )


def test_a_recipe_is_prepared_under_the_output_dir(
    tmp_path: Path, base_model: Path, shared_data: Path
) -> None:
    source = shared_file(shared_data, GSM8K)
    path = tmp_path / "math.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "metadata": {"phase": "m", "kind": "sft"},
                "datasets": [
                    {
                        "name": "gsm8k",
                        "source": str(source),
                        "format_converter": "gsm8k",
                        "max_samples": 6,
                    }
                ],
            }
        )
    )
    cfg = tiny_config(tmp_path / "out", base_model)
    td = load_data([str(path)], cfg, kinds=("sft",), model=cfg.model)
    assert (tmp_path / "out" / "data" / "math" / "manifest.json").is_file()
    assert sum(len(n) for n in td.train["seq_lengths"]) == 6 and td.validation is None


def test_the_wrong_kind_is_refused(tmp_path: Path, base_model: Path, sft_dir: Path) -> None:
    cfg = tiny_config(tmp_path, base_model)
    with pytest.raises(DataError, match="preference"):
        load_data([str(sft_dir)], cfg, kinds=("preference",), model=cfg.model)
    with pytest.raises(DataError, match="neither a recipe"):
        load_data([str(tmp_path)], cfg, kinds=("sft",), model=cfg.model)


def test_schema_detection_and_record_lengths() -> None:
    assert schema_of({"input_ids": [1], "labels": [1]}) == ("tokenized", "sft")
    assert schema_of({"chosen_input_ids": [1]}) == ("tokenized", "preference")
    assert schema_of({"prompt": [], "chosen": [], "rejected": []}) == ("messages", "preference")
    assert schema_of({"prompt": [], "answer": "3"}) == ("messages", "prompt")
    with pytest.raises(DataError, match=r"output\.schema"):
        schema_of({"instruction": "x", "output": "y"})
    assert seq_lengths(np.array([0, 1, 2, 0, 1, 0])) == [3, 2, 1]
    with pytest.raises(DataError):
        seq_lengths([1, 2])
