"""Glue beside the data: LLaMA-Factory's dataset_info.json and the axolotl snippet.

Neither tool installs beside torch 2.13 here (LLaMA-Factory 0.9.5 pins
transformers<=5.6 and datasets<=4.0, axolotl 0.19 transformers==5.16), so the
entries are checked against the rules of their loaders (LLaMA-Factory:
`data/parser.py` DatasetAttr and `data/loader.py`; axolotl:
`utils/schemas/datasets.py`), by loading each named file the way the tool does;
where the tool is importable its own loader runs too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import pytest
import yaml

from postmix.writers.glue import AXOLOTL, LLAMAFACTORY, notes, write_glue
from tests.outputs import build, sft_rows

LF_TYPES = {"arrow": "arrow", "json": "json", "jsonl": "json", "parquet": "parquet"}
LF_SHAREGPT_TAGS = {"human", "gpt", "observation", "function_call", "system"}
LF_ATTRS = {"file_name", "formatting", "ranking", "columns"}


def glued(tmp: Path, kind: str, schema: str, fmt: str, **kw: Any) -> tuple[Path, list[str]]:
    out, manifest = build(tmp, kind, schema, fmt, **kw)
    return out, write_glue(out, manifest)


def lf_load(out: Path, entry: dict[str, Any]) -> datasets.Dataset:
    """What LLaMA-Factory's loader does with a `file_name` entry and `dataset_dir: out`."""
    path = out / entry["file_name"]
    assert path.is_file(), f"{path}: LLaMA-Factory needs one file of one type"
    return datasets.load_dataset(LF_TYPES[path.suffix[1:]], data_files=str(path), split="train")


def test_sharegpt_entry_maps_exactly_the_columns_the_rows_hold(tmp_path: Path) -> None:
    out, written = glued(tmp_path, "sft", "sharegpt", "parquet")
    assert written == [LLAMAFACTORY, AXOLOTL]
    info = json.loads((out / LLAMAFACTORY).read_text())
    assert set(info) == {"t_train", "t_validation"}
    for entry in info.values():
        assert set(entry) <= LF_ATTRS and entry["formatting"] == "sharegpt"
        assert entry["columns"] == {
            "messages": "conversations",
            "system": "system",
            "tools": "tools",
        }
        ds = lf_load(out, entry)
        assert set(entry["columns"].values()) <= set(ds.column_names)
        tags = {t["from"] for conv in ds["conversations"] for t in conv}
        assert tags <= LF_SHAREGPT_TAGS  # no `tags`: LLaMA-Factory's defaults read them
        assert all(isinstance(t, str) for t in ds["tools"] if t)  # its ToolFormatter json.loads


def test_no_system_column_when_no_record_has_one(tmp_path: Path) -> None:
    rows = sft_rows(24, system=False, tools=False)
    out, _ = glued(tmp_path, "sft", "sharegpt", "jsonl", rows=rows)
    info = json.loads((out / LLAMAFACTORY).read_text())
    assert all(e["columns"] == {"messages": "conversations"} for e in info.values())


def test_columns_are_decided_per_split(tmp_path: Path) -> None:
    """A system prompt only in train: the validation entry must not map `system` (LLaMA-Factory
    reads `example["system"]` and fails on a file without that column)."""
    rows = sft_rows(24, system=False, tools=False)
    rows[0]["messages"].insert(0, {"role": "system", "content": "Be brief."})
    out, _ = glued(tmp_path, "sft", "sharegpt", "jsonl", rows=rows)
    info = json.loads((out / LLAMAFACTORY).read_text())
    for entry in info.values():
        ds = lf_load(out, entry)
        has = "system" in ds.column_names and any(ds["system"])
        assert ("system" in entry["columns"]) == has, entry
    assert "system" in info["t_train"]["columns"] or "system" in info["t_validation"]["columns"]


def test_jsonl_tools_are_json_text_as_llamafactory_reads_them(tmp_path: Path) -> None:
    out, _ = glued(tmp_path, "sft", "sharegpt", "jsonl")
    info = json.loads((out / LLAMAFACTORY).read_text())
    for entry in info.values():
        assert entry["columns"].get("tools") == "tools"
        assert all(isinstance(t, str) for t in lf_load(out, entry)["tools"] if t)


def test_kto_entry_maps_the_tag(tmp_path: Path) -> None:
    out, _ = glued(tmp_path, "kto", "sharegpt", "jsonl")
    entry = json.loads((out / LLAMAFACTORY).read_text())["t_train"]
    assert entry["columns"] == {"kto_tag": "kto_tag", "messages": "conversations"}
    ds = lf_load(out, entry)
    assert {type(t) for t in ds["kto_tag"]} == {bool}
    assert all(c[-1]["from"] == "gpt" for c in ds["conversations"])


