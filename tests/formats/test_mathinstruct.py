"""MathInstruct converter.

No MathInstruct file is in the real-data corpus; the rows follow the published
layout `{source, instruction, output}` with the solution styles it mixes:
GSM-RFT chain of thought ("The answer is N"), MATH (`\\boxed{}`), AQuA
multiple choice, and program of thought (no stated answer).
"""

from __future__ import annotations

from typing import Any

from postmix import formats
from postmix.formats.answers import reference_answer
from postmix.formats.base import ConvertContext
from postmix.formats.mathinstruct import CONVERTER, Options
from postmix.schema import InvalidRow, structure_problem

ROWS: list[dict[str, Any]] = [
    {
        "source": "data/CoT/gsm_rft.json",
        "instruction": "Tom has 3 apples and buys 15 more. How many apples does he have?",
        "output": "Tom has 3 + 15 = 18 apples.\nThe answer is 18.",
    },
    {
        "source": "data/CoT/MATH_train.json",
        "instruction": "Simplify $\\frac{2}{4}$.",
        "output": "Divide by 2: $\\frac{2}{4} = \\boxed{\\frac{1}{2}}$. The answer is \\frac{1}{2}",
    },
    {
        "source": "data/CoT/aqua_rat.json",
        "instruction": "What is 20% of 50?\nAnswer Choices: (A) 5 (B) 10 (C) 15",
        "output": "0.2 * 50 = 10.\nThe answer is (B).",
    },
    {
        "source": "data/PoT/mathqa.json",
        "instruction": "n0 = 5.0 ... what is twice n0 ?",
        "output": "n0 = 5.0\nanswer = n0 * 2.0\nprint(answer)",
    },
]


def convert_all(rows: list[Any], kind: str, **options: Any) -> list[Any]:
    ctx = ConvertContext(kind=kind, options=Options(**options))
    return [out for _, out in CONVERTER.stream(enumerate(rows), ctx)]


def test_sft_keeps_source_as_category() -> None:
    recs = convert_all(ROWS, "sft")
    assert all(isinstance(r, dict) and structure_problem(r) is None for r in recs)
    assert recs[0]["messages"] == [
        {"role": "user", "content": ROWS[0]["instruction"]},
        {"role": "assistant", "content": "Tom has 3 + 15 = 18 apples.\nThe answer is 18."},
    ]
    assert [r["meta"] for r in recs] == [{"category": row["source"]} for row in ROWS]


def test_prompt_kind_extracts_answers() -> None:
    recs = convert_all(ROWS, "prompt")
    assert all(r["kind"] == "prompt" and structure_problem(r) is None for r in recs)
    assert [r["messages"] for r in recs] == [
        [{"role": "user", "content": row["instruction"]}] for row in ROWS
    ]
    assert [r["meta"].get("answer") for r in recs] == ["18", "\\frac{1}{2}", "B", None]
    assert "answer" not in recs[3]["meta"]
    assert recs[3]["meta"] == {"category": "data/PoT/mathqa.json"}


def test_boxed_wins_over_stated_answer() -> None:
    assert reference_answer("$\\boxed{\\{3, 4\\}}$\nThe answer is 3 and 4.") == "\\{3, 4\\}"
    assert reference_answer("The answer is 7") == "7"


def test_malformed_rows_are_quarantined() -> None:
    rows = [
        {"source": "data/CoT/gsm_rft.json", "instruction": "Q?"},
        {"source": "data/CoT/gsm_rft.json", "instruction": "Q?", "output": ["A."]},
        {"source": "data/CoT/gsm_rft.json", "instruction": 3, "output": "The answer is 3"},
        {"instruction": "Q?", "output": "The answer is 3"},
    ]
    for kind in ("sft", "prompt"):
        outs = convert_all(rows, kind)
        assert [isinstance(o, InvalidRow) for o in outs] == [True, True, True, False]
    assert convert_all(rows[-1:], "prompt")[0]["meta"] == {"answer": "3"}


def test_inference() -> None:
    assert formats.from_columns(["source", "instruction", "output"]) is CONVERTER
    assert formats.from_columns(["instruction", "output"]) is formats.get("alpaca")
    assert formats.from_hub_id("TIGER-Lab/MathInstruct") is CONVERTER


def test_answer_from_picks_one_way_of_reading_the_solution() -> None:
    row = {"source": "s", "instruction": "q", "output": "So \\boxed{4}.\nThe answer is 5."}
    assert convert_all([row], "prompt")[0]["meta"]["answer"] == "4"
    assert convert_all([row], "prompt", answer_from="final_line")[0]["meta"]["answer"] == "5"
    assert "answer" not in convert_all([row], "prompt", answer_from="gsm8k")[0]["meta"]
