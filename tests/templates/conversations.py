"""Conversations that exercise every rendering path: system prompts, multi-turn, tools, unicode."""

from __future__ import annotations

from typing import Any


def _m(role: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"role": role, "content": content, **extra}


def _call(name: str, arguments: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


CONVERSATIONS: list[list[dict[str, Any]]] = [
    [_m("user", "Hi"), _m("assistant", "Hello!")],
    [
        _m("system", "You are terse."),
        _m("user", "Name a colour."),
        _m("assistant", "Blue."),
        _m("user", "Another one?"),
        _m("assistant", "Green, then red."),
    ],
    [
        _m("user", "Weather in Paris and Köln?"),
        _m("assistant", "", tool_calls=[_call("weather", {"city": "Paris", "units": "°C"})]),
        _m("tool", '{"sky": "clear", "t": 21}'),
        _m(
            "assistant",
            "Checking Köln too.",
            tool_calls=[_call("weather", '{"city": "Köln"}'), _call("time", {})],
        ),
        _m("tool", '{"sky": "rain"}'),
        _m("assistant", "Paris is clear; Köln has rain."),
    ],
    [
        _m("system", "Réponds en français. 🙂"),
        _m("user", "Привет! 你好，世界。"),
        _m("assistant", "你好！Bonjour, ça va ? 🚀 — ≤ ∑ π"),
    ],
    [
        _m("user", "Indent this:\ndef f():\nreturn 1"),
        _m("assistant", "\n\ndef f():\n    return 1\n"),
        _m("user", "  spaces around  "),
        _m("assistant", " leading space and trailing space "),
    ],
    [
        _m("user", "Think first."),
        _m("assistant", "The answer is 4.", reasoning_content="2 + 2 = 4, easy."),
    ],
    [
        _m("system", ""),
        _m("user", 'Literal {{ braces }} {% if x %} "quotes" \\ backslash <|im_end|>'),
        _m("assistant", "Echo: {{ braces }} {% endif %} 'single' \\n"),
    ],
    [
        _m("user", "Count."),
        _m("assistant", "1"),
        _m("user", "Go on."),
        _m("assistant", "2"),
        _m("user", "More."),
        _m("assistant", "3"),
        _m("user", "Last."),
        _m("assistant", "4, done."),
    ],
    [_m("user", "12345 + 67890 = ?"), _m("assistant", "80235")],
]
