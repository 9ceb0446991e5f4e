"""Regex / keyword filter: include and exclude, per field, with patterns checked at validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from postmix.filters import regex
from postmix.steps import StepEnv
from tests.filters.records import sft


def run(batch: list, **cfg: object) -> list:
    return regex.build(regex.Config(type="regex", **cfg), StepEnv())(batch)


BATCH = [
    sft("Write a Python function.", "def f(): pass"),
    sft("Tell me a joke.", "Why did the chicken cross the road?"),
    sft("Visit http://spam.example now", "OK."),
]


def test_include_keeps_only_matches() -> None:
    assert run(BATCH, include=[r"\bdef\b", r"(?i)JOKE"]) == [
        None,
        None,
        "matches no include pattern",
    ]


def test_exclude_drops_matches() -> None:
    assert run(BATCH, exclude=[r"https?://"]) == [None, None, "matches exclude pattern 'https?://'"]


def test_keywords_are_case_insensitive_substrings() -> None:
    assert run(BATCH, keywords_include=["PYTHON", "chicken"]) == [
        None,
        None,
        "contains no include keyword",
    ]
    assert run(BATCH, keywords_exclude=["Spam"]) == [None, None, "contains keyword 'spam'"]


def test_field_selects_the_text() -> None:
    assert run(BATCH, include=["def"], field="prompt") == ["matches no include pattern"] * 3
    assert run(BATCH, include=["Write"], field="response") == ["matches no include pattern"] * 3
    assert run(BATCH, include=["Write"], field="all")[0] is None


def test_invalid_pattern_fails_validation() -> None:
    with pytest.raises(ValidationError, match=r"invalid regular expression 'f\(': missing \)"):
        regex.Config(type="regex", exclude=["ok", "f("])


def test_config_needs_a_rule() -> None:
    with pytest.raises(ValidationError, match="set include, exclude"):
        regex.Config(type="regex")
