"""An output dir is reused only while everything that decides it is unchanged."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

from postmix.prepare import prepare
from postmix.recipe import parse
from tests.test_pipeline import alpaca_rows, write_jsonl
from tests.tiny import bpe_tokenizer


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Any]:
    write_jsonl(tmp_path / "a.jsonl", alpaca_rows(20))
    bpe_tokenizer(tmp_path / "tok")
    return {
        "tokenizer": str(tmp_path / "tok"),
        "template": "chatml",
        "datasets": [{"name": "a", "source": str(tmp_path / "a.jsonl")}],
        "output": {"schema": "tokenized", "file_format": "parquet"},
    }


def run(tmp: Path, doc: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    recipe = parse(yaml.safe_dump(doc))
    return prepare(recipe, tmp / "out", num_proc=1, progress=False, report=False, **kwargs)


def test_unchanged_inputs_reuse_the_output(tmp_path: Path, setup: dict[str, Any]) -> None:
    first = run(tmp_path, setup)
    assert not first.get("reused")
    again = run(tmp_path, setup)
    assert again["reused"] and again["fingerprint"] == first["fingerprint"]
    assert not run(tmp_path, setup, force=True).get("reused")


def test_a_changed_source_byte_rebuilds(tmp_path: Path, setup: dict[str, Any]) -> None:
    first = run(tmp_path, setup)
    src = tmp_path / "a.jsonl"
    data = bytearray(src.read_bytes())
    data[data.index(b"answer 3")] = ord("A")  # same size, one byte
    src.write_bytes(bytes(data))
    second = run(tmp_path, setup)
    assert not second.get("reused") and second["fingerprint"] != first["fingerprint"]


def test_a_changed_tokenizer_file_rebuilds(tmp_path: Path, setup: dict[str, Any]) -> None:
    first = run(tmp_path, setup)
    config = tmp_path / "tok" / "tokenizer_config.json"
    config.write_text(config.read_text().replace("}", ', "model_max_length": 77}', 1))
    assert run(tmp_path, setup)["fingerprint"] != first["fingerprint"]


@pytest.mark.parametrize(
    "change",
    [{"template": "zephyr"}, {"seed": 1}, {"max_seq_length": 64}, {"train_on": "last_assistant"}],
)
def test_a_changed_option_or_template_rebuilds(
    tmp_path: Path, setup: dict[str, Any], change: dict[str, Any]
) -> None:
    first = run(tmp_path, setup)
    second = run(tmp_path, {**setup, **change})
    assert not second.get("reused") and second["fingerprint"] != first["fingerprint"]


@pytest.mark.parametrize("library", ["tokenizers", "orjson", "rensa"])
def test_an_upgraded_library_rebuilds(
    tmp_path: Path, setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch, library: str
) -> None:
    """The bytes a run writes depend on its libraries (rensa's MinHash permutations changed in
    0.5, a tokenizer library can split text differently): an output made with other versions
    is not this environment's output, so it is rebuilt, not reused."""
    first = run(tmp_path, setup)
    installed = metadata.version
    monkeypatch.setattr(
        metadata, "version", lambda name: "999.0" if name == library else installed(name)
    )
    second = run(tmp_path, setup)
    assert not second.get("reused") and second["fingerprint"] != first["fingerprint"]
