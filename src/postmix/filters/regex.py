"""Keep or drop records by regular expressions and plain keywords.

`include` keeps only records where at least one pattern matches (`re.search`,
Python syntax: write `(?i)` for case-insensitive); `exclude` drops records
where any pattern matches. `keywords_include` / `keywords_exclude` do the same
with plain substrings compared case-insensitively (case-folded). Patterns are
compiled when the recipe is validated, so a bad one fails there with its
position. `field` picks the text searched: the prompt, the replies (every
reply of an SFT record, both sides of a pair) or all of it.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from postmix.filters.base import FilterConfig
from postmix.filters.length import measured_text
from postmix.steps import Batch, FilterFn, StepEnv


class Config(FilterConfig):
    type: Literal["regex"]
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    keywords_include: list[str] = Field(default_factory=list)
    keywords_exclude: list[str] = Field(default_factory=list)
    field: Literal["prompt", "response", "all"] = "all"

    @field_validator("include", "exclude")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return patterns

    @model_validator(mode="after")
    def _something(self) -> Config:
        if not (self.include or self.exclude or self.keywords_include or self.keywords_exclude):
            raise ValueError("set include, exclude, keywords_include or keywords_exclude")
        return self


def build(cfg: Config, env: StepEnv) -> FilterFn:
    include = [re.compile(p) for p in cfg.include]
    exclude = [re.compile(p) for p in cfg.exclude]
    kw_include = [k.casefold() for k in cfg.keywords_include]
    kw_exclude = [k.casefold() for k in cfg.keywords_exclude]

    def check(text: str) -> str | None:
        if include and not any(p.search(text) for p in include):
            return "matches no include pattern"
        for p in exclude:
            if p.search(text):
                return f"matches exclude pattern {p.pattern!r}"
        if kw_include or kw_exclude:
            folded = text.casefold()
            if kw_include and not any(k in folded for k in kw_include):
                return "contains no include keyword"
            for k in kw_exclude:
                if k in folded:
                    return f"contains keyword {k!r}"
        return None

    def run(batch: Batch) -> list[str | None]:
        return [check(measured_text(r, cfg.field)) for r in batch]

    return run
