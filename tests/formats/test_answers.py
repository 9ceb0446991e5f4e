"""Reference-answer extraction shared by the math converters."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from postmix.formats.answers import (
    boxed_answer,
    final_line_answer,
    gsm8k_answer,
    reference_answer,
    stated_answer,
)
from tests.conftest import shared_file


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so $x = \\boxed{5}$.", "5"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("first \\boxed{1}, finally \\boxed{\\sqrt{2}+1}", "\\sqrt{2}+1"),
        ("\\fbox{7}", "7"),
        ("\\boxed{unclosed {", None),
        ("\\boxed{}", None),
        ("no box here", None),
    ],
)
def test_boxed_answer(text: str, expected: str | None) -> None:
    assert boxed_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5 + 3 = 8\n#### 8", "8"),
        ("#### 1,000", "1000"),
        ("#### -3 ", "-3"),
        ("#### 1\n#### 2", "2"),
        ("####", None),
        ("The answer is 8", None),
    ],
)
def test_gsm8k_answer(text: str, expected: str | None) -> None:
    assert gsm8k_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("He has 3 + 15 = 18 apples.\nThe answer is 18.", "18"),
        ("So she pays 1,250 dollars. The answer is 1,250", "1250"),
        ("Let's think.\nThe answer is (B).", "B"),
        ("Hence the final answer is: $\\frac{3}{4}$.", "\\frac{3}{4}"),
        ("Answer: D", "D"),
        ("The answer is 2. Wait, the answer is 3.", "3"),
        ("The answer is 18.\nprint(answer)", None),
        ("n0 = 5.0\nanswer = n0 * 2\nprint(answer)", None),
        ("The answer is", None),
    ],
)
def test_stated_answer(text: str, expected: str | None) -> None:
    assert stated_answer(text) == expected


def test_every_real_gsm8k_answer_is_a_plain_integer(shared_data: Path) -> None:
    seen = 0
    for name in ("train.jsonl", "test.jsonl"):
        path = shared_file(shared_data, f"openai__grade-school-math/{name}")
        for line in path.read_bytes().splitlines():
            answer = gsm8k_answer(orjson.loads(line)["answer"])
            assert answer is not None and re.fullmatch(r"-?\d+", answer), answer
            seen += 1
    assert seen == 7473 + 1319


# One solution that states its answer three ways, so each `answer_from` reads a different one.
THREE_WAYS = "So x = \\boxed{\\frac{1}{2}} and 3 + 4 = 7.\n#### 1,234\nAnswer: 42."


@pytest.mark.parametrize(
    ("answer_from", "expected"),
    [
        ("boxed", "\\frac{1}{2}"),
        ("gsm8k", "1234"),
        ("final_line", "42"),
        ("auto", "\\frac{1}{2}"),
    ],
)
def test_reference_answer_reads_only_what_answer_from_says(answer_from: str, expected: str) -> None:
    assert reference_answer(THREE_WAYS, answer_from) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Add them.\n5", "5"),
        ("Add them.\n$\\frac{3}{4}$.\n\n", "\\frac{3}{4}"),
        ("Add them.\nThe answer is 1,000.", "1000"),
        ("   \n", None),
    ],
)
def test_final_line_answer(text: str, expected: str | None) -> None:
    assert final_line_answer(text) == expected


def test_auto_falls_back_from_boxed_to_gsm8k_to_stated() -> None:
    assert reference_answer("2 + 2 = 4\n#### 4") == "4"
    assert reference_answer("2 + 2 = 4. The answer is 4.") == "4"
    assert reference_answer("2 + 2 = 4") is None
    assert reference_answer("2 + 2 = 4", "final_line") == "2 + 2 = 4"
