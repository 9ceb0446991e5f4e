"""OpenAI-style chats: `{messages: [{role, content, ...}]}` (also `conversation(s)` keys).

Tool use and reasoning are carried on each message (`tool_calls`,
`tool_call_id`, `name`, `reasoning_content`, the last also read from
`reasoning` / `thinking`), and a `tools` column becomes the record's tool
schema. Also reads raw UltraChat (`{id, data: [str, ...]}`, turns alternating
user/assistant). A KTO `label` / `kto_tag` (bool) is kept as `meta["label"]`; see
`formats/kto.py` for what it changes.
"""

from __future__ import annotations

from typing import Any

from postmix.formats.base import ConvertContext, Converter
from postmix.formats.kto import labelled, row_label
from postmix.formats.reasoning import field_reasoning, with_reasoning
from postmix.formats.sharegpt import ROLE_MAP
from postmix.schema import (
    InvalidRow,
    Message,
    Skip,
    first_present,
    message,
    optional_str,
    record,
)
from postmix.tools import tool_calls, tool_schema

ROLES: dict[str, str] = {**ROLE_MAP, "developer": "system"}


def content_text(content: Any) -> Any:
    """Message content as text: OpenAI content-part lists are joined when all parts are text."""
    if not isinstance(content, list):
        return content
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type", "text") == "text":
            texts.append(part.get("text") or "")
        else:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise Skip("non_text_content", f"content part of type {kind!r}")
    return "\n".join(texts)


def to_message(turn: Any) -> Message:
    """One `{role, content, ...}` dict as a canonical message."""
    if not isinstance(turn, dict):
        raise InvalidRow("a message is not an object")
    who = turn.get("role")
    role = ROLES.get(who.lower()) if isinstance(who, str) else None
    if role is None:
        raise InvalidRow(f"unknown role {who!r}")
    msg = message(
        role,
        content_text(turn.get("content")),
        tool_calls=tool_calls(turn.get("tool_calls")),
        tool_call_id=turn.get("tool_call_id"),
        name=turn.get("name"),
    )
    return with_reasoning(msg, field_reasoning(turn))


def to_messages(turns: Any) -> list[Message]:
    """A list of `{role, content}` dicts as canonical messages."""
    if not isinstance(turns, list):
        raise InvalidRow(f"messages are {type(turns).__name__}, expected a list")
    return [to_message(t) for t in turns]


def as_messages(value: Any, role: str) -> list[Message]:
    """A column holding one turn's text (as `role`), one message object, or a message list."""
    if isinstance(value, str):
        return [with_reasoning(message(role, value))]
    if isinstance(value, dict):
        return [to_message(value)]
    if isinstance(value, list):
        return to_messages(value)
    raise InvalidRow(f"{role} turn is {type(value).__name__}, expected text or messages")


def alternating(data: Any) -> list[Message]:
    """Raw UltraChat: a list of strings, user first, then alternating."""
    if not isinstance(data, list):
        raise InvalidRow("'data' must be a list of strings")
    return [message("assistant" if i % 2 else "user", text) for i, text in enumerate(data)]


def chat_meta(row: dict[str, Any]) -> dict[str, Any]:
    """`meta` entries every chat layout keeps: a KTO label (bool) and a `category`.

    A value of the wrong type makes the row invalid rather than being ignored.
    """
    meta: dict[str, Any] = {}
    label = row_label(row)
    if label is not None:
        meta["label"] = label
    category = optional_str(row, "category")
    if category is not None:
        meta["category"] = category
    return meta


def convert(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    if not isinstance(row, dict):
        raise InvalidRow(f"row is {type(row).__name__}, expected an object")
    if "data" in row and not any(k in row for k in ("messages", "conversation", "conversations")):
        msgs = alternating(row["data"])
    else:
        msgs = to_messages(first_present(row, "messages", "conversation", "conversations"))
    system = optional_str(row, "system")
    if system and system.strip() and not (msgs and msgs[0]["role"] == "system"):
        msgs.insert(0, message("system", system))
    tools = tool_schema(row.get("tools"))
    meta = chat_meta(row)
    if ctx.kind == "prompt":
        while msgs and msgs[-1]["role"] == "assistant":
            msgs.pop()
        return [record("prompt", msgs, tools=tools, meta=meta)]
    return [labelled(ctx.kind, msgs, meta.get("label"), tools=tools, meta=meta)]


CONVERTER = Converter(
    name="messages",
    kinds=("sft", "prompt", "kto"),
    convert=convert,
    columns=(
        frozenset({"messages"}),
        frozenset({"messages", "tools"}),
        frozenset({"messages", "label"}),
        frozenset({"messages", "kto_tag"}),
        frozenset({"id", "data"}),
    ),
    hub_ids=(
        "huggingfaceh4/ultrachat_200k",
        "stingning/ultrachat",
        "huggingfacetb/smoltalk",
        "huggingfacetb/everyday-conversations-llama3.1-2k",
        "huggingfaceh4/no_robots",
        "allenai/tulu-3-sft-mixture",
        "lmsys/lmsys-chat-1m",
        "trl-lib/capybara",
    ),
    doc=__doc__ or "",
)
