"""Turns filter: exchanges are user turns; system and tool messages never count."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from postmix.filters import turns
from postmix.schema import message, record
from postmix.steps import StepEnv
from tests.filters.records import load, pref, sft, sharegpt_pair

DPO = "hiyouga__LLaMA-Factory/dpo_en_demo.json"


def run(batch: list, **cfg: int) -> list:
    return turns.build(turns.Config(type="turns", **cfg), StepEnv())(batch)


def test_counts_exchanges_not_messages() -> None:
    one = sft("q", "a", system="be brief")
    three = sft("q1", "a1", "q2", "a2", "q3", "a3")
    tool = record(
        "sft",
        [
            message("user", "weather?"),
            message("assistant", "", tool_calls=[{"name": "weather"}]),
            message("tool", "sunny"),
            message("assistant", "It is sunny."),
        ],
    )
    pair = pref("q1", "a1", "q2", chosen="c", rejected="r")
    text = record("text", [], text="a document")
    assert [turns.exchanges(r) for r in (one, three, tool, pair, text)] == [1, 3, 1, 2, 0]


def test_bounds_are_inclusive() -> None:
    batch = [sft("q", "a"), sft("q1", "a1", "q2", "a2"), sft("q1", "a1", "q2", "a2", "q3", "a3")]
    assert run(batch, min_turns=2) == ["1 exchanges < min 2", None, None]
    assert run(batch, max_turns=2) == [None, None, "3 exchanges > max 2"]
    assert run(batch, min_turns=2, max_turns=2) == [
        "1 exchanges < min 2",
        None,
        "3 exchanges > max 2",
    ]


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="set min_turns, max_turns or both"):
        turns.Config(type="turns")
    with pytest.raises(ValidationError, match="min_turns 3 > max_turns 1"):
        turns.Config(type="turns", min_turns=3, max_turns=1)
    with pytest.raises(ValidationError):
        turns.Config(type="turns", max_turns=-1)


def test_real_pairs_single_turn(shared_data: Path) -> None:
    """dpo_en_demo: 106 of 300 prompts have more than one human turn (corpus README)."""
    batch = [sharegpt_pair(r) for r in load(shared_data, DPO)]
    verdicts = run(batch, max_turns=1)
    assert sum(v is not None for v in verdicts) == 106
