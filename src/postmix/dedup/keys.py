"""Exact-dedup keys by record kind: what makes two records the same.

Preference sets hold many pairs per prompt (arena battles, several judged
completions per UltraFeedback prompt), so a pair is identified by its prompt
and both responses; a KTO completion by its prompt, completion and label (a
desirable and an undesirable answer are not duplicates); prompts, texts and
SFT conversations by their prompt (bagel's rule), `conversation` keying on the
whole text instead. Tools are part of every key: the record's `tools` schema
and the tool calls inside the keyed turns. Records without tools hash the
same bytes as before keys by kind existed.

Texts are normalized by `schema.dedup_bytes` section by section and joined
with a separator the normalization never produces, so text moved from one
side of a pair to the other gives another key. 64-bit xxh3, as every exact key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import xxhash

from postmix.schema import Message, all_text, dedup_bytes, prompt_messages, prompt_text

REQUESTS: tuple[str, ...] = ("auto", "prompt", "conversation")
# What `auto` keys each kind by; `conversation` differs only where a kind has no pair parts.
AUTO: dict[str, str] = {
    "sft": "prompt",
    "preference": "pair",
    "kto": "kto",
    "prompt": "prompt",
    "text": "prompt",
}
_WHOLE: dict[str, str] = {"preference": "pair", "kto": "kto"}
_SEP = b"\x1e"  # dedup_bytes removes whitespace, and \x1e is whitespace to str.split
_TOOLS = b"\x00"


def resolve(key: str, kind: str) -> str:
    """The key mode used for a record of `kind` when the recipe asks for `key`."""
    if key not in REQUESTS:
        raise ValueError(f"unknown exact-dedup key {key!r}; known: {', '.join(REQUESTS)}")
    if key == "auto":
        return AUTO.get(kind, "prompt")
    if key == "conversation":
        return _WHOLE.get(kind, "conversation")
    return key


def describe(key: str, kinds: Iterable[str]) -> str:
    """The key as the summary and manifest print it: `auto (preference: pair, sft: prompt)`."""
    if key != "auto":
        return key
    used = ", ".join(f"{kind}: {resolve(key, kind)}" for kind in sorted(set(kinds)))
    return f"auto ({used})"


def tool_calls(msgs: Iterable[Message]) -> list[Any]:
    return [m["tool_calls"] for m in msgs if m.get("tool_calls")]


def with_tools(text: bytes, tools: Any, calls: list[Any]) -> bytes:
    """The key bytes of a text, followed by the tool schema and calls when there are any."""
    if not tools and not calls:
        return text
    return text + _TOOLS + orjson.dumps([tools or None, calls], option=orjson.OPT_SORT_KEYS)


def side_bytes(msgs: list[Message]) -> bytes:
    """One response (a pair side, a KTO completion): its text and its tool calls."""
    text = dedup_bytes("\n".join(m["content"] for m in msgs))
    calls = tool_calls(msgs)
    return text + _TOOLS + orjson.dumps(calls, option=orjson.OPT_SORT_KEYS) if calls else text


def prompt_bytes(rec: dict[str, Any]) -> bytes:
    """The normalized prompt with the record's tools and the prompt's tool calls."""
    text = dedup_bytes(prompt_text(rec))
    if rec["kind"] == "text":
        return text
    return with_tools(text, rec.get("tools"), tool_calls(prompt_messages(rec)))


def key_bytes(rec: dict[str, Any], mode: str) -> bytes:
    """What a resolved key mode hashes for one record."""
    if mode == "pair":
        sides = (side_bytes(rec["chosen"] or []), side_bytes(rec["rejected"] or []))
        return _SEP.join((prompt_bytes(rec), *sides))
    if mode == "kto":
        label = b"1" if rec.get("label") else b"0"
        return _SEP.join((prompt_bytes(rec), side_bytes(rec.get("completion") or []), label))
    if mode == "prompt":
        return prompt_bytes(rec)
    calls = tool_calls(rec["messages"]) if rec["kind"] != "text" else []
    return with_tools(dedup_bytes(all_text(rec)), rec.get("tools"), calls)


def exact_key(rec: dict[str, Any], key: str = "auto") -> int:
    """The 64-bit exact-dedup key of a record under the recipe's `dedup.exact.key`."""
    return xxhash.xxh3_64_intdigest(key_bytes(rec, resolve(key, rec["kind"])))
