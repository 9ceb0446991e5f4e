"""Benchmark registry and loading: real local files, list fields, errors that name the set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from postmix.decontam import DecontamConfig
from postmix.decontam.benchmarks import REGISTRY, BenchmarkUnavailable, load, spec_of
from tests.decontam.data import ALPACA_EVAL, GSM8K_TEST, HUMANEVAL, spec


def test_registry_names_the_usual_benchmarks() -> None:
    for name in ("gsm8k", "humaneval", "mmlu", "arc", "truthfulqa", "mt_bench", "alpaca_eval"):
        assert name in REGISTRY
    assert "ifeval" in REGISTRY
    assert REGISTRY["gsm8k"].config == "main" and REGISTRY["gsm8k"].split == "test"
    assert REGISTRY["mt_bench"].fields == ["turns"]
    assert all(s.split for s in REGISTRY.values())


def test_config_validates_benchmarks_up_front() -> None:
    with pytest.raises(ValidationError, match="unknown benchmark 'gsm8'"):
        DecontamConfig(against=["gsm8"])
    with pytest.raises(ValidationError, match="named twice"):
        DecontamConfig(against=["gsm8k", {"name": "gsm8k", "source": "x.jsonl", "field": "q"}])
    with pytest.raises(ValidationError):
        DecontamConfig(against=[{"name": "x", "source": "x.jsonl", "field": "q", "bogus": 1}])
    with pytest.raises(ValidationError):
        DecontamConfig(against=["gsm8k"], method="fuzzy")
    cfg = DecontamConfig(against=["humaneval", {"name": "mine", "source": "m.jsonl", "field": "q"}])
    assert [s.name for s in cfg.specs] == ["humaneval", "mine"]


def test_real_local_files_load_with_ids(shared_data: Path) -> None:
    gsm = load(spec_of(spec(shared_data, "gsm8k", GSM8K_TEST, "question")))
    assert len(gsm) == 1319 and gsm[0].item_id == "0" and gsm[-1].item_id == "1318"
    assert gsm[0].texts[0].startswith("Janet")
    human = load(spec_of(spec(shared_data, "humaneval", HUMANEVAL, "prompt", id_field="task_id")))
    assert len(human) == 164 and human[163].item_id == "HumanEval/163"
    alpaca = load(spec_of(spec(shared_data, "alpaca_eval", ALPACA_EVAL, "instruction")))
    assert len(alpaca) == 805


def test_list_fields_and_other_formats(tmp_path: Path) -> None:
    rows = [
        {"question_id": 81, "turns": ["Compose a travel blog post.", "Rewrite it with A."]},
        {"question_id": 82, "turns": ["Draft an email.", ""]},
    ]
    jsonl = tmp_path / "mt.jsonl"
    jsonl.write_bytes(b"\n".join(orjson.dumps(r) for r in rows))
    items = load(
        spec_of({"name": "mt", "source": str(jsonl), "field": "turns", "id_field": "question_id"})
    )
    assert [(i.item_id, i.texts) for i in items] == [
        ("81", ("Compose a travel blog post.", "Rewrite it with A.")),
        ("82", ("Draft an email.",)),
    ]
    parquet = tmp_path / "q.parquet"
    pq.write_table(pa.table({"q": ["one", "two"], "a": ["x", "y"]}), parquet)
    assert [
        i.texts for i in load(spec_of({"name": "p", "source": str(parquet), "field": ["q", "a"]}))
    ] == [
        ("one", "x"),
        ("two", "y"),
    ]
    csv = tmp_path / "c.csv"
    csv.write_text("id,text\nk1,hello there\n")
    items = load(spec_of({"name": "c", "source": str(csv), "field": "text", "id_field": "id"}))
    assert items[0].item_id == "k1"


def test_unreachable_or_wrong_benchmarks_raise_naming_them(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkUnavailable, match="'mine'"):
        load(spec_of({"name": "mine", "source": str(tmp_path / "absent.jsonl"), "field": "q"}))
    path = tmp_path / "b.jsonl"
    path.write_text('{"question": "hi", "n": 1}\n')
    with pytest.raises(BenchmarkUnavailable, match="no column 'prompt'"):
        load(spec_of({"name": "b", "source": str(path), "field": "prompt"}))
    with pytest.raises(ValueError, match="holds int"):
        load(spec_of({"name": "b", "source": str(path), "field": "n"}))


def test_hub_benchmark_offline_is_an_error_naming_it() -> None:
    code = (
        "from postmix.decontam.benchmarks import load, spec_of, BenchmarkUnavailable\n"
        "try:\n    load(spec_of('gsm8k'))\n"
        "except BenchmarkUnavailable as e:\n    print(e)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert "benchmark 'gsm8k' could not be loaded from 'openai/gsm8k'" in out.stdout
