"""The `reasoning` transform: `keep` (all, last, none) and `empty` (keep, strip) do only that."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from postmix.formats.reasoning import reasoning_texts
from postmix.schema import message, record
from postmix.steps import StepEnv
from postmix.transforms import reasoning

TOOLS_CALL = [{"type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 3}}}]


def multi_turn() -> dict[str, Any]:
    """Reasoning on turn 1, an empty block on turn 2, none on turn 3, then a tool exchange."""
    return record(
        "sft",
        [
            message("system", "Be brief."),
            message("user", "Name a prime."),
            message("assistant", "7", reasoning_content="7 has no divisors."),
            message("user", "Another?"),
            message("assistant", "11", reasoning_content=""),
            message("user", "Thanks."),
            message("assistant", "Welcome."),
            message("user", "2+3?"),
            message("assistant", "", tool_calls=TOOLS_CALL, reasoning_content="Use the tool."),
            message("tool", "5", tool_call_id="c1"),
            message("assistant", "5", reasoning_content="The tool said 5."),
        ],
    )


def pair() -> dict[str, Any]:
    return record(
        "preference",
        [
            message("user", "1+1?"),
            message("assistant", "2", reasoning_content="one and one"),
            message("user", "2+3?"),
        ],
        chosen=[message("assistant", "5", reasoning_content="add")],
        rejected=[message("assistant", "6", reasoning_content=" \n")],
    )


def run(rec: dict[str, Any], **cfg: Any) -> dict[str, Any]:
    fn = reasoning.build(reasoning.Config(type="reasoning", **cfg), StepEnv())
    before = copy.deepcopy(rec)
    [out] = fn([rec])
    assert rec == before  # records are never changed in place
    return out


def reasonings(msgs: list[dict[str, Any]]) -> list[str | None]:
    return [m.get("reasoning_content") for m in msgs if m["role"] == "assistant"]


def without_reasoning(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.items() if k != "reasoning_content"} for m in msgs]


def test_defaults_change_nothing() -> None:
    for rec in (multi_turn(), pair()):
        assert run(rec) is rec


@pytest.mark.parametrize(
    ("keep", "expected"),
    [
        ("all", ["7 has no divisors.", "", None, "Use the tool.", "The tool said 5."]),
        ("last", [None, None, None, "Use the tool.", "The tool said 5."]),
        ("none", [None, None, None, None, None]),
    ],
)
def test_keep_removes_reasoning_and_nothing_else(keep: str, expected: list[str | None]) -> None:
    rec = multi_turn()
    out = run(rec, keep=keep)
    assert reasonings(out["messages"]) == expected
    assert without_reasoning(out["messages"]) == without_reasoning(rec["messages"])
    assert {k: v for k, v in out.items() if k != "messages"} == {
        k: v for k, v in rec.items() if k != "messages"
    }


def test_strip_removes_only_empty_blocks() -> None:
    out = run(multi_turn(), empty="strip")
    assert reasonings(out["messages"]) == [
        "7 has no divisors.",
        None,
        None,
        "Use the tool.",
        "The tool said 5.",
    ]
    assert "reasoning_content" not in out["messages"][4]
    assert without_reasoning(out["messages"]) == without_reasoning(multi_turn()["messages"])


def test_preference_history_and_sides() -> None:
    last = run(pair(), keep="last")
    assert reasonings(last["messages"]) == [None]
    assert last["chosen"] == pair()["chosen"] and last["rejected"] == pair()["rejected"]
    none = run(pair(), keep="none")
    assert reasoning_texts(none) == []
    stripped = run(pair(), empty="strip")
    assert stripped["messages"] == pair()["messages"] and stripped["chosen"] == pair()["chosen"]
    assert stripped["rejected"] == [message("assistant", "6")]


def test_prompt_history_keeps_reasoning_only_with_all() -> None:
    rec = record(
        "prompt",
        [
            message("user", "1+1?"),
            message("assistant", "2", reasoning_content="one and one"),
            message("user", "2+3?"),
        ],
    )
    assert run(rec, keep="all") is rec
    assert reasonings(run(rec, keep="last")["messages"]) == [None]


def test_text_records_pass_through() -> None:
    rec = record("text", [], text="<think>not a reply</think>")
    assert run(rec, keep="none", empty="strip") is rec
