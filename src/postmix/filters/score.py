"""Bounds on a numeric field of `meta` (UltraFeedback's `score_chosen`, HelpSteer's `helpfulness`).

Bounds are inclusive. A record without the field, or whose value is not a
number (a bool, a string, NaN), follows `missing` (default: drop), so a typo
in `field` shows up as every record dropped with a clear detail.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import model_validator

from postmix.filters.base import FilterConfig, check_bounds
from postmix.steps import Batch, FilterFn, StepEnv


class Config(FilterConfig):
    type: Literal["score"]
    field: str
    min: float | None = None
    max: float | None = None
    missing: Literal["keep", "drop"] = "drop"

    @model_validator(mode="after")
    def _bounds(self) -> Config:
        check_bounds(self, "min", "max")
        return self


def number(value: object) -> float | None:
    """The value as a float, or None when it is not a real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def build(cfg: Config, env: StepEnv) -> FilterFn:
    lo, hi, field = cfg.min, cfg.max, cfg.field

    def check(rec: dict) -> str | None:
        value = number(rec["meta"].get(field))
        if value is None:
            return f"no numeric {field}" if cfg.missing == "drop" else None
        if lo is not None and value < lo:
            return f"{field} {value:g} < min {lo:g}"
        if hi is not None and value > hi:
            return f"{field} {value:g} > max {hi:g}"
        return None

    def run(batch: Batch) -> list[str | None]:
        return [check(r) for r in batch]

    return run
