"""Chatbot Arena converter on battles shaped like lmsys/chatbot_arena_conversations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from postmix import formats
from postmix.formats.arena import CONVERTER, Options
from postmix.formats.base import ConvertContext
from postmix.schema import InvalidRow, Skip, structure_problem
from tests.conftest import shared_file

QUESTION = "What is the difference between a list and a tuple in Python?"
LIST_TUPLE_A = "Lists are mutable and tuples are immutable; tuples can be dictionary keys."
LIST_TUPLE_B = "They are the same thing."


def turn(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def battle(
    winner: str, conv_a: list[dict[str, str]], conv_b: list[dict[str, str]]
) -> dict[str, Any]:
    """A row with every column of the hub dataset."""
    return {
        "question_id": "58210e39b3fd4441a2bd4a518bb44c2d",
        "model_a": "chatglm-6b",
        "model_b": "koala-13b",
        "winner": winner,
        "judge": "arena_user_973",
        "conversation_a": conv_a,
        "conversation_b": conv_b,
        "turn": sum(t["role"] == "user" for t in conv_a),
        "anony": True,
        "language": "English",
        "tstamp": 1682351591.1322,
        "openai_moderation": {"flagged": False},
        "toxic_chat_tag": {"roberta-large": {"flagged": False, "probability": 0.008}},
    }


def single(winner: str) -> dict[str, Any]:
    return battle(
        winner,
        [turn("user", QUESTION), turn("assistant", LIST_TUPLE_A)],
        [turn("user", QUESTION), turn("assistant", LIST_TUPLE_B)],
    )


def multi(winner: str = "model_b") -> dict[str, Any]:
    follow_up = "Show me an example."
    return battle(
        winner,
        [
            turn("user", QUESTION),
            turn("assistant", LIST_TUPLE_A),
            turn("user", follow_up),
            turn("assistant", "a = [1, 2]; a.append(3)  # fine\nt = (1, 2)  # cannot append"),
        ],
        [
            turn("user", QUESTION),
            turn("assistant", LIST_TUPLE_B),
            turn("user", follow_up),
            turn("assistant", "x = [1] and y = (1)"),
        ],
    )


def run(rows: list[Any], kind: str = "preference", **options: Any) -> list[Any]:
    ctx = ConvertContext(kind=kind, options=Options(**options))
    return [out for _, out in CONVERTER.stream(enumerate(rows), ctx)]


def texts(msgs: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in msgs]


@pytest.mark.parametrize(
    ("winner", "chosen", "rejected", "models"),
    [
        ("model_a", LIST_TUPLE_A, LIST_TUPLE_B, ("chatglm-6b", "koala-13b")),
        ("model_b", LIST_TUPLE_B, LIST_TUPLE_A, ("koala-13b", "chatglm-6b")),
    ],
)
def test_winner_reply_is_chosen(
    winner: str, chosen: str, rejected: str, models: tuple[str, str]
) -> None:
    (rec,) = run([single(winner)])
    assert rec["kind"] == "preference" and structure_problem(rec) is None
    assert rec["messages"] == [turn("user", QUESTION)]
    assert texts(rec["chosen"]) == [chosen] and texts(rec["rejected"]) == [rejected]
    assert rec["meta"] == {
        "question_id": "58210e39b3fd4441a2bd4a518bb44c2d",
        "language": "English",
        "model_chosen": models[0],
        "model_rejected": models[1],
        "winner": winner,
        "judge": "arena_user_973",
        "turn": 1,
        "first_turn_only": False,
    }


@pytest.mark.parametrize("winner", ["tie", "tie (bothbad)"])
def test_ties_are_dropped(winner: str) -> None:
    (out,) = run([single(winner)])
    assert isinstance(out, Skip) and out.reason == "tie" and out.detail == winner


def test_a_judged_turn_whose_history_differs_is_dropped_by_default() -> None:
    """The vote judged the second replies; a pair on the first ones would misstate it."""
    (out,) = run([multi()])
    assert isinstance(out, Skip) and out.reason == "judged_turn_not_shared"
    assert "turn 2" in out.detail


def test_first_turn_approximation_is_an_explicit_option() -> None:
    (rec,) = run([multi()], multi_turn="first_turn")
    assert texts(rec["messages"]) == [QUESTION]
    assert texts(rec["chosen"]) == [LIST_TUPLE_B] and texts(rec["rejected"]) == [LIST_TUPLE_A]
    assert rec["meta"]["first_turn_only"] is True and rec["meta"]["turn"] == 1
    assert structure_problem(rec) is None
    assert Options().multi_turn == "judged_turn"
    with pytest.raises(ValidationError):
        Options(multi_turn="skip")  # type: ignore[arg-type]


def test_identical_earlier_turns_keep_the_whole_prompt() -> None:
    """A shared system turn and identical prompts: the prompt is everything but the last reply."""
    system = turn("system", "You are a helpful assistant.")
    row = battle(
        "model_a",
        [system, turn("user", QUESTION), turn("assistant", LIST_TUPLE_A)],
        [system, turn("user", QUESTION), turn("assistant", LIST_TUPLE_B)],
    )
    (rec,) = run([row])
    assert rec["messages"] == [system, turn("user", QUESTION)]
    assert rec["meta"]["first_turn_only"] is False


def test_prompt_kind_takes_the_first_user_turn() -> None:
    recs = run([multi(), single("tie")], kind="prompt")
    assert [texts(r["messages"]) for r in recs] == [[QUESTION], [QUESTION]]
    assert all(r["kind"] == "prompt" and structure_problem(r) is None for r in recs)
    assert recs[0]["meta"] == {
        "question_id": "58210e39b3fd4441a2bd4a518bb44c2d",
        "language": "English",
    }


def test_malformed_battles_are_invalid() -> None:
    other_question = single("model_a")
    other_question["conversation_b"][0]["content"] = "What is a Python dictionary?"
    no_reply = single("model_a")
    no_reply["conversation_a"] = no_reply["conversation_a"][:1]
    rows: list[Any] = [
        [QUESTION],
        {k: v for k, v in single("model_a").items() if k != "conversation_b"},
        {**single("model_a"), "winner": "model_c"},
        {**single("model_a"), "winner": None},
        {**single("model_a"), "conversation_a": "not a list"},
        {**single("model_a"), "conversation_a": [{"role": "narrator", "content": "Once"}]},
        other_question,
        no_reply,
        single("model_b"),
    ]
    outs = run(rows)
    assert [type(out).__name__ for out in outs] == ["InvalidRow"] * 8 + ["dict"]
    assert "differ in their first user turn" in str(outs[6])


def test_inferred_from_arena_columns() -> None:
    assert formats.from_columns(single("tie").keys()) is CONVERTER
    assert formats.from_hub_id("lmsys/chatbot_arena_conversations") is CONVERTER


def test_arena_hard_questions_are_not_battles(shared_data: Path) -> None:
    """The real arena-hard prompt file holds `{uid, category, cluster, prompt}`, no battles."""
    path = shared_file(shared_data, "lmarena__arena-hard-auto/arena-hard-v0.1/question.jsonl")
    first = orjson.loads(path.read_bytes().splitlines()[0])
    assert formats.from_columns(first.keys()) is not CONVERTER
    assert all(isinstance(out, InvalidRow) for out in run([first]))
