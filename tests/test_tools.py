"""Tool schemas and tool calls in the form HF chat templates and TRL read.

`tools`: `[{"type": "function", "function": {name, description, parameters}}]`;
tool-call arguments: objects. Bare schemas and JSON strings (glaive's `tools`
column) are normalized; arguments that are not JSON objects are quarantined.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from postmix.formats.base import ConvertContext
from postmix.formats.messages import CONVERTER as MESSAGES
from postmix.formats.sharegpt import CONVERTER as SHAREGPT
from postmix.schema import InvalidRow
from postmix.tools import tool_calls, tool_schema
from tests.conftest import shared_file

GLAIVE = "hiyouga__LLaMA-Factory/glaive_toolcall_en_demo.json"
WEATHER = {
    "name": "weather",
    "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
OPENAI = {"type": "function", "function": WEATHER}


def convert(conv: Any, row: dict[str, Any]) -> Any:
    ((_, out),) = list(conv.stream([(0, row)], ConvertContext(kind="sft")))
    return out


@pytest.mark.parametrize(
    "raw",
    [
        [WEATHER],
        [OPENAI],
        orjson.dumps([WEATHER]).decode(),
        orjson.dumps([OPENAI]).decode(),
        [{**WEATHER, "parameters": orjson.dumps(WEATHER["parameters"]).decode()}],
    ],
)
def test_tool_schemas_take_the_openai_form(raw: Any) -> None:
    assert tool_schema(raw) == [OPENAI]


@pytest.mark.parametrize("raw", [None, "", "[]", []])
def test_no_tools(raw: Any) -> None:
    assert tool_schema(raw) is None


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("[{", "'tools' is not JSON"),
        ('{"name": "f"}', "'tools' must be a list"),
        ([{"description": "no name"}], "a tool has no function name"),
        ([{**WEATHER, "parameters": "{oops"}], "parameters of tool 'weather' are not valid JSON"),
        ([{**WEATHER, "parameters": [1]}], "parameters of tool 'weather' must be an object"),
    ],
)
def test_bad_tool_schemas(raw: Any, why: str) -> None:
    with pytest.raises(InvalidRow, match=why):
        tool_schema(raw)


CALL = {"type": "function", "function": {"name": "weather", "arguments": {"city": "Oslo"}}}


@pytest.mark.parametrize(
    "raw",
    [
        [CALL],
        [{"function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}],
        [{"name": "weather", "arguments": {"city": "Oslo"}}],
        [{"name": "weather", "arguments": '{"city": "Oslo"}'}],
    ],
)
def test_tool_calls_take_the_openai_form_with_object_arguments(raw: Any) -> None:
    assert tool_calls(raw) == [CALL]


def test_call_ids_are_kept_and_empty_arguments_are_an_empty_object() -> None:
    raw = [{"id": "c1", "type": "function", "function": {"name": "now", "arguments": ""}}]
    assert tool_calls(raw) == [
        {"id": "c1", "type": "function", "function": {"name": "now", "arguments": {}}}
    ]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ([{"function": {"name": "f", "arguments": "{city: Oslo}"}}],
         "arguments of tool call 'f' are not valid JSON"),
        ([{"function": {"name": "f", "arguments": "[1, 2]"}}],
         "arguments of tool call 'f' must be a JSON object"),
        ([{"id": "c"}], "a tool call has no function name"),
        ({"name": "f"}, "'tool_calls' must be a list"),
    ],
)  # fmt: skip
def test_bad_tool_calls_are_invalid(raw: Any, why: str) -> None:
    with pytest.raises(InvalidRow, match=why):
        tool_calls(raw)


def test_a_call_with_broken_arguments_is_quarantined_not_carried_as_text() -> None:
    call = {"function": {"name": "weather", "arguments": '{"city": "Oslo"'}}
    row = {
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": "", "tool_calls": [call]},
        ]
    }
    out = convert(MESSAGES, row)
    assert isinstance(out, InvalidRow) and "not valid JSON" in str(out)
    glaive_like = {
        "conversations": [
            {"from": "human", "value": "Weather?"},
            {"from": "function_call", "value": '{"name": "weather", "arguments": "{\\"city\\": "}'},
        ]
    }
    out = convert(SHAREGPT, glaive_like)
    assert isinstance(out, InvalidRow) and "not valid JSON" in str(out)


def test_messages_tools_are_normalized() -> None:
    row = {
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    }
    assert convert(MESSAGES, {**row, "tools": [WEATHER]})["tools"] == [OPENAI]


def test_glaive_tools_and_calls(shared_data: Path) -> None:
    rows = orjson.loads(shared_file(shared_data, GLAIVE).read_bytes())
    recs = [convert(SHAREGPT, row) for row in rows]
    assert all(isinstance(r, dict) for r in recs)
    with_tools = [r for r in recs if "tools" in r]
    assert len(with_tools) == 191
    for rec in with_tools:
        for tool in rec["tools"]:
            assert tool["type"] == "function" and set(tool) == {"type", "function"}
            assert isinstance(tool["function"]["name"], str)
            assert isinstance(tool["function"]["parameters"], dict)
    calls = [c for r in recs for m in r["messages"] for c in m.get("tool_calls") or ()]
    assert len(calls) == 211
    assert all(isinstance(c["function"]["arguments"], dict) for c in calls)
