"""Any output row (every schema) or canonical record read back as chat turns.

The report shows and measures rows of whatever schema the recipe wrote; one
reader here keeps the stats, the rendered examples and `postmix inspect`
agreeing on what a row contains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from postmix.formats.sharegpt import ROLE_MAP

Row = dict[str, Any]
SIDES = ("chosen", "rejected")


@dataclass(frozen=True)
class Turn:
    """One message as shown: `side` is "chosen"/"rejected" for a preference alternative."""

    role: str
    content: str
    tool_calls: str | None = None  # pretty JSON of the calls, when the turn makes any
    side: str | None = None


def _calls_text(calls: Any) -> str | None:
    if not calls:
        return None
    if isinstance(calls, str):
        try:
            calls = orjson.loads(calls)
        except orjson.JSONDecodeError:
            return calls
    return orjson.dumps(calls, option=orjson.OPT_INDENT_2).decode()


def _turn(msg: Any, side: str | None = None) -> Turn:
    """A message of any shape: role/content, ShareGPT from/value, or a bare string."""
    if not isinstance(msg, dict):
        return Turn("assistant" if side else "user", str(msg), side=side)
    if "from" in msg:
        who = str(msg["from"]).lower()
        value = str(msg.get("value") or "")
        if who == "function_call":
            return Turn("assistant", "", _calls_text(value), side)
        return Turn(ROLE_MAP.get(who, who), value, side=side)
    return Turn(
        str(msg.get("role") or "?"),
        str(msg.get("content") or ""),
        _calls_text(msg.get("tool_calls")),
        side,
    )


def _history(row: Row, prompt_key: str, reply_key: str) -> list[Turn]:
    """Alpaca / prompt_response rows: system, earlier exchanges, then the last exchange."""
    out = [Turn("system", row["system"])] if row.get("system") else []
    for user, assistant in row.get("history") or ():
        out += [Turn("user", str(user)), Turn("assistant", str(assistant))]
    prompt = str(row.get(prompt_key) or "")
    if row.get("input"):
        prompt += f"\n\n{row['input']}"
    return [*out, Turn("user", prompt), Turn("assistant", str(row.get(reply_key) or ""))]


def _full_pairs(chosen: list[Any], rejected: list[Any]) -> list[Turn]:
    """`conversations`-schema pairs hold two whole chats: show the shared prompt once."""
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    return [
        *(_turn(m) for m in chosen[:shared]),
        *(_turn(m, "chosen") for m in chosen[shared:]),
        *(_turn(m, "rejected") for m in rejected[shared:]),
    ]


def turns(row: Row) -> list[Turn]:
    """The turns of a row of any output schema, or of a canonical record."""
    if "input_ids" in row or "prompt_ids" in row or "prompt_input_ids" in row:
        return []
    if "instruction" in row:
        return _history(row, "instruction", "output")
    if "response" in row and "prompt" in row and not isinstance(row["prompt"], list):
        return _history(row, "prompt", "response")
    conversation = next(
        (row[k] for k in ("messages", "conversations", "prompt") if isinstance(row.get(k), list)),
        None,
    )
    if conversation is None and all(isinstance(row.get(s), list) for s in SIDES):
        return _full_pairs(row["chosen"], row["rejected"])
    out = [Turn("system", row["system"])] if isinstance(row.get("system"), str) else []
    out += [_turn(m) for m in conversation or ()]
    for side in SIDES:
        alt = row.get(side)
        if isinstance(alt, list):
            out += [_turn(m, side) for m in alt]
        elif isinstance(alt, dict):
            out.append(_turn(alt, side))
    if isinstance(row.get("text"), str):
        out.append(Turn("text", row["text"]))
    return out


def chars(ts: list[Turn]) -> int:
    """Characters of a record as the pipeline counts them: every non-alternative turn."""
    return sum(len(t.content) for t in ts if t.side is None)


def user_turns(ts: list[Turn]) -> int:
    return sum(1 for t in ts if t.role == "user" and t.side is None)


def pair_chars(ts: list[Turn]) -> tuple[int, int] | None:
    """(chosen, rejected) characters of a preference row; None for any other row."""
    chosen = [len(t.content) for t in ts if t.side == "chosen"]
    rejected = [len(t.content) for t in ts if t.side == "rejected"]
    if not chosen or not rejected:
        return None
    return sum(chosen), sum(rejected)


def token_counts(row: Row) -> tuple[int, int] | None:
    """(tokens, trainable tokens) of a tokenized record (labels of -100 are not trained; a
    pair trains on both replies); None for rows of text."""
    from postmix.report.tokens import PAIR_SIDES

    ids = row.get("input_ids")
    if ids is None:
        sides = [
            (next((row[k] for k in keys if row.get(k) is not None), None), train)
            for _, keys, train in PAIR_SIDES
        ]
        if any(side is None for side, _ in sides):
            return None
        return sum(len(x) for x, _ in sides), sum(len(x) for x, train in sides if train)
    labels = row.get("labels")
    trainable = len(ids) if labels is None else sum(1 for x in labels if x != -100)
    return len(ids), trainable
