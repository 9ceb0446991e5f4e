"""Score filter: inclusive bounds on a numeric meta field; missing and non-numeric values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from postmix.filters import score
from postmix.steps import StepEnv
from tests.filters.records import sft


def run(batch: list, **cfg: object) -> list:
    return score.build(score.Config(type="score", **cfg), StepEnv())(batch)


def test_inclusive_bounds() -> None:
    batch = [sft("q", "a", score_chosen=s) for s in (3, 4.0, 7.5, 8, 9)]
    assert run(batch, field="score_chosen", min=4, max=8) == [
        "score_chosen 3 < min 4",
        None,
        None,
        None,
        "score_chosen 9 > max 8",
    ]


def test_missing_and_non_numeric() -> None:
    batch = [sft("q", "a"), sft("q", "a", helpfulness="4"), sft("q", "a", helpfulness=True)]
    batch.append(sft("q", "a", helpfulness=float("nan")))
    assert run(batch, field="helpfulness", min=3) == ["no numeric helpfulness"] * 4
    assert run(batch, field="helpfulness", min=3, missing="keep") == [None] * 4


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="set min, max or both"):
        score.Config(type="score", field="score")
    with pytest.raises(ValidationError, match=r"min 5\.0 > max 1\.0"):
        score.Config(type="score", field="score", min=5, max=1)
    with pytest.raises(ValidationError):
        score.Config(type="score", min=1)
