"""MT-bench judgments in the arena layout: the judged turn, several judges per battle.

Rows are shaped like lmsys/mt_bench_human_judgments: both conversations hold
both turns, and `turn` names the turn the judge compared.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from postmix.dedup import judgments, keys
from postmix.formats.arena import CONVERTER, Options
from postmix.formats.base import ConvertContext
from postmix.schema import InvalidRow, Skip, structure_problem

Q1 = "Compose an engaging travel blog post about a recent trip to Hawaii."
Q2 = "Rewrite your previous response. Start every sentence with the letter A."
REPLIES = {
    "alpaca-13b": ("Hawaii was fun. I saw beaches.", "A trip. A beach."),
    "gpt-3.5-turbo": (
        "Aloha! My trip to Hawaii began at Waikiki, where surfers rode the dawn swell.",
        "Aloha! A trip to Hawaii always begins at Waikiki, as surfers ride the dawn swell.",
    ),
    "vicuna-13b": (
        "Hawaii offers volcanoes, luaus and warm water: here is my week there.",
        "A week in Hawaii: a volcano, a luau and a lot of warm water.",
    ),
}


def turn(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def conversation(model: str, first: str | None = None) -> list[dict[str, str]]:
    one, two = REPLIES[model]
    return [
        turn("user", Q1),
        turn("assistant", first or one),
        turn("user", Q2),
        turn("assistant", two),
    ]


def judgment(
    winner: str,
    judged: int,
    judge: str = "author_2",
    models: tuple[str, str] = ("alpaca-13b", "gpt-3.5-turbo"),
    question_id: int = 81,
) -> dict[str, Any]:
    a, b = models
    return {
        "question_id": question_id,
        "model_a": a,
        "model_b": b,
        "winner": winner,
        "judge": judge,
        "conversation_a": conversation(a),
        "conversation_b": conversation(b),
        "turn": judged,
    }


def run(rows: list[Any], **options: Any) -> list[Any]:
    ctx = ConvertContext(kind="preference", options=Options(**options))
    return [out for _, out in CONVERTER.stream(enumerate(rows), ctx)]


def texts(msgs: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in msgs]


def test_a_first_turn_judgment_pairs_the_first_replies() -> None:
    (rec,) = run([judgment("model_b", 1)])
    assert texts(rec["messages"]) == [Q1]
    assert texts(rec["chosen"]) == [REPLIES["gpt-3.5-turbo"][0]]
    assert texts(rec["rejected"]) == [REPLIES["alpaca-13b"][0]]
    assert rec["meta"]["turn"] == 1 and rec["meta"]["first_turn_only"] is False
    assert rec["meta"]["judge"] == "author_2"
    assert structure_problem(rec) is None


def test_a_second_turn_judgment_needs_a_shared_first_turn() -> None:
    (out,) = run([judgment("model_a", 2)])
    assert isinstance(out, Skip) and out.reason == "judged_turn_not_shared"
    # The approximation pairs the first replies, which the judge did not compare.
    (rec,) = run([judgment("model_a", 2)], multi_turn="first_turn")
    assert texts(rec["chosen"]) == [REPLIES["alpaca-13b"][0]]
    assert rec["meta"]["first_turn_only"] is True and rec["meta"]["turn"] == 1


def test_a_second_turn_judgment_on_a_shared_history_pairs_the_second_replies() -> None:
    row = judgment("model_b", 2)
    shared = REPLIES["vicuna-13b"][0]
    row["conversation_a"] = conversation("alpaca-13b", first=shared)
    row["conversation_b"] = conversation("gpt-3.5-turbo", first=shared)
    (rec,) = run([row])
    assert texts(rec["messages"]) == [Q1, shared, Q2]
    assert texts(rec["chosen"]) == [REPLIES["gpt-3.5-turbo"][1]]
    assert texts(rec["rejected"]) == [REPLIES["alpaca-13b"][1]]
    assert rec["meta"]["turn"] == 2 and structure_problem(rec) is None


def test_reading_the_turn_column() -> None:
    """`auto`: the judged turn (MT-bench); `length`: the conversation's turns (Chatbot Arena)."""
    one = judgment("model_b", 1)
    assert run([one])[0]["meta"]["turn"] == 1
    assert run([one], turn_column="judged")[0]["meta"]["turn"] == 1
    (bad,) = run([one], turn_column="length")
    assert isinstance(bad, InvalidRow) and "turn 1" in str(bad) and "2 user turns" in str(bad)
    # Read as a length, turn 2 of 2 means the whole conversation: its last turn is judged.
    (out,) = run([judgment("model_b", 2)], turn_column="length")
    assert isinstance(out, Skip) and out.reason == "judged_turn_not_shared"
    no_turn = {k: v for k, v in one.items() if k != "turn"}
    assert isinstance(run([no_turn])[0], Skip)  # the last turn, not shared
    for value in (3, 0, "1", True):
        (bad,) = run([{**one, "turn": value}])
        assert isinstance(bad, InvalidRow), value


def test_sides_with_different_turn_counts_are_invalid() -> None:
    row = judgment("model_b", 2)
    row["conversation_b"] = row["conversation_b"][:2]
    (bad,) = run([row])
    assert isinstance(bad, InvalidRow)


def test_several_judges_become_one_pair_per_battle_and_turn() -> None:
    """Question 81: three judges of turn 1 (two agree), a tie, two turn-2 judgments;
    question 81 with another opponent: a 1-1 split. Pairs that share the prompt stay."""
    vicuna = ("alpaca-13b", "vicuna-13b")
    rows = [
        judgment("model_b", 1, "author_2"),
        judgment("model_a", 1, "author_4"),
        judgment("model_b", 1, "expert_17"),
        judgment("tie", 1, "expert_3"),
        judgment("model_a", 2, "author_2"),
        judgment("model_b", 2, "author_4"),
        judgment("model_a", 1, "author_2", models=vicuna),
        judgment("model_b", 1, "author_4", models=vicuna),
        judgment("model_a", 1, "expert_5", models=("gpt-3.5-turbo", "alpaca-13b")),
    ]
    outs = run(rows)
    skipped = [o.reason for o in outs if isinstance(o, Skip)]
    assert skipped == ["tie", "judged_turn_not_shared", "judged_turn_not_shared"]
    pairs = [o for o in outs if isinstance(o, dict)]
    assert len(pairs) == 6
    # Exact keys by kind: every pair differs from the others except the agreeing repeats.
    assert len({keys.exact_key(r) for r in pairs}) == 4
    cols = [judgments.judgment_key(r) for r in pairs]
    res = judgments.resolve_judgments(
        np.array([g for g, _ in cols], dtype=np.uint64),
        np.array([d for _, d in cols], dtype=np.int8),
        np.zeros(len(pairs), dtype=np.int32),
        ["mt_bench"],
    )
    assert res.reason_names() == [
        None,
        "conflicting_judgments",
        "duplicate_judgment",
        "conflicting_judgments",
        "conflicting_judgments",
        "duplicate_judgment",
    ]
    (kept,) = (p for p, keep in zip(pairs, res.keep) if keep)
    assert texts(kept["chosen"]) == [REPLIES["gpt-3.5-turbo"][0]]
    assert res.counts["mt_bench"] == {
        "duplicate_judgment": 2,
        "conflicting_judgments": 3,
        "conflicts_resolved": 1,
    }
