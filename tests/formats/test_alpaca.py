"""Alpaca converter on five real files (Alpaca, Code Alpaca, GPTeacher, GSM8K-as-Alpaca, seeds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from postmix import formats
from postmix.formats.alpaca import CONVERTER
from postmix.formats.base import ConvertContext
from postmix.schema import InvalidRow, record_id, structure_problem
from tests.conftest import shared_file

DEMO = "hiyouga__LLaMA-Factory/alpaca_en_demo.json"
CODE = "sahil280114__codealpaca/code_alpaca_2k.json"
GPTEACHER = "teknium1__GPTeacher/codegen-instruct.json"
GSM8K = "gururise__AlpacaDataCleaned/gsm_8k_train.json"
SEEDS = "tatsu-lab__stanford_alpaca/seed_tasks.jsonl"


def load(root: Path, rel: str) -> list[Any]:
    data = shared_file(root, rel).read_bytes()
    if rel.endswith(".jsonl"):
        return [orjson.loads(line) for line in data.split(b"\n") if line.strip()]
    return orjson.loads(data)


def convert_all(rows: list[Any], kind: str = "sft") -> list[Any]:
    return [out for _, out in CONVERTER.stream(enumerate(rows), ConvertContext(kind=kind))]


@pytest.mark.parametrize(
    ("rel", "rows", "duplicates"),
    [(DEMO, 999, 14), (CODE, 2017, 0), (GPTEACHER, 4535, 0), (GSM8K, 7473, 0), (SEEDS, 175, 0)],
)
def test_real_files(shared_data: Path, rel: str, rows: int, duplicates: int) -> None:
    data = load(shared_data, rel)
    recs = convert_all(data)
    assert len(data) == len(recs) == rows
    assert all(isinstance(r, dict) and r["kind"] == "sft" for r in recs)
    assert all([m["role"] for m in r["messages"]] == ["user", "assistant"] for r in recs)
    assert len(recs) - len({record_id(r) for r in recs}) == duplicates
    assert formats.from_columns(data[0].keys()) is CONVERTER


def test_alpaca_demo_exact_records(shared_data: Path) -> None:
    data = load(shared_data, DEMO)
    first, with_input = convert_all([data[0], data[5]])
    assert first["messages"][0] == {
        "role": "user",
        "content": "Describe a process of making crepes.",
    }
    assert first["messages"][1]["content"].startswith("Making crepes is an easy and delicious")
    assert first["meta"] == {}
    assert with_input == {
        "id": None,
        "source": None,
        "kind": "sft",
        "messages": [
            {
                "role": "user",
                "content": "Given the parameters of a triangle, find out its perimeter.\n\n"
                "Side 1 = 4\nSide 2 = 6\nSide 3 = 8",
            },
            {"role": "assistant", "content": data[5]["output"]},
        ],
        "chosen": None,
        "rejected": None,
        "text": None,
        "meta": {},
    }
    recs = convert_all(data)
    assert sum(bool(row["input"]) for row in data) == 412
    assert all(
        r["messages"][0]["content"].endswith("\n\n" + row["input"])
        for r, row in zip(recs, data, strict=True)
        if row["input"]
    )


def test_code_alpaca_empty_outputs_are_emitted_then_dropped(shared_data: Path) -> None:
    recs = convert_all(load(shared_data, CODE))
    empty = [i for i, r in enumerate(recs) if structure_problem(r) is not None]
    assert empty == [237, 1859]
    assert {structure_problem(recs[i]) for i in empty} == {"empty_turn"}


def test_gpteacher_response_column_and_stripping(shared_data: Path) -> None:
    data = load(shared_data, GPTEACHER)
    recs = convert_all(data)
    assert recs[0]["messages"] == [
        {
            "role": "user",
            "content": "Write a C++ program that calculates the area of a rectangle, given its "
            "width and height.\n\nwidth: 5, height: 8",
        },
        {"role": "assistant", "content": data[0]["response"]},
    ]
    # Instruction 1429 ends with a newline upstream; the user turn does not.
    assert data[1429]["instruction"].endswith("\n")
    assert recs[1429]["messages"][0]["content"] == data[1429]["instruction"].strip()
    assert all(structure_problem(r) is None for r in recs)


def test_gsm8k_as_alpaca_prompt_kind(shared_data: Path) -> None:
    data = load(shared_data, GSM8K)
    recs = convert_all(data, "prompt")
    assert all(r["kind"] == "prompt" and structure_problem(r) is None for r in recs)
    assert recs[0]["messages"] == [{"role": "user", "content": data[0]["instruction"]}]
    assert recs[0]["meta"] == {
        "answer": "Natalia sold 48/2 = 24 clips in May.\n"
        "Natalia sold 48+24 = 72 clips altogether in April and May."
    }


def test_seed_tasks_one_record_per_instance(shared_data: Path) -> None:
    data = load(shared_data, SEEDS)
    recs = convert_all(data)
    assert len(recs) == sum(len(r["instances"]) for r in data) == 175
    assert recs[1] == {
        "id": None,
        "source": None,
        "kind": "sft",
        "messages": [
            {
                "role": "user",
                "content": "What is the relation between the given pairs?\n\n"
                "Night : Day :: Right : Left",
            },
            {
                "role": "assistant",
                "content": "The relation between the given pairs is that they are opposites.",
            },
        ],
        "chosen": None,
        "rejected": None,
        "text": None,
        "meta": {"name": "antonym_relation"},
    }
    two = {
        "instruction": "Is the number even?",
        "instances": [{"input": "4", "output": "Yes"}, {"input": "7", "output": "No"}],
    }
    recs = convert_all([two])
    assert [r["messages"][0]["content"] for r in recs] == [
        "Is the number even?\n\n4",
        "Is the number even?\n\n7",
    ]


GOOD = {"instruction": "Add 2 and 2.", "input": "", "output": "4"}


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ({"instruction": "Add 2 and 2.", "input": ""}, "none of the fields 'output'"),
        ({"input": "", "output": "4"}, "none of the fields 'instruction'"),
        ({**GOOD, "instruction": ["Add"]}, "must be strings"),
        ({**GOOD, "input": 2}, "must be strings"),
        ({**GOOD, "output": 4}, "assistant content is int"),
        ({"instruction": "Add", "instances": []}, "non-empty list"),
        ({"instruction": "Add", "instances": [{"input": "2"}]}, "none of the fields 'output'"),
        (["Add 2 and 2.", "4"], "expected an object"),
    ],
)
def test_malformed_rows_are_invalid(row: Any, why: str) -> None:
    (out,) = convert_all([row])
    assert isinstance(out, InvalidRow)
    assert why in str(out)


def test_inferred_from_columns() -> None:
    assert formats.from_columns({"instruction", "input", "output"}) is CONVERTER
    assert formats.from_columns({"instruction", "input", "response"}) is CONVERTER
    assert formats.from_columns({"id", "name", "instruction", "instances"}) is CONVERTER
