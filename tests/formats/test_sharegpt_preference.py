"""ShareGPT preference pairs, on LLaMA-Factory's real `dpo_en_demo.json` (300 rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from postmix import formats
from postmix.formats.base import ConvertContext
from postmix.formats.sharegpt_preference import CONVERTER
from postmix.schema import InvalidRow, record_id, structure_problem
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def demo(shared_data: Path) -> list[dict[str, Any]]:
    path = shared_file(shared_data, "hiyouga__LLaMA-Factory/dpo_en_demo.json")
    return orjson.loads(path.read_bytes())


def convert_all(rows: list[Any], kind: str = "preference") -> list[Any]:
    return [out for _, out in CONVERTER.stream(enumerate(rows), ConvertContext(kind=kind))]


def test_real_rows(demo: list[dict[str, Any]]) -> None:
    recs = convert_all(demo)
    assert len(recs) == 300
    assert all(isinstance(r, dict) and structure_problem(r) is None for r in recs)
    assert sum(r["messages"][0]["role"] == "system" for r in recs) == 80
    assert sum(sum(m["role"] == "user" for m in r["messages"]) > 1 for r in recs) == 106
    assert all(len(r["chosen"]) == len(r["rejected"]) == 1 for r in recs)
    assert all("tools" not in r for r in recs)
    # The README's 5 repeated prompts (whole rows repeated) give 5 repeated record ids.
    assert len(recs) - len({record_id(r) for r in recs}) == 5


def test_exact_record_with_system_prompt(demo: list[dict[str, Any]]) -> None:
    (rec,) = convert_all([demo[23]])
    assert rec == {
        "id": None,
        "source": None,
        "kind": "preference",
        "messages": [
            {
                "role": "system",
                "content": "You are a helpful assistant, who always provide explanation. Think "
                "like you are answering to a five year old.",
            },
            {"role": "user", "content": "Write a sentence not in English."},
        ],
        "chosen": [{"role": "assistant", "content": demo[23]["chosen"]["value"]}],
        "rejected": [{"role": "assistant", "content": demo[23]["rejected"]["value"]}],
        "text": None,
        "meta": {},
    }
    assert rec["chosen"][0]["content"].startswith('"Je mange une pomme."')


def test_multi_turn_prompt(demo: list[dict[str, Any]]) -> None:
    (rec,) = convert_all([demo[267]])
    assert [(m["role"], m["content"]) for m in rec["messages"]] == [
        ("user", "Hi"),
        (
            "assistant",
            "Hello! How can I help you today? If you have any questions or need assistance, "
            "feel free to ask.",
        ),
        ("user", "i am bored."),
    ]


def test_kinds(demo: list[dict[str, Any]]) -> None:
    pref = convert_all(demo)
    sft = convert_all(demo, "sft")
    prompt = convert_all(demo, "prompt")
    assert [r["kind"] for r in sft] == ["sft"] * 300
    assert [r["messages"] for r in sft] == [p["messages"] + p["chosen"] for p in pref]
    assert [r["messages"] for r in prompt] == [p["messages"] for p in pref]
    assert all(structure_problem(r) is None for r in sft + prompt)
    assert all(r["chosen"] is None and r["rejected"] is None for r in sft + prompt)
    assert CONVERTER.kinds == ("preference", "sft", "prompt")


def test_system_column_and_tools() -> None:
    row = {
        "conversations": [{"from": "human", "value": "Weather in Oslo?"}],
        "chosen": {"from": "function_call", "value": '{"name": "weather", "arguments": "{}"}'},
        "rejected": {"from": "gpt", "value": "It is sunny."},
        "system": "You can call tools.",
        "tools": '[{"name": "weather", "parameters": {"type": "object"}}]',
    }
    (rec,) = convert_all([row])
    assert rec["messages"][0] == {"role": "system", "content": "You can call tools."}
    assert rec["chosen"] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "weather", "arguments": {}}}],
        }
    ]
    assert rec["tools"] == [
        {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    ]
    assert structure_problem(rec) is None


def test_sides_given_as_lists() -> None:
    row = {
        "conversations": [{"from": "human", "value": "Hi"}],
        "chosen": [{"from": "gpt", "value": "Hello!"}],
        "rejected": [{"from": "gpt", "value": "What?"}],
    }
    (rec,) = convert_all([row])
    assert rec["chosen"] == [{"role": "assistant", "content": "Hello!"}]
    assert rec["rejected"] == [{"role": "assistant", "content": "What?"}]


def test_empty_side_is_emitted_then_dropped_by_structure() -> None:
    row = {
        "conversations": [{"from": "human", "value": "Hi"}],
        "chosen": {"from": "gpt", "value": "Hello!"},
        "rejected": {"from": "gpt", "value": "  "},
    }
    (rec,) = convert_all([row])
    assert structure_problem(rec) == "empty_side"


GOOD = {
    "conversations": [{"from": "human", "value": "Hi"}],
    "chosen": {"from": "gpt", "value": "Hello!"},
    "rejected": {"from": "gpt", "value": "What?"},
}


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ({**GOOD, "rejected": None}, "missing field 'rejected'"),
        ({k: v for k, v in GOOD.items() if k != "conversations"}, "missing field"),
        ({**GOOD, "chosen": {"from": "human", "value": "Hello!"}}, "assistant turns"),
        ({**GOOD, "chosen": []}, "assistant turns"),
        ({**GOOD, "rejected": "What?"}, "not an object"),
        ({**GOOD, "conversations": "Hi"}, "must be a list"),
        ({**GOOD, "conversations": [{"from": "alien", "value": "Hi"}]}, "unknown speaker"),
        ({**GOOD, "system": ["be nice"]}, "system content is list"),
        ({**GOOD, "tools": "[not json"}, "'tools' is not JSON"),
        ([GOOD], "expected an object"),
    ],
)
def test_malformed_rows_are_invalid(row: Any, why: str) -> None:
    (out,) = convert_all([row])
    assert isinstance(out, InvalidRow)
    assert why in str(out)


def test_inferred_from_columns_over_sharegpt(demo: list[dict[str, Any]]) -> None:
    assert formats.from_columns(demo[0].keys()) is CONVERTER
    assert formats.from_columns({"conversations", "chosen", "rejected", "system", "tools"}) is (
        CONVERTER
    )
    assert formats.from_columns({"conversations"}).name == "sharegpt"
