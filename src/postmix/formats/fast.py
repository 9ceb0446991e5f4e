"""Fast row converters: the common shape of a few layouts, turned into records with few calls.

Each function returns the messages and meta of exactly the record its format's
converter returns for a row of `kind: sft` (`as_record` assembles it: same keys,
same order, same values), or None when the row is not in the common shape:
other or missing keys, other types, an inline reasoning block, tool turns,
speakers outside the usual few. The engine then runs the format's own converter
on that row, which stays the definition of the format; `tests/engine/test_fast.py`
compares both on real and built rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from postmix.formats.alpaca import user_turn
from postmix.formats.hh_rlhf import _ROLES as HH_ROLES
from postmix.formats.hh_rlhf import _TURN as HH_TURN
from postmix.formats.reasoning import BLOCKS
from postmix.schema import record

Record = dict[str, Any]
# (messages, meta) of a plain sft record: the lane hashes and writes the messages without
# building the record dict, which it assembles only for the few records a step looks at.
Plain = tuple[list[dict[str, str]], dict[str, Any]]
FastFn = Callable[[Any], "Plain | None"]

# A reply opening with one of these may hold inline reasoning: left to the converter.
_OPENERS: tuple[str, ...] = tuple(block[0] for block in BLOCKS)
# ShareGPT speakers as most files spell them (the converter lower-cases any other spelling).
_SHAREGPT_ROLES: dict[str, str] = {
    "human": "user",
    "gpt": "assistant",
    "system": "system",
    "user": "user",
    "assistant": "assistant",
}
_ALPACA_KEYS = frozenset({"instruction", "input", "output"})
_DOLLY_KEYS = frozenset({"instruction", "context", "response", "category"})
_ORCA_KEYS = frozenset({"system_prompt", "question", "response", "id"})


def _reply(text: Any) -> dict[str, str] | None:
    """An assistant message without reasoning, or None when `text` is no plain reply."""
    if type(text) is not str or text.lstrip().startswith(_OPENERS):
        return None
    return {"role": "assistant", "content": text}


def as_record(plain: Plain) -> Record:
    """The record a fast function's result stands for (what the converter returns)."""
    return record("sft", plain[0], meta=plain[1])


def alpaca(row: Any) -> Plain | None:
    """`{instruction, output[, input]}` with string values (`formats/alpaca.py`)."""
    if type(row) is not dict or not row.keys() <= _ALPACA_KEYS:
        return None
    instruction, extra = row.get("instruction"), row.get("input")
    reply = _reply(row.get("output"))
    if reply is None or type(instruction) is not str or type(extra) not in (str, type(None)):
        return None
    return [{"role": "user", "content": user_turn(instruction, extra)}, reply], {}


def dolly(row: Any) -> Plain | None:
    """`{instruction, response[, context][, category]}` with string values (`formats/dolly.py`)."""
    if type(row) is not dict or not row.keys() <= _DOLLY_KEYS:
        return None
    instruction, context = row.get("instruction"), row.get("context")
    response, category = row.get("response"), row.get("category")
    if type(instruction) is not str or type(response) is not str:
        return None
    if type(context) not in (str, type(None)) or type(category) not in (str, type(None)):
        return None
    user = {"role": "user", "content": user_turn(instruction, context)}
    meta = {"category": category} if category is not None else {}
    return [user, {"role": "assistant", "content": response}], meta


def sharegpt(row: Any) -> Plain | None:
    """`{conversations: [{from, value}]}` of text turns only (`formats/sharegpt.py`)."""
    if type(row) is not dict or len(row) != 1:
        return None
    conversation = row.get("conversations")
    if type(conversation) is not list:
        return None
    msgs: list[Any] = []
    for turn in conversation:
        if type(turn) is not dict or len(turn) != 2:
            return None
        who, value = turn.get("from"), turn.get("value")
        role = _SHAREGPT_ROLES.get(who) if type(who) is str else None
        if role is None or type(value) is not str:
            return None
        if role == "assistant" and value.lstrip().startswith(_OPENERS):
            return None  # inline reasoning: the converter splits it out
        msgs.append({"role": role, "content": value})
    return msgs, {}


def hh_rlhf(row: Any) -> Plain | None:
    """`{chosen, rejected}` transcripts whose chosen side reads cleanly (`formats/hh_rlhf.py`)."""
    if type(row) is not dict or len(row) != 2:
        return None
    chosen, rejected = row.get("chosen"), row.get("rejected")
    if type(chosen) is not str or rejected is None:
        return None
    parts = HH_TURN.split("\n\n" + chosen.lstrip())
    if len(parts) < 3 or parts[0].strip():
        return None
    roles = HH_ROLES
    msgs = [
        {"role": roles[who], "content": text.strip()} for who, text in zip(parts[1::2], parts[2::2])
    ]
    return msgs, {}


def openorca(row: Any) -> Plain | None:
    """`{system_prompt, question, response[, id]}` with string values (`formats/openorca.py`)."""
    if type(row) is not dict or not row.keys() <= _ORCA_KEYS:
        return None
    system, question = row.get("system_prompt"), row.get("question")
    response, upstream_id = row.get("response"), row.get("id")
    if type(question) is not str or type(response) is not str:
        return None
    if type(system) not in (str, type(None)) or type(upstream_id) not in (str, type(None)):
        return None
    msgs = [{"role": "system", "content": system}] if system and system.strip() else []
    msgs.append({"role": "user", "content": question})
    msgs.append({"role": "assistant", "content": response})
    category = upstream_id.split(".", 1)[0] if upstream_id and "." in upstream_id else None
    meta = {"category": category} if category is not None else {}
    return msgs, meta


# Converter name → fast function, for `kind: sft` sources.
FAST: dict[str, FastFn] = {
    "alpaca": alpaca,
    "dolly": dolly,
    "sharegpt": sharegpt,
    "hh_rlhf": hh_rlhf,
    "openorca": openorca,
}
