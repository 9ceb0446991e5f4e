"""Reasoning as data: inline blocks and fields become `reasoning_content`; outputs write it back."""

from __future__ import annotations

from typing import Any

import pytest

from postmix import formats
from postmix.formats import ConvertContext
from postmix.formats.columns import Options as ColumnOptions
from postmix.formats.reasoning import (
    inline_text,
    reasoning_length,
    reasoning_share,
    split_inline,
    unwritable,
    with_reasoning,
)
from postmix.schema import InvalidRow, message, record, record_id, structure_problem
from postmix.writers.schemas import SCHEMAS

# OpenR1 / R1-distill style: the trace inline at the start of the reply.
R1_ROW = {
    "messages": [
        {"role": "user", "content": "What is 2+3?"},
        {
            "role": "assistant",
            "content": "<think>\nAdd 2 and 3.\nThat is 5.\n</think>\n\nThe sum is 5.",
        },
    ]
}
# Sky-T1 / Bespoke-Stratos / OpenThoughts-114k style (ShareGPT, thought and solution blocks).
STRATOS_ROW = {
    "system": "Think step by step.",
    "conversations": [
        {"from": "user", "value": "What is 2+3?"},
        {
            "from": "assistant",
            "value": "<|begin_of_thought|>\n\nAdd 2 and 3.\nThat is 5.\n\n<|end_of_thought|>\n\n"
            "<|begin_of_solution|>\n\nThe sum is 5.\n\n<|end_of_solution|>",
        },
    ],
}
# Several exchanges: a field on turn 1, inline on turn 3, an empty block on turn 2, none on turn 4.
MULTI_ROW = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a prime."},
        {"role": "assistant", "content": "7", "reasoning_content": "7 has no divisors."},
        {"role": "user", "content": "Another?"},
        {"role": "assistant", "content": "<think>\n\n</think>\n\n11"},
        {"role": "user", "content": "And one more?"},
        {"role": "assistant", "content": "<think>\nAfter 11 comes 13.\n</think>\n\n13"},
        {"role": "user", "content": "Thanks."},
        {"role": "assistant", "content": "You are welcome."},
    ]
}


def convert(name: str, row: dict[str, Any], kind: str = "sft", **options: Any) -> dict[str, Any]:
    conv = formats.get(name)
    ctx = ConvertContext(kind=kind, options=conv.options(**options))
    [(_, out)] = list(conv.stream([(0, row)], ctx))
    if isinstance(out, Exception):
        raise out
    out["id"], out["source"] = record_id(out), "test"
    return out


def reasoning_of(rec: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [
        (m.get("reasoning_content"), m["content"])
        for m in rec["messages"]
        if m["role"] == "assistant"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>\nstep\n</think>\n\nanswer", ("step", "answer")),
        ("  <think>step</think>answer", ("step", "answer")),
        ("<think>\n\n</think>\n\nanswer", ("", "answer")),
        ("<think></think>", ("", "")),
        ("<think>never closed", (None, "<think>never closed")),
        ("answer first <think>x</think>", (None, "answer first <think>x</think>")),
        ("<think>a</think>b</think>c", ("a", "b</think>c")),
        ("<|begin_of_thought|>\n\nt\n\n<|end_of_thought|>\n\nplain", ("t", "plain")),
        (
            "<|begin_of_thought|>t<|end_of_thought|>"
            "<|begin_of_solution|>\n s \n<|end_of_solution|>",
            ("t", "s"),
        ),
        ("no reasoning", (None, "no reasoning")),
    ],
)
def test_split_inline(text: str, expected: tuple[str | None, str]) -> None:
    assert split_inline(text) == expected


def test_inline_text_reads_back_to_the_same_reasoning_and_answer() -> None:
    for reasoning in ("step one\nstep two", "", None):
        msg = message("assistant", "The answer.", reasoning_content=reasoning)
        assert split_inline(inline_text(msg)) == (reasoning, "The answer.")


def test_a_field_wins_and_the_same_inline_block_is_removed() -> None:
    msg = message("assistant", "<think>\nsame\n</think>\n\nok")
    assert with_reasoning(msg, "same") == message("assistant", "ok", reasoning_content="same")
    with pytest.raises(InvalidRow, match="two different reasoning"):
        with_reasoning(msg, "other")
    # A user turn is never parsed; a field on it is kept, not lost.
    user = message("user", "<think>x</think>y")
    assert with_reasoning(user) == user
    assert with_reasoning(user, "r")["reasoning_content"] == "r"


@pytest.mark.parametrize(("name", "row"), [("messages", R1_ROW), ("sharegpt", STRATOS_ROW)])
def test_converters_read_inline_blocks(name: str, row: dict[str, Any]) -> None:
    rec = convert(name, row)
    assert reasoning_of(rec) == [("Add 2 and 3.\nThat is 5.", "The sum is 5.")]
    assert structure_problem(rec) is None


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning", "thinking"])
def test_messages_reads_reasoning_fields(key: str) -> None:
    row = {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a", key: "r"},
        ]
    }
    assert reasoning_of(convert("messages", row)) == [("r", "a")]


