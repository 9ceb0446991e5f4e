"""ShareGPT converter on real files: LLaMA-Factory's glaive tool calls and axolotl's fixtures."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from postmix import formats
from postmix.formats.base import ConvertContext
from postmix.formats.sharegpt import CONVERTER
from postmix.schema import InvalidRow, structure_problem
from tests.conftest import shared_file

GLAIVE = "hiyouga__LLaMA-Factory/glaive_toolcall_en_demo.json"
AXOLOTL = "axolotl-ai-cloud__axolotl/conversation.json"
MISSING = "axolotl-ai-cloud__axolotl/conversation.missingturns.json"


def load(root: Path, rel: str) -> Any:
    return orjson.loads(shared_file(root, rel).read_bytes())


def convert_all(rows: list[Any], kind: str = "sft") -> list[Any]:
    return [out for _, out in CONVERTER.stream(enumerate(rows), ConvertContext(kind=kind))]


@pytest.fixture(scope="module")
def glaive(shared_data: Path) -> list[dict[str, Any]]:
    return load(shared_data, GLAIVE)


def test_glaive_real_rows(glaive: list[dict[str, Any]]) -> None:
    recs = convert_all(glaive)
    assert len(recs) == 300
    assert all(isinstance(r, dict) and structure_problem(r) is None for r in recs)
    roles = Counter(m["role"] for r in recs for m in r["messages"])
    assert roles == {"user": 746, "assistant": 746 + 211, "tool": 211}
    calls = [m for r in recs for m in r["messages"] if "tool_calls" in m]
    assert len(calls) == 211
    assert all(m["role"] == "assistant" and m["content"] == "" for m in calls)
    assert all(isinstance(c["function"]["arguments"], dict) for m in calls for c in m["tool_calls"])
    # `tools` is a JSON string upstream; "[]" (109 rows) means no schema.
    assert sum("tools" in r for r in recs) == 191
    assert all(isinstance(r["tools"], list) and r["tools"] for r in recs if "tools" in r)


def test_glaive_exact_record(glaive: list[dict[str, Any]]) -> None:
    (rec,) = convert_all([glaive[0]])
    turns = glaive[0]["conversations"]
    assert rec["kind"] == "sft"
    assert rec["messages"] == [
        {"role": "user", "content": turns[0]["value"]},
        {"role": "assistant", "content": turns[1]["value"]},
        {"role": "user", "content": "I have chicken, bell peppers, and rice."},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "type": "function",
                    "function": {
                        "name": "search_recipes",
                        "arguments": {"ingredients": ["chicken", "bell peppers", "rice"]},
                    },
                }
            ],
        },
        {"role": "tool", "content": turns[4]["value"]},
        {"role": "assistant", "content": turns[5]["value"]},
        {"role": "user", "content": turns[6]["value"]},
        {"role": "assistant", "content": turns[7]["value"]},
    ]
    assert rec["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "search_recipes",
                "description": "Search for recipes based on ingredients",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "ingredients": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "The ingredients to search for",
                        }
                    },
                    "required": ["ingredients"],
                },
            },
        }
    ]
    assert rec["meta"] == {}


def test_glaive_prompt_kind_drops_the_trailing_replies(glaive: list[dict[str, Any]]) -> None:
    recs = convert_all(glaive, "prompt")
    assert all(r["kind"] == "prompt" and structure_problem(r) is None for r in recs)
    assert Counter(r["messages"][-1]["role"] for r in recs) == {"user": 199, "tool": 101}
    sft = convert_all(glaive)
    assert all(
        p["messages"] == s["messages"][: len(p["messages"])] for p, s in zip(recs, sft, strict=True)
    )


def test_axolotl_bare_object(shared_data: Path) -> None:
    row = load(shared_data, AXOLOTL)
    assert isinstance(row, dict)
    (rec,) = convert_all([row])
    assert [m["role"] for m in rec["messages"]] == ["user", "assistant"] * 6
    assert rec["messages"][0] == {
        "role": "user",
        "content": "how could i implement a minesweeper algorithm that utilises algebraic "
        "topology to solve boards?",
    }
    assert rec["messages"][-1]["content"].startswith("To implement a Minesweeper solver")
    assert structure_problem(rec) is None
    assert formats.from_columns(row.keys()) is CONVERTER


def test_axolotl_missing_turn_is_emitted_then_dropped(shared_data: Path) -> None:
    full = load(shared_data, AXOLOTL)
    (rec,) = convert_all([load(shared_data, MISSING)])
    assert len(rec["messages"]) == 12
    assert rec["messages"][1] == {"role": "assistant", "content": ""}
    assert structure_problem(rec) == "empty_turn"
    (whole,) = convert_all([full])
    assert rec["messages"][2:] == whole["messages"][2:]


def test_system_column_and_role_content_keys() -> None:
    row = {
        "system": "Be brief.",
        "conversations": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
        ],
    }
    (rec,) = convert_all([row])
    assert rec["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
    ]


GOOD = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ({"conversations": "Hi"}, "must be a list"),
        ({"conversations": ["Hi"]}, "not an object"),
        ({"conversations": [{"from": "narrator", "value": "Hi"}]}, "unknown speaker"),
        ({"conversations": [{"value": "Hi"}]}, "none of the fields 'from'"),
        ({"conversations": [{"from": "gpt", "value": ["Hi"]}]}, "content is list"),
        ({"conversations": [{"from": "function_call", "value": "call it"}]}, "not JSON"),
        ({"conversations": [{"from": "function_call", "value": '{"a": 1}'}]}, "no 'name'"),
        ({**GOOD, "tools": "[{"}, "'tools' is not JSON"),
        ({**GOOD, "tools": '{"name": "f"}'}, "'tools' must be a list"),
        ({**GOOD, "system": {"text": "Be brief."}}, "'system' is dict, expected a string"),
        ({**GOOD, "kto_tag": "false"}, "'kto_tag' is str, expected true or false"),
        ({"messages": GOOD["conversations"]}, "none of the fields"),
        ([GOOD], "expected an object"),
    ],
)
def test_malformed_rows_are_invalid(row: Any, why: str) -> None:
    (out,) = convert_all([row])
    assert isinstance(out, InvalidRow)
    assert why in str(out)


def test_inferred_from_columns(glaive: list[dict[str, Any]]) -> None:
    assert formats.from_columns(glaive[0].keys()) is CONVERTER
    assert formats.from_columns({"conversations", "id"}) is CONVERTER
