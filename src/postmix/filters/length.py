"""Length bounds in characters or in tokens of the recipe's tokenizer.

`field` picks what is measured: the whole record (`all`), the prompt, or the
responses (each reply of an SFT record, both sides of a pair).
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from postmix.filters.base import FilterConfig, check_bounds
from postmix.schema import all_text, prompt_text, response_texts, text_length
from postmix.steps import Batch, FilterFn, StepEnv, count_tokens


class Config(FilterConfig):
    type: Literal["length"]
    min_length: int | None = None
    max_length: int | None = None
    unit: Literal["chars", "tokens"] = "chars"
    field: Literal["all", "prompt", "response"] = "all"

    @model_validator(mode="after")
    def _bounds(self) -> Config:
        check_bounds(self, "min_length", "max_length")
        return self


def measured_text(rec: dict, field: str) -> str:
    if field == "prompt":
        return prompt_text(rec)
    if field == "response":
        return "\n".join(response_texts(rec))
    return all_text(rec)


def build(cfg: Config, env: StepEnv) -> FilterFn:
    lo, hi = cfg.min_length, cfg.max_length

    def run(batch: Batch) -> list[str | None]:
        if cfg.unit == "tokens":
            sizes = count_tokens(env, [measured_text(r, cfg.field) for r in batch])
        elif cfg.field == "all":
            sizes = [text_length(r) for r in batch]  # no join of every text just to count it
        else:
            sizes = [len(measured_text(r, cfg.field)) for r in batch]
        out: list[str | None] = []
        for n in sizes:
            if lo is not None and n < lo:
                out.append(f"{n} {cfg.unit} < min {lo}")
            elif hi is not None and n > hi:
                out.append(f"{n} {cfg.unit} > max {hi}")
            else:
                out.append(None)
        return out

    return run
