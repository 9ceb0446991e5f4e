"""GRPO rewards: exact math answers (GSM8K `####`, `\\boxed{}`), formats, length, dotted paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from postmix.train.rewards import (
    answer_format,
    extract_answer,
    length_penalty,
    load_reward,
    math_answer,
    think_format,
)
from tests.conftest import shared_file


def custom(completions: list[Any], **_: Any) -> list[float]:
    return [float(len(c)) for c in completions]


def test_gsm8k_solutions_score_one_against_their_own_answers(shared_data: Path) -> None:
    path = shared_file(shared_data, "openai__grade-school-math/train.jsonl")
    rows = [json.loads(line) for line in path.read_text().split("\n")[:50] if line]
    refs = [row["answer"].rpartition("####")[2].strip() for row in rows]
    solutions = [row["answer"] for row in rows]
    assert math_answer(solutions, answer=refs) == [1.0] * 50
    assert math_answer(solutions, answer=refs[1:] + refs[:1]).count(1.0) < 5


@pytest.mark.parametrize(
    ("text", "ref", "score"),
    [
        ("so x = 4 and the result is \\boxed{\\frac{1}{2}}", "\\frac{1}{2}", 1.0),
        ("Total: 1,000 apples.\n#### 1,000", "1000", 1.0),
        ("... The answer is 18.", "18.0", 1.0),
        ("#### 17", "18", 0.0),
        ("no answer here", "18", 0.0),
    ],
)
def test_math_answer(text: str, ref: str, score: float) -> None:
    assert math_answer([text], answer=[ref]) == [score]
    messages = [[{"role": "assistant", "content": text}]]
    assert math_answer(messages, answer=[ref]) == [score]


def test_math_answer_without_a_reference_has_no_opinion() -> None:
    assert math_answer(["#### 3"], answer=[None]) == [None]


def test_format_rewards() -> None:
    assert extract_answer("#### 5") == "5"
    assert answer_format(["#### 5", "five"]) == [1.0, 0.0]
    assert think_format(
        ["<think>\nadd them\n</think>\n\n#### 5", "#### 5", "<think>\n\n</think>"]
    ) == [
        1.0,
        0.0,
        0.0,
    ]


def test_length_penalty() -> None:
    ids = [[0] * 10, [0] * 150, [0] * 400]
    assert length_penalty(["", "", ""], completion_ids=ids, target=100, limit=200) == [
        0.0,
        -0.5,
        -1.0,
    ]


def test_rewards_load_by_name_and_dotted_path() -> None:
    bound = load_reward("length_penalty", {"target": 1, "limit": 3})
    assert bound.__name__ == "length_penalty"
    assert bound(["a"], completion_ids=[[1, 2, 3]]) == [-1.0]
    assert load_reward("tests.train.test_rewards:custom")(["ab"]) == [2.0]
    assert load_reward("tests.train.test_rewards.custom").__name__ == "custom"
    with pytest.raises(ValueError, match="unknown reward"):
        load_reward("nonsense")
    with pytest.raises(ValueError, match="no function"):
        load_reward("tests.train.test_rewards:missing")


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("<think>\nadd them\n</think>\n\nThe answer is 5.", 1.0),
        ("<think>add them</think> 5", 1.0),  # any layout of the same block
        ("<think>\n \n</think>\n\n5", 0.0),  # an empty block is no reasoning
        ("<think>\nadd them\n</think>\n\n", 0.0),  # no answer after it
        ("<think>add</think>5<think>again</think>5", 0.0),  # a second block
        ("<think><think>add</think>5", 0.0),  # a doubled open tag
        ("The answer is 5. <think>late</think>", 0.0),  # reasoning must come first
        ("<think>never closed 5", 0.0),
    ],
)
def test_think_format_wants_one_reasoning_block_then_an_answer(text: str, score: float) -> None:
    assert think_format([text]) == [score]
    assert think_format([[{"role": "assistant", "content": text}]]) == [score]


def test_think_format_when_the_prompt_opens_the_block() -> None:
    """R1-distill and Qwen3 thinking templates end the prompt with `<think>\\n`."""
    texts = ["add them\n</think>\n\n5", "<think>\nadd them\n</think>\n\n5", "5"]
    assert think_format(texts, opened_by_prompt=True) == [1.0, 0.0, 0.0]
    assert load_reward("think_format", {"opened_by_prompt": True})(texts) == [1.0, 0.0, 0.0]
