"""Reference-answer extraction shared by the math converters."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from postmix.formats.answers import boxed_answer, gsm8k_answer, stated_answer
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
