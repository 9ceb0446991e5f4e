"""Tool schemas and tool calls in the one form HF chat templates and TRL read.

Upstream data spells tools several ways: bare `{name, description,
parameters}` schemas, the OpenAI `{"type": "function", "function": {...}}`
form, JSON strings of either (glaive's `tools` column), and call arguments as
objects or as JSON text. Templates iterate `tools` expecting the OpenAI form
and render `arguments` as objects (`| tojson`, `.items()`), so a JSON string
there is rendered as a quoted string or fails. Converters normalize once here;
text that is not valid JSON is a malformed row (quarantined with the reason),
never carried as text a model would learn to emit.
"""

from __future__ import annotations

from typing import Any

import orjson

from postmix.schema import InvalidRow, Message


def _json(text: str, what: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidRow(f"{what} are not valid JSON: {exc}") from exc


def _item(value: Any, what: str) -> Any:
    """One tool or call; Parquet's JSON columns (ours, `datasets`' `List(Json())`) read as text."""
    return _json(value, what) if isinstance(value, str) else value


def _function(tool: Any) -> dict[str, Any]:
    """The function spec of one tool: OpenAI form unwrapped, bare form as is."""
    tool = _item(tool, "a tool's schema")
    if isinstance(tool, dict) and tool.get("type", "function") == "function":
        fn = tool.get("function", tool)
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return fn
    raise InvalidRow("a tool has no function name")


def tool_schema(raw: Any) -> list[dict[str, Any]] | None:
    """A `tools` column as `[{"type": "function", "function": {name, description, parameters}}]`.

    Empty values (None, "", "[]", []) are no tools; a JSON string is decoded, so
    are tools and `parameters` given as JSON text.
    """
    if raw is None or raw == "" or raw == []:
        return None
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRow(f"'tools' is not JSON: {exc}") from exc
    if not isinstance(raw, list):
        raise InvalidRow("'tools' must be a list")
    out = []
    for tool in raw:
        fn = dict(_function(tool))
        params = fn.get("parameters")
        if isinstance(params, str):
            params = _json(params, f"parameters of tool {fn['name']!r}")
        if params is not None and not isinstance(params, dict):
            raise InvalidRow(f"parameters of tool {fn['name']!r} must be an object")
        if params is not None:
            fn["parameters"] = params
        out.append({"type": "function", "function": fn})
    return out or None


def call_arguments(raw: Any, name: str) -> dict[str, Any]:
    """Call arguments as an object: JSON text decoded, empty as `{}`; anything else is invalid."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, str):
        raw = _json(raw, f"arguments of tool call {name!r}")
    if not isinstance(raw, dict):
        raise InvalidRow(f"arguments of tool call {name!r} must be a JSON object")
    return raw


def tool_calls(raw: Any) -> list[dict[str, Any]] | None:
    """`tool_calls` as `[{"id"?, "type": "function", "function": {name, arguments: {...}}}]`.

    Accepts the OpenAI form and bare `{name, arguments}` calls (ShareGPT
    `function_call` values), each also as JSON text; other keys of a call (its
    `id`) are kept.
    """
    if not raw:
        return None
    if not isinstance(raw, list):
        raise InvalidRow("'tool_calls' must be a list")
    out = []
    for call in raw:
        call = _item(call, "a tool call")
        if not isinstance(call, dict):
            raise InvalidRow("a tool call has no function name")
        bare = "function" not in call
        fn = {k: call[k] for k in ("name", "arguments") if k in call} if bare else call["function"]
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise InvalidRow("a tool call has no function name")
        rest = {k: v for k, v in call.items() if k not in ("function", "name", "arguments")}
        args = call_arguments(fn.get("arguments"), fn["name"])
        function = {**fn, "arguments": args}
        out.append({**rest, "type": "function", "function": function})
    return out


def has_tool_turns(messages: list[Message]) -> bool:
    """Whether a conversation calls tools or holds their results."""
    return any(m["role"] == "tool" or m.get("tool_calls") for m in messages)
