"""ShareGPT: `{conversations: [{from, value}]}` with human/gpt/system and tool roles.

`function_call` turns become assistant `tool_calls` (their value is the JSON
call), `observation` turns become `tool` messages, and a `tools` column (a JSON
string in LLaMA-Factory's glaive files) is carried as the record's tool schema,
both in the OpenAI form (`postmix.tools`). A `kto_tag` (LLaMA-Factory's KTO
column) or `label` rates the final reply (`formats/kto.py`). Also accepts
`role`/`content` keys inside `conversations`, and `items`.
"""

from __future__ import annotations

from typing import Any

import orjson

from postmix.formats.base import ConvertContext, Converter
from postmix.formats.kto import labelled, row_label
from postmix.formats.reasoning import field_reasoning, with_reasoning
from postmix.schema import InvalidRow, Message, first_present, message, optional_str, record
from postmix.tools import tool_calls, tool_schema

ROLE_MAP: dict[str, str] = {
    "human": "user",
    "user": "user",
    "prompter": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "model": "assistant",
    "system": "system",
    "function_call": "assistant",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
}


def tool_call(value: Any) -> list[dict[str, Any]]:
    """A ShareGPT `function_call` value (one call or a list, as JSON) as OpenAI `tool_calls`."""
    call = value
    if isinstance(value, str):
        try:
            call = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise InvalidRow(f"function_call value is not JSON: {exc}") from exc
    calls = call if isinstance(call, list) else [call]
    if not all(isinstance(c, dict) and "name" in c for c in calls):
        raise InvalidRow("function_call value has no 'name'")
    return tool_calls(calls) or []


def turns(conversation: Any) -> list[Message]:
    """ShareGPT turns as canonical messages."""
    if not isinstance(conversation, list):
        raise InvalidRow("'conversations' must be a list")
    out: list[Message] = []
    for turn in conversation:
        if not isinstance(turn, dict):
            raise InvalidRow("a turn is not an object")
        who = str(first_present(turn, "from", "role")).lower()
        value = turn.get("value", turn.get("content"))
        role = ROLE_MAP.get(who)
        if role is None:
            raise InvalidRow(f"unknown speaker {who!r}")
        if who == "function_call":
            out.append(message("assistant", "", tool_calls=tool_call(value)))
        else:
            out.append(with_reasoning(message(role, value), field_reasoning(turn)))
    return out


def convert(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    if not isinstance(row, dict):
        raise InvalidRow(f"row is {type(row).__name__}, expected an object")
    msgs = turns(first_present(row, "conversations", "conversation", "items"))
    system = optional_str(row, "system")
    if system and system.strip() and not (msgs and msgs[0]["role"] == "system"):
        msgs.insert(0, message("system", system))
    tools = tool_schema(row.get("tools"))
    label = row_label(row)
    if ctx.kind == "prompt":
        while msgs and msgs[-1]["role"] == "assistant":
            msgs.pop()
        return [record("prompt", msgs, tools=tools)]
    meta = {} if label is None else {"label": label}
    return [labelled(ctx.kind, msgs, label, tools=tools, meta=meta)]


CONVERTER = Converter(
    name="sharegpt",
    kinds=("sft", "prompt", "kto"),
    convert=convert,
    columns=(frozenset({"conversations"}), frozenset({"conversation"}), frozenset({"items"})),
    hub_ids=(
        "anon8231489123/sharegpt_vicuna_unfiltered",
        "philschmid/sharegpt-raw",
        "teknium/openhermes-2.5",
        "glaiveai/glaive-function-calling-v2",
    ),
    doc=__doc__ or "",
)
