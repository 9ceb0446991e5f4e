"""HelpSteer converter on rows shaped like nvidia/HelpSteer and HelpSteer2, and a real sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from postmix import formats
from postmix.formats.base import ConvertContext
from postmix.formats.helpsteer import CONVERTER, Options
from postmix.schema import InvalidRow, Skip, structure_problem
from tests.filters.records import load

EXERCISE = (
    "What are the main health benefits of regular aerobic exercise? Answer in a few sentences."
)
AUTUMN = "Crimson leaves drifting\nWhispers of the cooling wind\nThe year exhales slow"
# HelpSteer2's multi-turn layout: earlier turns joined with <extra_id_1> role markers.
HAIKU = (
    f"Write a haiku about autumn leaves.\n<extra_id_1>Assistant\n{AUTUMN}\n"
    "<extra_id_1>User\nNow write one about winter."
)
CAPITAL = "What is the capital of Australia?"
LONELY = "Summarize the plot of Hamlet in one sentence."


def row(
    prompt: str, response: str, h: int, c: int, coh: int = 4, cx: int = 1, v: int = 1
) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "response": response,
        "helpfulness": h,
        "correctness": c,
        "coherence": coh,
        "complexity": cx,
        "verbosity": v,
    }


# The rows of one prompt are deliberately not adjacent.
ROWS = [
    row(EXERCISE, "Exercise strengthens the heart and lungs and improves mood.", 3, 3),
    row(
        HAIKU,
        "Snow hushes the pines\nBreath hangs white in morning air\nThe world holds its sleep",
        3,
        4,
    ),
    row(EXERCISE, "It is good for you.", 4, 3, cx=0, v=0),
    row(CAPITAL, "The capital of Australia is Canberra.", 4, 4),
    row(EXERCISE, "Exercise makes your bones hollow, which helps you run faster.", 2, 0, 3),
    row(LONELY, "A prince avenges his father's murder at great cost to everyone around him.", 4, 4),
    row(HAIKU, "Winter is cold. It snows a lot. Leaves are gone.", 1, 2, 3),
    row(CAPITAL, "Canberra.", 4, 4, v=0),
    row(
        EXERCISE,
        "Regular aerobic exercise lowers blood pressure, improves insulin sensitivity, "
        "strengthens the heart, and reduces the risk of depression.",
        4,
        4,
        cx=2,
        v=2,
    ),
]


def run(rows: list[Any], kind: str = "preference", seed: int = 0, **options: Any) -> list[Any]:
    ctx = ConvertContext(kind=kind, options=Options(**options), seed=seed)
    return list(CONVERTER.stream(enumerate(rows), ctx))


def replies(rec: dict[str, Any], side: str) -> str:
    (msg,) = rec[side]
    return msg["content"]


def test_preference_pairs_grouped_by_prompt_in_first_appearance_order() -> None:
    outcomes = run(ROWS)
    assert [pos for pos, _ in outcomes] == [0, 1, 3, 5]
    exercise, haiku, capital, lonely = (out for _, out in outcomes)
    assert exercise["messages"] == [{"role": "user", "content": EXERCISE}]
    # Best helpfulness ties between rows 2 and 8; the higher correctness (row 8) wins.
    assert replies(exercise, "chosen") == ROWS[8]["response"]
    assert replies(exercise, "rejected") in {ROWS[0]["response"], ROWS[4]["response"]}
    assert exercise["meta"]["score_chosen"] == 4
    assert exercise["meta"]["chosen_attributes"] == {
        "helpfulness": 4, "correctness": 4, "coherence": 4, "complexity": 2, "verbosity": 2
    }  # fmt: skip
    rejected_row = next(r for r in ROWS if r["response"] == replies(exercise, "rejected"))
    assert exercise["meta"]["score_rejected"] == rejected_row["helpfulness"]
    assert exercise["meta"]["rejected_attributes"]["correctness"] == rejected_row["correctness"]
    assert replies(haiku, "chosen") == ROWS[1]["response"]
    assert replies(haiku, "rejected") == ROWS[6]["response"]
    assert structure_problem(exercise) is None and structure_problem(haiku) is None
    assert isinstance(capital, Skip) and capital.reason == "no_pair"  # both score 4
    assert isinstance(lonely, Skip) and lonely.reason == "no_pair"  # one response


def test_multi_turn_prompts_become_turns() -> None:
    haiku = run(ROWS)[1][1]
    assert haiku["messages"] == [
        {"role": "user", "content": "Write a haiku about autumn leaves."},
        {"role": "assistant", "content": AUTUMN},
        {"role": "user", "content": "Now write one about winter."},
    ]


def test_margin_and_score_options() -> None:
    (_, exercise), *_ = run(ROWS, min_margin=2)
    assert replies(exercise, "rejected") == ROWS[4]["response"]  # the only one 2 below
    assert isinstance(run(ROWS, min_margin=3)[0][1], Skip)
    outcomes = run(ROWS, score="sum", min_margin=0)
    assert outcomes[0][1]["meta"]["score_chosen"] == 4 + 4 + 4 + 2 + 2
    # The Canberra rows tie on helpfulness; by the sum the terse one (verbosity 0) is lower.
    capital = outcomes[2][1]
    assert replies(capital, "chosen") == ROWS[3]["response"]
    assert replies(capital, "rejected") == ROWS[7]["response"]
    quality = run(ROWS, score="quality", min_margin=3)[0][1]["meta"]
    assert (quality["score_chosen"], quality["score_rejected"]) == (4 + 4 + 4, 2 + 0 + 3)
    with pytest.raises(ValidationError):
        Options(score="length")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Options(margin=1)  # type: ignore[call-arg]


def test_sft_takes_the_best_response_of_every_prompt() -> None:
    recs = [out for _, out in run(ROWS, "sft")]
    assert [r["kind"] for r in recs] == ["sft"] * 4
    assert [r["messages"][-1]["content"] for r in recs] == [
        ROWS[8]["response"],
        ROWS[1]["response"],
        ROWS[3]["response"],  # tie on helpfulness and correctness: the earlier row
        ROWS[5]["response"],
    ]
    attributes = {k: v for k, v in ROWS[8].items() if k not in ("prompt", "response")}
    assert recs[0]["meta"] == {"score": 4, "attributes": attributes}
    assert all(structure_problem(r) is None for r in recs)


def test_prompt_kind_gives_each_prompt_once() -> None:
    recs = [out for _, out in run(ROWS, "prompt")]
    assert [r["messages"][0]["content"] for r in recs] == [
        EXERCISE,
        "Write a haiku about autumn leaves.",
        CAPITAL,
        LONELY,
    ]
    assert all(r["kind"] == "prompt" and structure_problem(r) is None for r in recs)


def many_losers() -> list[dict[str, Any]]:
    prompt = "Give me a tip for learning a new language."
    rows = [row(prompt, "Practice speaking every day with native speakers.", 4, 4)]
    rows += [row(prompt, f"Tip number {i}: just try harder.", i % 3 + 1, 2) for i in range(6)]
    return rows


def rejected_text(rows: list[dict[str, Any]], seed: int) -> str:
    (_, rec), *_ = run(rows, seed=seed)
    return replies(rec, "rejected")


def test_seeded_choice_is_deterministic_and_seed_dependent() -> None:
    rows = many_losers()
    assert rejected_text(rows, 5) == rejected_text(rows, 5)
    assert len({rejected_text(rows, seed) for seed in range(20)}) > 1
    # Neither other prompts nor row order move a prompt's choice.
    mixed = [*ROWS[:3], *rows[:4], *ROWS[3:], *rows[4:]]
    for seed in range(10):
        got = [out for _, out in run(mixed[::-1], seed=seed) if isinstance(out, dict)]
        assert [
            replies(r, "rejected") for r in got if r["messages"][0]["content"] == rows[0]["prompt"]
        ] == [rejected_text(rows, seed)]


def test_malformed_rows_are_invalid_and_the_rest_still_pair() -> None:
    bad: list[Any] = [
        "not an object",
        {"prompt": EXERCISE, "helpfulness": 4},
        {**ROWS[0], "helpfulness": "4"},
        {**ROWS[0], "correctness": True},
        {**ROWS[0], "prompt": ["a", "list"]},
        {k: v for k, v in ROWS[0].items() if k != "verbosity"},
    ]
    outcomes = run([*bad, *ROWS])
    assert [pos for pos, out in outcomes if isinstance(out, InvalidRow)] == list(range(len(bad)))
    assert '"helpfulness":"4"' in outcomes[2][1].raw  # the row, kept for the quarantine file
    assert sum(isinstance(out, dict) for _, out in outcomes) == 2


def test_inferred_from_helpsteer_columns() -> None:
    assert formats.from_columns(ROWS[0].keys()) is CONVERTER
    assert formats.from_hub_id("nvidia/HelpSteer2") is CONVERTER


def drops(outcomes: list[tuple[int, Any]]) -> list[tuple[int, str]]:
    return [(pos, out.reason) for pos, out in outcomes if isinstance(out, Skip)]


def test_repeated_rows_are_reported_and_used_once() -> None:
    """HelpSteer v1 holds exact repeats of rows: each repeat is a `duplicate_row` drop."""
    rows = [*ROWS, dict(ROWS[8]), dict(ROWS[8]), dict(ROWS[1])]
    outcomes = run(rows)
    assert drops(outcomes) == [(9, "duplicate_row"), (10, "duplicate_row"), (11, "duplicate_row"),
                               (3, "no_pair"), (5, "no_pair")]  # fmt: skip
    (_, exercise), (_, haiku) = [(p, o) for p, o in outcomes if isinstance(o, dict)]
    assert replies(exercise, "chosen") == ROWS[8]["response"]
    assert replies(haiku, "rejected") == ROWS[6]["response"]
    detail = next(o.detail for p, o in outcomes if p == 9)
    assert "same prompt, response and ratings as an earlier row" in detail


def test_conflicting_ratings_of_one_response_are_never_used() -> None:
    """The best EXERCISE response rated twice, differently: both rows are dropped with the
    two ratings, and the pair is built from the responses rated once."""
    rerated = {**ROWS[8], "helpfulness": 1, "correctness": 2}
    outcomes = run([*ROWS, rerated])
    assert drops(outcomes)[:2] == [(8, "conflicting_scores"), (9, "conflicting_scores")]
    detail = next(o.detail for p, o in outcomes if p == 9)
    assert "helpfulness 4 vs 1" in detail and "correctness 4 vs 2" in detail
    assert "coherence" not in detail
    exercise = outcomes[2][1]
    assert replies(exercise, "chosen") == ROWS[2]["response"]  # the best one left
    sft = [o for _, o in run([*ROWS, rerated], "sft") if isinstance(o, dict)]
    assert sft[0]["messages"][-1]["content"] == ROWS[2]["response"]


def test_a_prompt_whose_only_response_conflicts_gives_no_record() -> None:
    outcomes = run([ROWS[5], {**ROWS[5], "coherence": 2}], "sft")
    assert drops(outcomes) == [(0, "conflicting_scores"), (1, "conflicting_scores")]
    assert len(outcomes) == 2


def test_prompt_kind_ignores_responses() -> None:
    outcomes = run([ROWS[5], {**ROWS[5], "coherence": 2}, ROWS[5]], "prompt")
    assert [(p, o["kind"]) for p, o in outcomes] == [(0, "prompt")]


def test_real_helpsteer2_sample(shared_data: Path) -> None:
    """Ten distinct real prompts, one response each: no pair, no repeat; a copied row and a
    re-rated copy are reported."""
    rows = load(shared_data, "maylad31__llm_judge_order_matters/helpsteer2_sample_10.jsonl")
    assert len(rows) == 10
    assert [r for _, r in drops(run(rows))] == ["no_pair"] * 10
    recs = [o for _, o in run(rows, "sft")]
    assert len(recs) == 10 and all(structure_problem(r) is None for r in recs)
    copied = [*rows, dict(rows[3]), {**rows[7], "helpfulness": rows[7]["helpfulness"] - 1}]
    outcomes = run(copied, "sft")
    assert sorted(drops(outcomes)) == [
        (7, "conflicting_scores"), (10, "duplicate_row"), (11, "conflicting_scores")
    ]  # fmt: skip
    assert sum(isinstance(o, dict) for _, o in outcomes) == 9