def test_an_empty_block_stays_distinct_from_no_block() -> None:
    rec = convert("messages", MULTI_ROW)
    assert reasoning_of(rec) == [
        ("7 has no divisors.", "7"),
        ("", "11"),
        ("After 11 comes 13.", "13"),
        (None, "You are welcome."),
    ]
    empty_field = {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a", "reasoning_content": ""},
        ]
    }
    assert reasoning_of(convert("messages", empty_field)) == [("", "a")]


def test_alpaca_and_columns_read_reasoning() -> None:
    alpaca = convert(
        "alpaca", {"instruction": "2+3?", "input": "", "output": "<think>add</think>5"}
    )
    assert reasoning_of(alpaca) == [("add", "5")]
    # s1K keeps one trajectory in a list next to the attempt.
    s1k = {"question": "2+3?", "thinking_trajectories": ["Add.", "Check."], "attempt": "5"}
    rec = convert(
        "columns", s1k, prompt="question", response="attempt", reasoning="thinking_trajectories"
    )
    assert reasoning_of(rec) == [("Add.\n\nCheck.", "5")]
    inline = convert("columns", {"q": "2+3?", "r": "<think>add</think>5"}, prompt="q", response="r")
    assert reasoning_of(inline) == [("add", "5")]
    with pytest.raises(ValueError, match="set `response`"):
        ColumnOptions(prompt="q", reasoning="t")


SFT_SOURCES = [("messages", R1_ROW), ("sharegpt", STRATOS_ROW), ("messages", MULTI_ROW)]
# Which converter reads each output schema back (the ones `formats.infer` picks from its columns,
# except prompt_response, which no dedicated converter reads: `columns` maps it).
READ_BACK = {
    "messages": ("messages", {}),
    "conversations": ("sharegpt", {}),
    "sharegpt": ("sharegpt", {}),
    "alpaca": ("alpaca", {}),
    "prompt_response": (
        "columns",
        {"prompt": "prompt", "response": "response", "system": "system"},
    ),
}


@pytest.mark.parametrize("schema", sorted(SCHEMAS))
@pytest.mark.parametrize(("name", "row"), SFT_SOURCES, ids=["r1", "stratos", "multi"])
def test_inline_think_round_trips_through_every_schema(
    schema: str, name: str, row: dict[str, Any]
) -> None:
    rec = convert(name, row)
    out = SCHEMAS[schema](rec)
    reader, options = READ_BACK[schema]
    if schema not in ("prompt_response",):
        assert formats.from_columns(out.keys()) is formats.get(reader)
    back = convert(reader, out, **options)
    expected = reasoning_of(rec)
    if schema in ("alpaca", "prompt_response"):
        expected = expected[-1:]  # earlier exchanges become `history`, which these readers skip
    got = reasoning_of(back)
    assert got[-len(expected) :] == expected
    if schema == "messages":
        assert out["messages"] == rec["messages"] and back["messages"] == rec["messages"]
    else:
        assert "<think>" in str(out) and "reasoning_content" not in str(out)


def test_preference_sides_keep_their_reasoning() -> None:
    prompt = [message("user", "2+3?")]
    rec = record(
        "preference",
        prompt,
        chosen=[message("assistant", "5", reasoning_content="add")],
        rejected=[message("assistant", "6", reasoning_content="")],
    )
    rec["id"], rec["source"] = record_id(rec), "test"
    assert SCHEMAS["messages"](rec)["chosen"][0]["reasoning_content"] == "add"
    full = SCHEMAS["conversations"](rec)
    assert full["chosen"][-1]["content"] == "<think>\nadd\n</think>\n\n5"
    assert split_inline(full["rejected"][-1]["content"]) == ("", "6")
    assert split_inline(SCHEMAS["sharegpt"](rec)["chosen"]["value"]) == ("add", "5")


def test_reasoning_length_and_share() -> None:
    rec = convert("messages", MULTI_ROW)
    thought, answer = reasoning_length(rec)
    assert (thought, answer) == (len("7 has no divisors.") + len("After 11 comes 13."), 1 + 2 + 2)
    assert reasoning_share(thought, answer) == thought / (thought + answer)
    plain = convert(
        "messages",
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
    )
    assert reasoning_length(plain) == (0, 0) and reasoning_share(0, 0) is None


def test_sharegpt_cannot_hold_the_reasoning_of_a_tool_call() -> None:
    call = [{"type": "function", "function": {"name": "add", "arguments": {"a": 2}}}]
    rec = record(
        "sft",
        [
            message("user", "2+3?"),
            message("assistant", "", tool_calls=call, reasoning_content="Use the tool."),
            message("tool", "5"),
            message("assistant", "5", reasoning_content="It said 5."),
        ],
    )
    assert unwritable(rec, "sharegpt") == "reasoning_on_tool_call"
    assert [unwritable(rec, s) for s in sorted(SCHEMAS) if s != "sharegpt"] == [None] * 4
    rec["messages"][1] = message("assistant", "", tool_calls=call)
    assert unwritable(rec, "sharegpt") is None
