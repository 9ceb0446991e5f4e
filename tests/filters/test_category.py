"""Category filter on built records and on real Dolly and UltraChat categories."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from postmix.filters import category
from postmix.steps import StepEnv
from tests.filters.records import load, sft

DOLLY = "yogarajjsoshua__FlaskApplication/databricks-dolly-15k.head19.jsonl"
ULTRA_EVAL = "thunlp__UltraChat/ultra_eval.json"


def run(batch: list, **cfg: object) -> list:
    return category.build(category.Config(type="category", **cfg), StepEnv())(batch)


def test_include_exclude_and_normalization() -> None:
    batch = [sft("q", "a", category=" Open_QA "), sft("q", "a", category="brainstorming")]
    assert run(batch, include=["open_qa"]) == [None, "category 'brainstorming' not included"]
    assert run(batch, exclude=["BRAINSTORMING"]) == [None, "category 'brainstorming' excluded"]
    assert run(batch, include=["open_qa", "brainstorming"], exclude=["open_qa"]) == [
        "category 'open_qa' excluded",
        None,
    ]


def test_missing_category() -> None:
    batch = [sft("q", "a"), sft("q", "a", category="  ")]
    assert run(batch, include=["open_qa"]) == ["no category"] * 2
    assert run(batch, exclude=["open_qa"]) == [None, None]
    assert run(batch, include=["open_qa"], missing="keep") == [None, None]
    assert run(batch, exclude=["open_qa"], missing="drop") == ["no category"] * 2


def test_config_needs_a_list() -> None:
    with pytest.raises(ValidationError, match="set include, exclude or both"):
        category.Config(type="category", include=[])


def test_real_dolly(shared_data: Path) -> None:
    """19 Dolly rows: open_qa 5, information_extraction 5, closed_qa 4, ... (corpus README)."""
    rows = load(shared_data, DOLLY)
    batch = [sft(r["instruction"], r["response"], category=r["category"]) for r in rows]
    assert run(batch, include=["open_qa"]).count(None) == 5
    assert run(batch, include=["closed_qa", "information_extraction"]).count(None) == 9
    kept = [
        r["category"]
        for r, v in zip(rows, run(batch, exclude=["open_qa"]), strict=True)
        if v is None
    ]
    assert len(kept) == 14 and "open_qa" not in kept


def test_real_ultrachat_classes_are_padded(shared_data: Path) -> None:
    """ultra_eval writes classes as " Vicuna "; stripping makes them match."""
    rows = load(shared_data, ULTRA_EVAL)
    batch = [sft(r["data"], "reply", category=r["class"]) for r in rows]
    assert Counter(r["class"] for r in rows)[" Vicuna "] == 80
    assert run(batch, include=["vicuna"]).count(None) == 80
