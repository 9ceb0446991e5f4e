"""Bounds on conversation length, counted in exchanges.

One exchange is one user turn with everything that answers it (assistant
replies, tool calls and tool results): the number of exchanges is the number
of user messages. System and tool messages never count on their own. A
preference or prompt record's final user turn is an exchange too (its reply is
the chosen/rejected side, or the one to generate); a text record has none.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from postmix.filters.base import FilterConfig, check_bounds
from postmix.steps import Batch, FilterFn, StepEnv


class Config(FilterConfig):
    type: Literal["turns"]
    min_turns: int | None = Field(default=None, ge=0)
    max_turns: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> Config:
        check_bounds(self, "min_turns", "max_turns")
        return self


def exchanges(rec: dict) -> int:
    """User/assistant exchanges of a record: its number of user turns."""
    return sum(1 for m in rec["messages"] if m["role"] == "user")


def build(cfg: Config, env: StepEnv) -> FilterFn:
    lo, hi = cfg.min_turns, cfg.max_turns

    def check(n: int) -> str | None:
        if lo is not None and n < lo:
            return f"{n} exchanges < min {lo}"
        if hi is not None and n > hi:
            return f"{n} exchanges > max {hi}"
        return None

    def run(batch: Batch) -> list[str | None]:
        return [check(exchanges(r)) for r in batch]

    return run
