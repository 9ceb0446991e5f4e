"""Benchmark decontamination: drop training records that hold benchmark items.

Built once in the main process, used by every forked worker::

    index = build(DecontamConfig.model_validate(recipe.decontaminate))
    matches = index.check(batch)          # per record: Match | None
    index.text(match.benchmark, match.item_id)   # the item, for `report`

`ngram` (default) finds copied items, `embedding` also finds paraphrases.
Both check the prompt side by default; `fields` adds chosen / rejected /
responses (RL prompts are prompt records: their prompt is checked).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from postmix.decontam.benchmarks import (
    REGISTRY,
    BenchmarkSpec,
    BenchmarkUnavailable,
    Item,
    load,
    spec_of,
)
from postmix.decontam.common import Match, field_texts

__all__ = [
    "REGISTRY",
    "BenchmarkSpec",
    "BenchmarkUnavailable",
    "DecontamConfig",
    "Index",
    "Match",
    "build",
    "field_texts",
]

CheckedField = Literal["prompt", "chosen", "rejected", "responses"]


class DecontamConfig(BaseModel):
    """`decontaminate` of a recipe."""

    model_config = ConfigDict(extra="forbid")

    against: list[str | BenchmarkSpec] = Field(min_length=1)
    method: Literal["ngram", "embedding"] = "ngram"
    n: int = Field(default=13, ge=1, le=64)
    min_overlap: float = Field(default=0.0, ge=0, le=1)
    min_words: int = Field(default=8, ge=1)
    threshold: float = Field(default=0.9, gt=0, le=1)
    fields: list[CheckedField] = Field(default_factory=lambda: ["prompt"], min_length=1)

    @field_validator("against")
    @classmethod
    def _known(cls, value: list[str | BenchmarkSpec]) -> list[str | BenchmarkSpec]:
        names = [spec_of(v).name for v in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"benchmarks named twice: {repeated}")
        return value

    @property
    def specs(self) -> list[BenchmarkSpec]:
        return [spec_of(v) for v in self.against]


class Index:
    """Benchmark items indexed by the configured method."""

    def __init__(self, cfg: DecontamConfig, items: list[Item], model: Any = None) -> None:
        self.cfg = cfg
        self._text = {(i.benchmark, i.item_id): "\n".join(i.texts) for i in items}
        self.items_per_benchmark = {s.name: 0 for s in cfg.specs}
        for item in items:
            self.items_per_benchmark[item.benchmark] += 1
        if cfg.method == "ngram":
            from postmix.decontam.ngram import NgramIndex

            self._impl: Any = NgramIndex(items, cfg.n, cfg.min_overlap, cfg.min_words)
        else:
            from postmix.decontam.embedding import EmbeddingIndex

            self._impl = EmbeddingIndex(items, cfg.threshold, model)

    @property
    def unmatchable(self) -> int:
        """Items too short (or empty) to ever match: worth a line in the manifest."""
        return self._impl.unmatchable

    def check(self, records: list[dict[str, Any]]) -> list[Match | None]:
        """Per record, the best benchmark match of its checked fields, or None."""
        return self._impl.check(records, list(self.cfg.fields))

    def text(self, benchmark: str, item_id: str) -> str:
        return self._text[(benchmark, item_id)]


def build(cfg: DecontamConfig, model: Any = None) -> Index:
    """Load every benchmark (an unreachable one raises BenchmarkUnavailable) and index it."""
    items = [item for spec in cfg.specs for item in load(spec)]
    return Index(cfg, items, model)
