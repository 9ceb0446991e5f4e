"""ShareGPT preference pairs (LLaMA-Factory `ranking: true`).

`{conversations: [{from, value}], chosen: {from, value}, rejected: {from, value}}`
with optional `system` and `tools` columns. `conversations` is the prompt (its
system turn, when there is one, stays first); `chosen` / `rejected` are the two
alternative assistant turns (a single turn object, or a list of them). Turns
are read with the ShareGPT converter's rules, so tool calls survive.
"""

from __future__ import annotations

from typing import Any

from postmix.formats.base import ConvertContext, Converter
from postmix.formats.sharegpt import turns
from postmix.schema import InvalidRow, Message, message, record, require
from postmix.tools import tool_schema


def reply(raw: Any, side: str) -> list[Message]:
    """One side of the pair: assistant turns only (a user turn there is a malformed row)."""
    msgs = turns(raw if isinstance(raw, list) else [raw])
    if not msgs or any(m["role"] != "assistant" for m in msgs):
        raise InvalidRow(f"{side!r} must hold assistant turns")
    return msgs


def convert(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    conversation, chosen_raw, rejected_raw = require(row, "conversations", "chosen", "rejected")
    prompt = turns(conversation)
    system = message("system", row.get("system"))
    if system["content"].strip():
        prompt.insert(0, system)
    tools = tool_schema(row.get("tools"))
    chosen = reply(chosen_raw, "chosen")
    rejected = reply(rejected_raw, "rejected")
    if ctx.kind == "sft":
        return [record("sft", [*prompt, *chosen], tools=tools)]
    if ctx.kind == "prompt":
        return [record("prompt", prompt, tools=tools)]
    return [record("preference", prompt, chosen=chosen, rejected=rejected, tools=tools)]


CONVERTER = Converter(
    name="sharegpt_preference",
    kinds=("preference", "sft", "prompt"),
    convert=convert,
    columns=(frozenset({"conversations", "chosen", "rejected"}),),
    doc=__doc__ or "",
)
