"""Keep or drop records by `meta.category` (Dolly's `category`, arena-hard's, ...).

Names are compared case-insensitively after stripping (UltraChat writes
`" Vicuna "`). A record whose category is missing or blank follows `missing`;
left unset, it is dropped when `include` lists categories (it is not in the allowed
set) and kept otherwise (nothing excludes it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from postmix.filters.base import FilterConfig
from postmix.steps import Batch, FilterFn, StepEnv


class Config(FilterConfig):
    type: Literal["category"]
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    missing: Literal["keep", "drop"] | None = None

    @field_validator("include", "exclude")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        return [category_key(n) for n in names]

    @model_validator(mode="after")
    def _something(self) -> Config:
        if not self.include and not self.exclude:
            raise ValueError("set include, exclude or both")
        return self


def category_key(value: object) -> str:
    return str(value).strip().casefold()


def build(cfg: Config, env: StepEnv) -> FilterFn:
    include = frozenset(cfg.include) or None
    exclude = frozenset(cfg.exclude)
    missing = cfg.missing or ("drop" if include is not None else "keep")

    def check(rec: dict) -> str | None:
        value = rec["meta"].get("category")
        key = "" if value is None else category_key(value)
        if not key:
            return "no category" if missing == "drop" else None
        if include is not None and key not in include:
            return f"category {key!r} not included"
        if key in exclude:
            return f"category {key!r} excluded"
        return None

    def run(batch: Batch) -> list[str | None]:
        return [check(r) for r in batch]

    return run
