"""Dolly converter on the real databricks-dolly-15k excerpt."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from postmix import formats
from postmix.formats.base import ConvertContext
from postmix.formats.dolly import CONVERTER
from postmix.schema import InvalidRow, structure_problem
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def rows(shared_data: Path) -> list[dict[str, Any]]:
    rel = "yogarajjsoshua__FlaskApplication/databricks-dolly-15k.head19.jsonl"
    return [orjson.loads(line) for line in shared_file(shared_data, rel).read_bytes().splitlines()]


def convert_all(rows: list[Any], kind: str) -> list[Any]:
    return [out for _, out in CONVERTER.stream(enumerate(rows), ConvertContext(kind=kind))]


def test_real_rows_to_sft(rows: list[dict[str, Any]]) -> None:
    recs = convert_all(rows, "sft")
    assert len(recs) == 19
    assert all(isinstance(r, dict) and structure_problem(r) is None for r in recs)
    assert Counter(r["meta"]["category"] for r in recs) == {
        "open_qa": 5,
        "information_extraction": 5,
        "closed_qa": 4,
        "brainstorming": 2,
        "classification": 1,
        "general_qa": 1,
        "summarization": 1,
    }
    assert recs[1]["messages"] == [
        {"role": "user", "content": "Which is a species of fish? Tope or Rope"},
        {"role": "assistant", "content": "Tope"},
    ]
    assert recs[1]["meta"] == {"category": "classification"}


def test_context_follows_the_instruction(rows: list[dict[str, Any]]) -> None:
    recs = convert_all(rows, "sft")
    user = recs[0]["messages"][0]["content"]
    assert user.startswith("When did Virgin Australia start operating?\n\nVirgin Australia, the")
    assert user.endswith("hubs in Brisbane, Melbourne and Sydney.[4]")
    with_context = [
        (row, rec) for row, rec in zip(rows, recs, strict=True) if row["context"].strip()
    ]
    assert with_context
    for row, rec in with_context:
        expected = f"{row['instruction'].strip()}\n\n{row['context'].strip()}"
        assert rec["messages"][0]["content"] == expected
        assert rec["messages"][1]["content"] == row["response"]


def test_prompt_kind_keeps_response_as_answer(rows: list[dict[str, Any]]) -> None:
    recs = convert_all(rows, "prompt")
    assert all(r["kind"] == "prompt" and structure_problem(r) is None for r in recs)
    assert recs[1]["messages"] == [
        {"role": "user", "content": "Which is a species of fish? Tope or Rope"}
    ]
    assert recs[1]["meta"] == {"category": "classification", "answer": "Tope"}


def test_malformed_rows_are_quarantined() -> None:
    good = {"instruction": "Name a fish.", "context": None, "response": "Tope"}
    rows = [
        {"instruction": "Name a fish.", "context": ""},
        {"instruction": "Name a fish.", "context": 3, "response": "Tope"},
        {"instruction": ["Name a fish."], "context": "", "response": "Tope"},
        "Name a fish.",
        good,
    ]
    for kind in ("sft", "prompt"):
        outs = convert_all(rows, kind)
        assert [isinstance(o, InvalidRow) for o in outs] == [True, True, True, True, False]
        assert outs[-1]["messages"][0] == {"role": "user", "content": "Name a fish."}
        assert outs[-1]["meta"] == ({} if kind == "sft" else {"answer": "Tope"})
    assert isinstance(convert_all([{**good, "response": 5}], "prompt")[0], InvalidRow)


def test_inference(rows: list[dict[str, Any]]) -> None:
    assert formats.from_columns(rows[0].keys()) is CONVERTER
    assert formats.from_columns(["instruction", "context", "response"]) is CONVERTER
    assert formats.from_columns(["instruction", "input", "output"]) is formats.get("alpaca")
    assert formats.from_hub_id("databricks/databricks-dolly-15k") is CONVERTER
