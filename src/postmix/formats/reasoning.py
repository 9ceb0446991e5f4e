"""Reasoning traces as data: read them out of assistant text, write them back inline.

Upstream reasoning data stores a reply's thinking in one of two ways:

- a field beside the content (`reasoning_content`, as vLLM, TRL and the HF chat
  templates name it; also `reasoning` and `thinking`);
- inline at the start of the content: `<think>…</think>answer` (DeepSeek-R1
  distills, OpenR1, OpenThoughts3, MiniMind) or
  `<|begin_of_thought|>…<|end_of_thought|>` with the answer inside
  `<|begin_of_solution|>…<|end_of_solution|>` (Sky-T1, Bespoke-Stratos,
  OpenThoughts-114k).

Converters turn both into the message's `reasoning_content`, so content holds
only the answer. An empty block (`<think>\\n\\n</think>`) becomes an empty
`reasoning_content` (not none): recipes decide whether such replies are kept,
stripped or dropped (`transforms/reasoning.py`, `filters/reasoning.py`).
Outputs that have no reasoning field write it back inline as `<think>`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from postmix.schema import InvalidRow, Message
from postmix.templates.spec import THINK

FIELDS: tuple[str, ...] = ("reasoning_content", "reasoning", "thinking")
# (open, close) of a reasoning block, and of the answer block that may follow it.
BLOCKS: tuple[tuple[str, str, tuple[str, str] | None], ...] = (
    ("<think>", "</think>", None),
    (
        "<|begin_of_thought|>",
        "<|end_of_thought|>",
        ("<|begin_of_solution|>", "<|end_of_solution|>"),
    ),
)
TAGS: tuple[str, ...] = tuple(tag for block in BLOCKS for tag in block[:2])


def split_inline(text: str) -> tuple[str | None, str]:
    """`(reasoning, answer)` of a text that opens with a reasoning block, else `(None, text)`.

    The block must open the text (leading whitespace aside) and be closed: a
    `<think>` mentioned later in an answer is the answer's text. Newlines
    around the reasoning and before the answer are layout, not content.
    """
    head = text.lstrip()
    for open_tag, close_tag, answer_tags in BLOCKS:
        if not head.startswith(open_tag):
            continue
        end = head.find(close_tag, len(open_tag))
        if end < 0:
            return None, text
        reasoning = head[len(open_tag) : end].strip("\n")
        answer = head[end + len(close_tag) :].lstrip()
        if answer_tags and answer.startswith(answer_tags[0]):
            answer = answer[len(answer_tags[0]) :].rstrip().removesuffix(answer_tags[1]).strip()
        return reasoning, answer
    return None, text


def field_reasoning(turn: Mapping[str, Any]) -> str | None:
    """The reasoning a message object carries in a field, if any (first of `FIELDS`)."""
    value = next((turn[k] for k in FIELDS if turn.get(k) is not None), None)
    if value is not None and not isinstance(value, str):
        raise InvalidRow("reasoning content must be a string")
    return value


def with_reasoning(msg: Message, reasoning: str | None = None) -> Message:
    """An assistant message with its reasoning in `reasoning_content` and the answer as content.

    `reasoning` is what an upstream field held; it wins over an inline block,
    which is then removed from the content only when it says the same thing
    (two different traces for one reply are a malformed row).
    """
    if msg.get("role") != "assistant":
        return msg if reasoning is None else {**msg, "reasoning_content": reasoning}
    inline, answer = split_inline(msg.get("content") or "")
    if reasoning is None:
        reasoning = msg.get("reasoning_content")
    if reasoning is not None and inline is not None and inline.strip() != reasoning.strip():
        raise InvalidRow("a reply carries two different reasoning traces (field and inline)")
    if inline is None and reasoning is None:
        return msg
    out: Message = {**msg, "content": answer if inline is not None else msg["content"]}
    out["reasoning_content"] = reasoning if reasoning is not None else inline  # type: ignore[typeddict-item]
    return out


def inline_text(msg: Mapping[str, Any]) -> str:
    """A message's content with its reasoning written back inline (`<think>\\n…\\n</think>\\n\\n`).

    For output schemas without a reasoning field; `split_inline` reads it back
    to the same reasoning and answer, an empty block included.
    """
    reasoning = msg.get("reasoning_content")
    content = msg.get("content") or ""
    return content if reasoning is None else THINK[0] + reasoning + THINK[1] + content


def inline_message(msg: Message) -> Message:
    """A message with its reasoning moved into the content (see `inline_text`)."""
    if msg.get("reasoning_content") is None:
        return msg
    out = {k: v for k, v in msg.items() if k != "reasoning_content"}
    out["content"] = inline_text(msg)
    return out  # type: ignore[return-value]


def replies(rec: Mapping[str, Any]) -> Iterator[Message]:
    """Every assistant message of a record: its conversation, then both pair sides."""
    for key in ("messages", "chosen", "rejected"):
        for m in rec.get(key) or ():
            if m["role"] == "assistant":
                yield m


def reasoning_texts(rec: Mapping[str, Any]) -> list[str]:
    """The reasoning of each assistant turn that carries any (empty blocks included)."""
    return [r for m in replies(rec) if (r := m.get("reasoning_content")) is not None]


def reasoning_length(rec: Mapping[str, Any]) -> tuple[int, int]:
    """`(reasoning chars, answer chars)` over a record's assistant turns.

    Answer chars count only the replies that carry reasoning, so the share
    `reasoning / (reasoning + answer)` says how much of a reasoning reply is
    thinking; a record without reasoning gives `(0, 0)`.
    """
    thought = answer = 0
    for m in replies(rec):
        reasoning = m.get("reasoning_content")
        if reasoning is not None:
            thought += len(reasoning)
            answer += len(m.get("content") or "")
    return thought, answer


def reasoning_share(thought: int, answer: int) -> float | None:
    """`thought / (thought + answer)`, or None when there is neither."""
    total = thought + answer
    return thought / total if total else None


def unwritable(rec: Mapping[str, Any], schema: str) -> str | None:
    """Why output `schema` cannot hold a record's reasoning (so it is dropped, not flattened).

    ShareGPT writes a tool call as a `function_call` turn whose value is the
    call's JSON: no text around it can carry the trace of that turn. Every
    other schema holds reasoning as a field or inline.
    """
    if schema == "sharegpt" and any(
        m.get("tool_calls") and m.get("reasoning_content") for m in replies(rec)
    ):
        return "reasoning_on_tool_call"
    return None
