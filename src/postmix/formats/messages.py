"""OpenAI-style chats: `{messages: [{role, content, ...}]}` (also `conversation(s)` keys).

Tool use and reasoning are carried on each message (`tool_calls`,
`tool_call_id`, `name`, `reasoning_content`, the last also read from
`reasoning` / `thinking`), and a `tools` column becomes the record's tool
schema. Also reads raw UltraChat (`{id, data: [str, ...]}`, turns alternating
user/assistant). A KTO-style boolean `label` is kept as `meta["label"]`.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson

from postmix.formats.base import ConvertContext, Converter
from postmix.formats.reasoning import field_reasoning, with_reasoning
from postmix.formats.sharegpt import ROLE_MAP, tools_schema
from postmix.schema import InvalidRow, Message, Skip, first_present, message, record

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


def tool_calls(raw: Any) -> list[dict[str, Any]] | None:
    """OpenAI `tool_calls`, with JSON-string arguments decoded as ShareGPT's converter does."""
    if not raw:
        return None
    if not isinstance(raw, list):
        raise InvalidRow("'tool_calls' must be a list")
    out = []
    for call in raw:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or "name" not in fn:
            raise InvalidRow("a tool call has no function name")
        args = fn.get("arguments", {})
        if isinstance(args, str):
            with contextlib.suppress(orjson.JSONDecodeError):
                args = orjson.loads(args) if args.strip() else {}
        out.append(
            {**call, "type": call.get("type", "function"), "function": {**fn, "arguments": args}}
        )
    return out


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
    """`meta` entries every chat layout keeps: a KTO `label` (bool) and a `category`."""
    meta: dict[str, Any] = {}
    if isinstance(row.get("label"), bool):
        meta["label"] = row["label"]
    if isinstance(row.get("category"), str):
        meta["category"] = row["category"]
    return meta


def convert(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    if not isinstance(row, dict):
        raise InvalidRow(f"row is {type(row).__name__}, expected an object")
    if "data" in row and not any(k in row for k in ("messages", "conversation", "conversations")):
        msgs = alternating(row["data"])
    else:
        msgs = to_messages(first_present(row, "messages", "conversation", "conversations"))
    system = row.get("system")
    if isinstance(system, str) and system.strip() and not (msgs and msgs[0]["role"] == "system"):
        msgs.insert(0, message("system", system))
    tools = tools_schema(row.get("tools"))
    meta = chat_meta(row)
    if ctx.kind == "prompt":
        while msgs and msgs[-1]["role"] == "assistant":
            msgs.pop()
        return [record("prompt", msgs, tools=tools, meta=meta)]
    return [record("sft", msgs, tools=tools, meta=meta)]


CONVERTER = Converter(
    name="messages",
    kinds=("sft", "prompt"),
    convert=convert,
    columns=(
        frozenset({"messages"}),
        frozenset({"messages", "tools"}),
        frozenset({"messages", "label"}),
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
