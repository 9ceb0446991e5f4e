"""Chatbot Arena battles (lmsys/chatbot_arena_conversations): two models, one human vote.

Rows are `{question_id, model_a, model_b, winner, conversation_a,
conversation_b, turn, language, ...}` with `winner` one of `model_a`,
`model_b`, `tie`, `tie (bothbad)`. The prompt is everything before each
conversation's last assistant turn, and must be the same on both sides; the
winner's last reply is chosen, the loser's rejected. Ties are dropped (`tie`).

In a multi-turn battle the two prompts always differ, because the earlier
replies came from different models, and a preference record has one shared
prompt. Such a battle becomes a pair on its first turn (the first user turn,
and each model's first reply): the vote judged the whole conversation, so this
is an approximation, marked `meta.first_turn_only`. `multi_turn: skip` drops
these battles instead (`multi_turn`). Sides that differ in their first user
turn are malformed.

- preference (default): as above; `meta` holds question_id, language,
  model_chosen, model_rejected, winner, first_turn_only.
- prompt: the first user turn (after any system turn).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from postmix.formats.base import ConvertContext, Converter
from postmix.formats.messages import to_messages
from postmix.formats.ultrafeedback import split_replies
from postmix.schema import InvalidRow, Message, Skip, record, require

SIDES: dict[str, tuple[str, str]] = {"model_a": ("a", "b"), "model_b": ("b", "a")}


class Options(BaseModel):
    """What to do with battles of several turns."""

    model_config = ConfigDict(extra="forbid")

    multi_turn: Literal["first_turn", "skip"] = "first_turn"


def first_turn(conv: list[Message]) -> list[Message]:
    """The conversation up to and including its first user turn."""
    for i, msg in enumerate(conv):
        if msg["role"] == "user":
            return conv[: i + 1]
    raise InvalidRow("the conversation has no user turn")


def prompt_and_reply(conv: list[Message], side: str) -> tuple[list[Message], list[Message]]:
    prompt, reply = split_replies(conv)
    if not reply or not prompt:
        raise InvalidRow(f"conversation_{side} does not end with an assistant reply to a prompt")
    return prompt, reply[-1:]


def first_exchange(conv: list[Message], side: str) -> tuple[list[Message], list[Message]]:
    """The first user turn (with anything before it) and the reply that follows it."""
    prompt = first_turn(conv)
    reply = conv[len(prompt) : len(prompt) + 1]
    if not reply or reply[0]["role"] != "assistant":
        raise InvalidRow(f"conversation_{side} has no reply to its first user turn")
    return prompt, reply


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
    (prompt_a, reply_a), (prompt_b, reply_b) = (prompt_and_reply(convs[s], s) for s in "ab")
    first_only = prompt_a != prompt_b
    if first_only:
        (prompt_a, reply_a), (prompt_b, reply_b) = (first_exchange(convs[s], s) for s in "ab")
        if prompt_a != prompt_b:
            raise InvalidRow("conversation_a and conversation_b differ in their first user turn")
        if ctx.options.multi_turn == "skip":
            raise Skip("multi_turn", "the sides' prompts differ after the first turn")
    replies = {"a": reply_a, "b": reply_b}
    win, lose = SIDES[winner]
    meta.update(
        model_chosen=row.get(f"model_{win}"),
        model_rejected=row.get(f"model_{lose}"),
        winner=winner,
        first_turn_only=first_only,
    )
    return [record("preference", prompt_a, chosen=replies[win], rejected=replies[lose], meta=meta)]


CONVERTER = Converter(
    name="arena",
    kinds=("preference", "prompt"),
    convert=convert,
    columns=(
        frozenset({"conversation_a", "conversation_b", "winner"}),
        frozenset({"model_a", "model_b", "conversation_a", "conversation_b", "winner"}),
    ),
    hub_ids=("lmsys/chatbot_arena_conversations",),
    options=Options,
    doc=__doc__ or "",
)
