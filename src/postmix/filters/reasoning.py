"""Keep records by their reasoning: empty think blocks, presence, and length.

Each check drops under its own stable cause, `reasoning:<cause>`:

- `empty: drop` — a reply carries an empty block (`<think></think>`, or an
  empty `reasoning_content`): `empty_think`. Training on empty blocks teaches
  a model to skip thinking (or, with templates that add one, to emit it twice).
- `presence: required` — no reply carries non-empty reasoning: `missing`;
  `presence: absent` — some reply does: `present`.
- `min_length` / `max_length` — the reasoning of all replies together, in
  characters or in tokens of the recipe's tokenizer (`unit`): `too_short`,
  `too_long`. A record without reasoning measures 0.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import model_validator

from postmix.filters.base import FilterConfig, check_bounds
from postmix.formats.reasoning import reasoning_texts
from postmix.steps import Batch, FilterFn, StepEnv, count_tokens


class Config(FilterConfig):
    bucket_by_detail: ClassVar[bool] = True
    type: Literal["reasoning"]
    empty: Literal["keep", "drop"] = "keep"
    presence: Literal["any", "required", "absent"] = "any"
    min_length: int | None = None
    max_length: int | None = None
    unit: Literal["chars", "tokens"] = "chars"

    @model_validator(mode="after")
    def _something(self) -> Config:
        if (
            self.empty == "keep"
            and self.presence == "any"
            and self.min_length is None
            and self.max_length is None
        ):
            raise ValueError("set empty: drop, presence, min_length or max_length")
        check_bounds(self, "min_length", "max_length", required=False)
        return self


def lengths(env: StepEnv, traces: list[list[str]], unit: str) -> list[int]:
    """Total reasoning size of each record, every trace counted on its own."""
    if unit == "chars":
        return [sum(map(len, t)) for t in traces]
    counts = iter(count_tokens(env, [text for t in traces for text in t]))
    return [sum(next(counts) for _ in t) for t in traces]


def verdict(texts: list[str], size: int | None, cfg: Config) -> str | None:
    """Why a record with these reasoning texts (of total `size`) is dropped, or None."""
    if cfg.empty == "drop" and any(not t.strip() for t in texts):
        return "empty_think"
    thinks = any(t.strip() for t in texts)
    if cfg.presence == "required" and not thinks:
        return "missing"
    if cfg.presence == "absent" and thinks:
        return "present"
    if size is not None and cfg.min_length is not None and size < cfg.min_length:
        return "too_short"
    if size is not None and cfg.max_length is not None and size > cfg.max_length:
        return "too_long"
    return None


def build(cfg: Config, env: StepEnv) -> FilterFn:
    measured = cfg.min_length is not None or cfg.max_length is not None

    def run(batch: Batch) -> list[str | None]:
        traces: list[list[str]] = [reasoning_texts(r) for r in batch]
        sizes: list[Any] = lengths(env, traces, cfg.unit) if measured else [None] * len(batch)
        return [verdict(t, n, cfg) for t, n in zip(traces, sizes)]

    return run
