"""What both decontamination methods share: the match record and the texts they compare."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from postmix.decontam.benchmarks import Item
from postmix.schema import prompt_text, response_texts


@dataclass(frozen=True, slots=True)
class Match:
    """A record found in a benchmark: the item's id goes to the manifest, the n-gram to `report`."""

    benchmark: str
    item_id: str
    score: float  # n-gram: share of the item's n-grams found (1 for a short item); cosine otherwise
    ngram: str | None


def _side(rec: dict[str, Any], side: str) -> list[str]:
    return [m["content"] for m in rec.get(side) or [] if m["content"].strip()]


def field_texts(rec: dict[str, Any], field: str) -> list[str]:
    """The texts of one checked field of a canonical record (each compared on its own)."""
    if field == "prompt":
        return [prompt_text(rec)]
    if field == "responses":
        return [t for t in response_texts(rec) if t.strip()]
    return _side(rec, field)


@dataclass
class Pieces:
    """Texts to compare, each with the index of the record (or item) it belongs to."""

    texts: list[str]
    owner: np.ndarray

    @classmethod
    def of_records(cls, records: list[dict[str, Any]], fields: list[str]) -> Pieces:
        texts, owner = [], []
        for i, rec in enumerate(records):
            for field in fields:
                for text in field_texts(rec, field):
                    texts.append(text)
                    owner.append(i)
        return cls(texts, np.asarray(owner, dtype=np.int64))

    @classmethod
    def of_items(cls, items: list[Item]) -> Pieces:
        owner = [i for i, item in enumerate(items) for _ in item.texts]
        return cls([t for item in items for t in item.texts], np.asarray(owner, dtype=np.int64))
