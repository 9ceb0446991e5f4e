"""Sentinel copies of a conversation, and aligning their rendering with the real one.

Every text field of every message (content, reasoning, tool-call names) is
replaced by a unique marker. The template lays out both copies the same way,
so the sentinel rendering splits into template text ("glue") and markers,
and the real rendering is the same glue with each marker replaced by its
field's text as the template wrote it (verbatim, stripped, or JSON-escaped).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from postmix.templates.sandbox import TemplateError
from postmix.templates.spec import THINK


def common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix (binary search on C-level slice compares)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def stop_pattern(tokens: Iterable[str]) -> re.Pattern[str]:
    """A regex matching any of the tokenizer's special tokens (longest first)."""
    alts = sorted((t for t in tokens if t), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, alts)) if alts else r"(?!)")


def _variants(value: str) -> list[str]:
    """The ways templates write a field: verbatim, stripped, or inside a JSON string."""
    out = [value, value.strip(), value.lstrip(), value.rstrip()]
    out += [value.strip("\n"), value.lstrip("\n"), value.rstrip("\n")]
    out += [json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1]]
    return list(dict.fromkeys(out))


class Sentinels:
    """The sentinel copy of a conversation and what each marker stands for."""

    def __init__(self, messages: list[dict[str, Any]], text: str) -> None:
        prefix = "PMXQ"
        while prefix in text:
            prefix += "Q"
        self.prefix = prefix
        self.pattern = re.compile(re.escape(prefix) + r"\d+Z")
        self.fields: dict[str, tuple[int, str, str]] = {}
        self.messages = [self._mark(i, m) for i, m in enumerate(messages)]
        self.probe = {"role": "user", "content": self._new(len(messages), "probe", "")}

    def _new(self, i: int, kind: str, value: str) -> str:
        mark = f"{self.prefix}{len(self.fields)}Z"
        self.fields[mark] = (i, kind, value)
        return mark

    def _mark(self, i: int, m: dict[str, Any]) -> dict[str, Any]:
        out = dict(m)
        content = m.get("content")
        if isinstance(content, str) and content:
            thinks = content.startswith(THINK[0]) and THINK[1] in content
            if thinks and m["role"] == "assistant":
                reasoning, rest = content[len(THINK[0]) :].split(THINK[1], 1)
                out["content"] = THINK[0] + self._new(i, "reasoning", reasoning) + THINK[1]
                if rest:
                    out["content"] += self._new(i, "content", rest)
            else:
                out["content"] = self._new(i, "content", content)
        reasoning = m.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            out["reasoning_content"] = self._new(i, "reasoning", reasoning)
        calls = m.get("tool_calls") or []
        if calls:
            out["tool_calls"] = [self._mark_call(i, k, c) for k, c in enumerate(calls)]
        return out

    def _mark_call(self, i: int, k: int, call: dict[str, Any]) -> dict[str, Any]:
        fn = call.get("function") or call
        marked = {**fn, "name": self._new(i, f"tool:{k}", fn["name"])}
        return {**call, "function": marked} if "function" in call else marked

    def split(self, sent: str) -> list[str]:
        """Glue and markers, alternating: [glue, marker, glue, ..., glue]."""
        return re.split(f"({self.pattern.pattern})", sent)

    def field(self, mark: str) -> tuple[int, str]:
        i, kind, _ = self.fields[mark]
        return i, kind

    def marks_of(self, i: int, kind: str) -> list[str]:
        """The markers of message i's field `kind`."""
        return [m for m, (msg, k, _) in self.fields.items() if msg == i and k == kind]

    def value(self, mark: str) -> str:
        return self.fields[mark][2]

    def pieces_of(self, i: int, pieces: list[str], label: str) -> list[int]:
        """Indices of reply i's markers in `pieces`, each content and tool call among them.

        They are the run of its own markers where it first appears: a later
        turn may repeat a tool call's name (a tool response's header).
        """
        first = next((j for j in range(1, len(pieces), 2) if self.fields[pieces[j]][0] == i), None)
        own: list[int] = []
        for j in range(first or len(pieces), len(pieces), 2):
            if self.fields[pieces[j]][0] != i or pieces[j] in (pieces[k] for k in own):
                break
            own.append(j)
        seen = {pieces[j] for j in own}
        for mark, (msg, kind, _) in self.fields.items():
            if msg == i and kind != "reasoning" and mark not in seen:
                what = "tool calls" if kind.startswith("tool:") else "content"
                raise TemplateError(
                    f"{label}: reply {i} renders differently than given, without its {what}, "
                    f"so it cannot be trained; use a chat template that renders {what} "
                    "(or a built-in template)"
                )
        if not own:
            raise TemplateError(
                f"{label}: reply {i} has no text postmix can find in the rendering "
                "(its content must be a string, or it must carry tool calls)"
            )
        return own


def align(text: str, pieces: list[str], marks: Sentinels, label: str) -> list[int]:
    """Where each piece of the sentinel rendering starts in the real rendering `text`."""
    starts = [0]
    if not text.startswith(pieces[0]):
        raise TemplateError(f"{label}: renders differently when message texts change")
    pos = len(pieces[0])
    for j in range(1, len(pieces), 2):
        glue = pieces[j + 1]
        last = j + 2 >= len(pieces)
        for v in _variants(marks.value(pieces[j])):
            end = pos + len(v)
            fits = text.startswith(v, pos) and text.startswith(glue, end)
            if fits and (not last or end + len(glue) == len(text)):
                break
        else:
            i, kind = marks.field(pieces[j])
            raise TemplateError(
                f"{label}: changes the {kind} of message {i} in a way postmix cannot follow; "
                "use a built-in template"
            )
        starts += [pos, end]
        pos = end + len(glue)
    return starts
