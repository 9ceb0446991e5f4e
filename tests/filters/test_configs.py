"""Every filter: its Config rejects unknown keys, and it decides without touching records."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from postmix import filters
from postmix.schema import message, record
from postmix.steps import StepEnv
from tests.filters.records import pref, sft

MINIMAL: dict[str, dict[str, Any]] = {
    "length": {"max_length": 10},
    "turns": {"max_turns": 2},
    "language": {"allow": ["en"]},
    "quality": {},
    "code_ratio": {"min_ratio": 0.5},
    "regex": {"exclude": ["x"]},
    "category": {"include": ["open_qa"]},
    "score": {"field": "score", "min": 1},
    "structure": {},
    "reasoning": {"empty": "drop"},
    "score_margin": {"min": 1},
    "length_ratio": {"max_ratio": 3},
}


def test_every_registered_filter_is_covered() -> None:
    assert set(MINIMAL) == set(filters.MODULES)


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_config_rejects_unknown_keys(name: str) -> None:
    config = filters.module(name).Config
    entry = {"type": name, **MINIMAL[name]}
    assert config.model_validate(entry).label == name
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        config.model_validate({**entry, "treshold": 1})


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_filter_is_pure(name: str) -> None:
    """One verdict per record, and the batch is left exactly as it was."""
    mod = filters.module(name)
    fn = mod.build(mod.Config.model_validate({"type": name, **MINIMAL[name]}), StepEnv())
    batch = [
        sft("Hello there, how are you?", "Fine.", system="s", category="open_qa", score=3),
        pref("q1", "a1", "¿Qué tal?", chosen="Bien.", rejected="Mal."),
        record("prompt", [message("user", "2+2?")], meta={"answer": "4"}),
        record("text", [], text="A plain document."),
    ]
    before = copy.deepcopy(batch)
    verdicts = fn(batch)
    assert len(verdicts) == len(batch)
    assert all(v is None or (isinstance(v, str) and v) for v in verdicts)
    assert batch == before