def test_alpaca_and_pairs_entries(tmp_path: Path) -> None:
    out, _ = glued(tmp_path / "a", "sft", "alpaca", "jsonl", rows=sft_rows(24, tools=False))
    entry = json.loads((out / LLAMAFACTORY).read_text())["t_train"]
    cols = {"prompt": "instruction", "query": "input", "response": "output", "system": "system"}
    assert entry["formatting"] == "alpaca" and entry["columns"] == cols
    assert set(cols.values()) <= set(lf_load(out, entry).column_names)

    out, _ = glued(tmp_path / "p", "preference", "sharegpt", "jsonl")
    entry = json.loads((out / LLAMAFACTORY).read_text())["t_train"]
    assert entry["ranking"] is True and entry["formatting"] == "sharegpt"
    assert entry["columns"] == {
        "chosen": "chosen",
        "messages": "conversations",
        "rejected": "rejected",
    }
    ds = lf_load(out, entry)
    assert all(r["chosen"]["from"] == r["rejected"]["from"] == "gpt" for r in ds)
    assert all(len(r["conversations"]) % 2 == 1 for r in ds)  # ranking: odd turns


def test_disk_outputs_get_axolotl_glue_and_a_reason_for_llamafactory(tmp_path: Path) -> None:
    """LLaMA-Factory 0.9.5 pins datasets<=4.0, which cannot read what datasets 4.8+ saves."""
    out, written = glued(tmp_path, "sft", "sharegpt", "disk")
    assert written == [AXOLOTL]
    item = yaml.safe_load((out / AXOLOTL).read_text())["datasets"][0]
    assert item["ds_type"] == "arrow" and item["path"].endswith(".arrow")
    assert len(datasets.load_dataset("arrow", data_files=item["path"], split="train")) == 19
    manifest = json.loads((out / "manifest.json").read_text())
    assert any("file_format: parquet" in n for n in notes(out, manifest))


def test_axolotl_snippets_name_loadable_files_and_fields(tmp_path: Path) -> None:
    for kind, schema, field in (
        ("sft", "messages", "messages"),
        ("sft", "conversations", "conversations"),
        ("preference", "messages", "prompt"),
    ):
        out, written = glued(tmp_path / f"{kind}-{schema}", kind, schema, "parquet")
        assert LLAMAFACTORY not in written  # LLaMA-Factory reads sharegpt / alpaca
        config = yaml.safe_load((out / AXOLOTL).read_text())
        assert (config.get("rl") == "dpo") == (kind == "preference")
        for item in config["datasets"] + config["test_datasets"]:
            ds = datasets.load_dataset(item["ds_type"], data_files=item["path"], split="train")
            assert item["field_messages"] == field and field in ds.column_names
            assert item["type"].startswith("chat_template")
        validate_axolotl(config)


def validate_axolotl(config: dict[str, Any]) -> None:
    """axolotl's own pydantic models for dataset entries, where axolotl is importable."""
    try:
        from axolotl.utils.schemas.datasets import DPODataset, SFTDataset
    except ImportError:
        return
    model = DPODataset if config.get("rl") == "dpo" else SFTDataset
    for item in config["datasets"]:
        model(**item)


def test_tokenized_and_prompt_outputs_get_no_glue_but_a_reason(tmp_path: Path) -> None:
    out, manifest = build(tmp_path, "prompt", "messages", "jsonl")
    assert write_glue(out, manifest) == []
    said = " ".join(notes(out, manifest))
    assert "LLaMA-Factory" in said and "axolotl" in said


def test_load_dataset_of_the_dir_ignores_the_glue(tmp_path: Path) -> None:
    out, written = glued(tmp_path, "sft", "sharegpt", "jsonl")
    assert written
    loaded = datasets.load_dataset(str(out))
    assert {k: len(v) for k, v in loaded.items()} == {"train": 19, "validation": 5}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_llamafactory_own_loader_when_installed(tmp_path: Path, fmt: str) -> None:
    pytest.importorskip("llamafactory", reason="LLaMA-Factory is not installed here")
    from llamafactory.data.converter import align_dataset
    from llamafactory.data.parser import get_dataset_list
    from llamafactory.hparams import DataArguments
    from transformers import Seq2SeqTrainingArguments

    out, _ = glued(tmp_path, "sft", "sharegpt", fmt)
    names = list(json.loads((out / LLAMAFACTORY).read_text()))
    for attr in get_dataset_list(names, str(out)):
        ds = lf_load(out, {"file_name": attr.dataset_name})
        args = Seq2SeqTrainingArguments(output_dir=str(tmp_path / "lf"))
        aligned = align_dataset(ds, attr, DataArguments(dataset_dir=str(out)), args)
        assert all(r["_prompt"] and r["_response"] for r in aligned)
