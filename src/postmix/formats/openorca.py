"""OpenOrca: `{id, system_prompt, question, response}`; SlimOrca: ShareGPT `conversations`.

The system prompt (one of OpenOrca's sixteen Orca instructions, often empty)
becomes a system turn only when it has text. The id prefix (`cot`, `flan`,
`niv`, `t0`) names the FLAN sub-collection and is kept as `meta["category"]`.
SlimOrca's `conversations` (system/human/gpt) are read by the ShareGPT turns.
"""

from __future__ import annotations

from typing import Any

from postmix.formats.base import ConvertContext, Converter
from postmix.formats.sharegpt import turns
from postmix.schema import InvalidRow, Message, message, record, require


def orca_messages(row: dict[str, Any]) -> list[Message]:
    """OpenOrca's three columns as system (when non-empty) + user + assistant."""
    question, response = require(row, "question", "response")
    system = row.get("system_prompt")
    if not isinstance(system, (str, type(None))):
        raise InvalidRow("system_prompt must be a string")
    msgs = [message("system", system)] if system and system.strip() else []
    msgs.append(message("user", question))
    msgs.append(message("assistant", response))
    return msgs


def convert(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    if not isinstance(row, dict):
        raise InvalidRow(f"row is {type(row).__name__}, expected an object")
    if "conversations" in row:
        msgs = [
            m for m in turns(row["conversations"]) if m["role"] != "system" or m["content"].strip()
        ]
    else:
        msgs = orca_messages(row)
    upstream_id = row.get("id")
    meta = (
        {"category": upstream_id.split(".", 1)[0]}
        if isinstance(upstream_id, str) and "." in upstream_id
        else {}
    )
    if ctx.kind == "prompt":
        while msgs and msgs[-1]["role"] == "assistant":
            msgs.pop()
        return [record("prompt", msgs, meta=meta)]
    return [record("sft", msgs, meta=meta)]


CONVERTER = Converter(
    name="openorca",
    kinds=("sft", "prompt"),
    convert=convert,
    columns=(
        frozenset({"system_prompt", "question", "response"}),
        frozenset({"id", "system_prompt", "question", "response"}),
    ),
    hub_ids=("open-orca/openorca", "open-orca/slimorca", "open-orca/slimorca-dedup"),
    doc=__doc__ or "",
)
