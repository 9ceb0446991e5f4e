"""Pairwise human judgments: Chatbot Arena battles and MT-bench judgments.

Rows are `{question_id, model_a, model_b, winner, judge, conversation_a,
conversation_b, turn, ...}` with `winner` one of `model_a`, `model_b`, `tie`,
`tie (bothbad)`. Ties are dropped (`tie`). A judgment compares the two
models' replies to one user turn, the judged turn k: it becomes a pair whose
prompt is everything up to and including the k-th user turn, which must be
the same on both sides; the winner's reply to it is chosen, the loser's
rejected. When the sides differ before the judged turn (the earlier replies
came from different models), no pair states what the judge compared: the
judgment is dropped as `judged_turn_not_shared`. `multi_turn: first_turn`
pairs the first replies instead, an approximation marked
`meta.first_turn_only`, never the default. Sides that differ in their first
user turn, or hold different numbers of user turns, are malformed.

What `turn` means (`turn_column`):
- `judged`: the judged turn, 1-based. lmsys/mt_bench_human_judgments (and the
  GPT-4 pair judgments) store both turns in every conversation and one
  judgment per turn.
- `length`: how many user turns the conversation has, as in
  lmsys/chatbot_arena_conversations, where one vote follows the whole
  conversation: the last turn is the judged one, and `turn` must equal the
  conversation's user turns.
- `auto` (default): the judged turn. The two readings agree whenever `turn`
  equals the conversation's user turns, the only value an arena row holds; a
  smaller value can only name a judged turn. Without a `turn` the last turn
  is judged.

- preference (default): as above; `meta` holds question_id, language,
  model_chosen, model_rejected, winner, judge, turn (the turn paired) and
  first_turn_only.
- prompt: the first user turn (after any system turn).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from postmix.formats.base import ConvertContext, Converter
from postmix.formats.messages import to_messages
from postmix.schema import InvalidRow, Message, Skip, record, require

SIDES: dict[str, tuple[str, str]] = {"model_a": ("a", "b"), "model_b": ("b", "a")}


class Options(BaseModel):
    """Which turn a judgment is about, and what to do when its history differs."""

    model_config = ConfigDict(extra="forbid")

    multi_turn: Literal["judged_turn", "first_turn"] = "judged_turn"
    turn_column: Literal["auto", "judged", "length"] = "auto"


def user_turns(conv: list[Message]) -> list[int]:
    """Positions of the user turns of a conversation."""
    return [i for i, msg in enumerate(conv) if msg["role"] == "user"]


def first_turn(conv: list[Message]) -> list[Message]:
    """The conversation up to and including its first user turn."""
    users = user_turns(conv)
    if not users:
        raise InvalidRow("the conversation has no user turn")
    return conv[: users[0] + 1]


def exchange(conv: list[Message], k: int, side: str) -> tuple[list[Message], list[Message]]:
    """Everything up to the k-th user turn (1-based), and the assistant reply to it."""
    users = user_turns(conv)
    start = users[k - 1] + 1
    end = users[k] if k < len(users) else len(conv)
    reply = conv[start:end]
    if not reply or any(m["role"] != "assistant" for m in reply):
        raise InvalidRow(f"conversation_{side} has no assistant reply to user turn {k}")
    return conv[:start], reply


def judged_turn(row: dict[str, Any], turns: int, reading: str) -> int:
    """The 1-based turn a judgment is about, from the `turn` column read as `reading`."""
    value = row.get("turn")
    if value is None:
        return turns
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRow(f"turn is {value!r}, expected an integer")
    if reading == "length" and value != turns:
        raise InvalidRow(f"turn {value} read as the length, but the sides have {turns} user turns")
    if not 1 <= value <= turns:
        raise InvalidRow(f"turn {value}, but the sides have {turns} user turns")
    return value


def pair_sides(
    convs: dict[str, list[Message]], k: int, opts: Options
) -> tuple[list[Message], dict[str, list[Message]], int]:
    """The shared prompt, each side's reply, and the turn they answer."""
    (prompt_a, reply_a), (prompt_b, reply_b) = (exchange(convs[s], k, s) for s in "ab")
    if prompt_a == prompt_b:
        return prompt_a, {"a": reply_a, "b": reply_b}, k
    if opts.multi_turn != "first_turn":
        raise Skip("judged_turn_not_shared", f"turn {k}: the sides differ before it")
    return pair_sides(convs, 1, opts)


def convert(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    (conv_a,) = require(row, "conversation_a")
    meta: dict[str, Any] = {"question_id": row.get("question_id"), "language": row.get("language")}
    if ctx.kind == "prompt":
        return [record("prompt", first_turn(to_messages(conv_a)), meta=meta)]
    conv_b, winner = require(row, "conversation_b", "winner")
    if isinstance(winner, str) and winner.startswith("tie"):
        raise Skip("tie", winner)
    if winner not in SIDES:
        raise InvalidRow(f"winner {winner!r}, expected model_a, model_b or a tie")
    convs = {"a": to_messages(conv_a), "b": to_messages(conv_b)}
    if first_turn(convs["a"]) != first_turn(convs["b"]):
        raise InvalidRow("conversation_a and conversation_b differ in their first user turn")
    turns = {len(user_turns(c)) for c in convs.values()}
    if len(turns) != 1:
        raise InvalidRow(f"the sides hold different numbers of user turns: {sorted(turns)}")
    k = judged_turn(row, turns.pop(), ctx.options.turn_column)
    prompt, replies, paired = pair_sides(convs, k, ctx.options)
    win, lose = SIDES[winner]
    meta.update(
        model_chosen=row.get(f"model_{win}"),
        model_rejected=row.get(f"model_{lose}"),
        winner=winner,
        judge=row.get("judge"),
        turn=paired,
        first_turn_only=paired != k,
    )
    return [record("preference", prompt, chosen=replies[win], rejected=replies[lose], meta=meta)]


CONVERTER = Converter(
    name="arena",
    kinds=("preference", "prompt"),
    convert=convert,
    columns=(
        frozenset({"conversation_a", "conversation_b", "winner"}),
        frozenset({"model_a", "model_b", "conversation_a", "conversation_b", "winner"}),
    ),
    hub_ids=("lmsys/chatbot_arena_conversations", "lmsys/mt_bench_human_judgments"),
    options=Options,
    doc=__doc__ or "",
)
