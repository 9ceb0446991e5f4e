"""OpenOrca / SlimOrca converter.

No OpenOrca file is in the real-data corpus; the rows here are built from the
real Orca system prompts, questions and GPT-4 answers in LLaMA-Factory's
`dpo_en_demo.json` (80 rows carry an OpenOrca system prompt), laid out as
OpenOrca's columns and as SlimOrca's ShareGPT conversations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from postmix import formats
from postmix.formats.base import ConvertContext
from postmix.formats.openorca import CONVERTER
from postmix.schema import InvalidRow, structure_problem
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def demo(shared_data: Path) -> list[dict[str, Any]]:
    path = shared_file(shared_data, "hiyouga__LLaMA-Factory/dpo_en_demo.json")
    return orjson.loads(path.read_bytes())


def as_openorca(i: int, row: dict[str, Any]) -> dict[str, Any]:
    turns = row["conversations"]
    system = turns[0]["value"] if turns[0]["from"] == "system" else ""
    return {
        "id": f"niv.{i}",
        "system_prompt": system,
        "question": turns[-1]["value"],
        "response": row["chosen"]["value"],
    }


def as_slimorca(row: dict[str, Any]) -> dict[str, Any]:
    turns = row["conversations"]
    if turns[0]["from"] != "system":
        turns = [{"from": "system", "value": ""}, *turns]
    return {"conversations": [*turns, {**row["chosen"], "weight": 1}]}


def convert_all(rows: list[Any], kind: str) -> list[Any]:
    return [out for _, out in CONVERTER.stream(enumerate(rows), ConvertContext(kind=kind))]


def test_openorca_columns(demo: list[dict[str, Any]]) -> None:
    single = [(i, r) for i, r in enumerate(demo) if len(r["conversations"]) <= 2]
    recs = convert_all([as_openorca(i, r) for i, r in single], "sft")
    assert len(recs) == len(single)
    assert all(isinstance(r, dict) and structure_problem(r) is None for r in recs)
    with_system = [r for r in recs if r["messages"][0]["role"] == "system"]
    assert len(with_system) == 80
    rec = with_system[0]
    first = next(r for _, r in single if r["conversations"][0]["from"] == "system")
    assert rec["messages"] == [
        {
            "role": "system",
            "content": "You are a teacher. Given a task, you explain in simple steps what the task "
            "is asking, any guidelines it provides and how to use those guidelines to find the "
            "answer.",
        },
        {"role": "user", "content": first["conversations"][1]["value"]},
        {"role": "assistant", "content": first["chosen"]["value"]},
    ]
    assert rec["meta"] == {"category": "niv"}
    without = [r for r in recs if r["messages"][0]["role"] != "system"]
    assert all([m["role"] for m in r["messages"]] == ["user", "assistant"] for r in without)


def test_slimorca_conversations_match_openorca_columns(demo: list[dict[str, Any]]) -> None:
    single = [(i, r) for i, r in enumerate(demo) if len(r["conversations"]) <= 2]
    orca = convert_all([as_openorca(i, r) for i, r in single], "sft")
    slim = convert_all([as_slimorca(r) for _, r in single], "sft")
    assert [r["messages"] for r in slim] == [r["messages"] for r in orca]
    assert all(r["meta"] == {} for r in slim)


def test_prompt_kind_drops_the_response(demo: list[dict[str, Any]]) -> None:
    row = as_openorca(0, demo[0])
    for rec in convert_all([row, as_slimorca(demo[0])], "prompt"):
        assert rec["kind"] == "prompt" and structure_problem(rec) is None
        assert rec["messages"][-1] == {"role": "user", "content": row["question"]}
        assert all(m["role"] != "assistant" for m in rec["messages"])


def test_malformed_rows_are_quarantined() -> None:
    rows = [
        {"id": "t0.1", "system_prompt": "", "question": "Hi?"},
        {"id": "t0.2", "system_prompt": ["x"], "question": "Hi?", "response": "Hello."},
        {"id": "t0.3", "system_prompt": None, "question": "Hi?", "response": {"text": "Hello."}},
        {"conversations": [{"from": "narrator", "value": "Once"}]},
        {"conversations": "human: hi"},
        ["Hi?", "Hello."],
        {"id": "cot.4", "system_prompt": "  ", "question": "Hi?", "response": "Hello."},
    ]
    outs = convert_all(rows, "sft")
    assert [isinstance(o, InvalidRow) for o in outs] == [True] * 6 + [False]
    assert [m["role"] for m in outs[-1]["messages"]] == ["user", "assistant"]
    assert outs[-1]["meta"] == {"category": "cot"}


def test_inference() -> None:
    cols = ["id", "system_prompt", "question", "response"]
    assert formats.from_columns(cols) is CONVERTER
    for hub_id in ("Open-Orca/OpenOrca", "Open-Orca/SlimOrca", "Open-Orca/SlimOrca-Dedup"):
        assert formats.from_hub_id(hub_id) is CONVERTER
