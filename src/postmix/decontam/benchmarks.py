"""Benchmarks to decontaminate against: a registry by name, or any file or hub set.

Everything loads through `datasets.load_dataset`, so a hub id, a local
json/jsonl/jsonl.gz/parquet/csv file (or glob) and the packaged builders work
the same way. A benchmark that cannot be loaded is an error naming it: a
silent skip would let a contaminated set pass as clean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PACKAGED = ("json", "csv", "parquet", "text")
_SUFFIXES = {
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".parquet": "parquet",
    ".csv": "csv",
    ".txt": "text",
}


class BenchmarkSpec(BaseModel):
    """Where a benchmark's items are and which fields hold their text.

    `field` names one or more columns; each may hold a string or a list of
    strings (MT-bench's `turns`). `source` is a hub id, a local path or glob,
    or a packaged builder (`json`, `parquet`, ...) reading `data_files`.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    source: str = Field(min_length=1)
    field: str | list[str]
    split: str | None = None
    config: str | None = None
    data_files: str | list[str] | None = None
    id_field: str | None = None

    @property
    def fields(self) -> list[str]:
        return [self.field] if isinstance(self.field, str) else list(self.field)


def _spec(name: str, source: str, field: str | list[str], **kw: Any) -> BenchmarkSpec:
    return BenchmarkSpec(name=name, source=source, field=field, **kw)


REGISTRY: dict[str, BenchmarkSpec] = {
    s.name: s
    for s in (
        _spec("gsm8k", "openai/gsm8k", "question", config="main", split="test"),
        _spec("humaneval", "openai/openai_humaneval", "prompt", split="test", id_field="task_id"),
        _spec(
            "mbpp",
            "google-research-datasets/mbpp",
            "text",
            config="full",
            split="test",
            id_field="task_id",
        ),
        _spec("mmlu", "cais/mmlu", "question", config="all", split="test"),
        _spec(
            "arc",
            "allenai/ai2_arc",
            "question",
            config="ARC-Challenge",
            split="test",
            id_field="id",
        ),
        _spec(
            "arc_easy",
            "allenai/ai2_arc",
            "question",
            config="ARC-Easy",
            split="test",
            id_field="id",
        ),
        _spec(
            "truthfulqa",
            "truthfulqa/truthful_qa",
            "question",
            config="generation",
            split="validation",
        ),
        _spec("mt_bench", "lighteval/mt-bench", "turns", split="train", id_field="question_id"),
        _spec(
            "alpaca_eval",
            "json",
            "instruction",
            split="train",
            data_files="hf://datasets/tatsu-lab/alpaca_eval/alpaca_eval.json",
        ),
        _spec("ifeval", "google/IFEval", "prompt", split="train", id_field="key"),
        _spec("math500", "HuggingFaceH4/MATH-500", "problem", split="test", id_field="unique_id"),
        _spec("hellaswag", "Rowan/hellaswag", "ctx", split="validation", id_field="ind"),
        _spec(
            "winogrande",
            "allenai/winogrande",
            "sentence",
            config="winogrande_xl",
            split="validation",
        ),
    )
}


class BenchmarkUnavailable(RuntimeError):
    """A benchmark of `decontaminate.against` could not be loaded."""


@dataclass(frozen=True)
class Item:
    """One benchmark item: its id (for the manifest) and its text pieces."""

    benchmark: str
    item_id: str
    texts: tuple[str, ...]


def spec_of(entry: str | dict[str, Any] | BenchmarkSpec) -> BenchmarkSpec:
    """A recipe entry (a registry name or a spec) as a spec."""
    if isinstance(entry, BenchmarkSpec):
        return entry
    if isinstance(entry, str):
        if entry not in REGISTRY:
            known = ", ".join(sorted(REGISTRY))
            raise ValueError(
                f"unknown benchmark {entry!r}; known: {known} "
                "(or give {name, source, field} for any file or hub set)"
            )
        return REGISTRY[entry]
    return BenchmarkSpec.model_validate(entry)


def _load_args(spec: BenchmarkSpec) -> tuple[str, dict[str, Any]]:
    """The builder and keyword arguments of `load_dataset` for a spec."""
    kw: dict[str, Any] = {"split": spec.split or "train"}
    if spec.source in PACKAGED:
        return spec.source, {**kw, "data_files": spec.data_files}
    source = spec.source.lower()
    for suffix in (".gz", ".bz2", ".xz", ".zst"):
        source = source.removesuffix(suffix)
    for suffix, builder in _SUFFIXES.items():
        if source.endswith(suffix):
            return builder, {**kw, "data_files": spec.source}
    if spec.data_files is not None:
        kw["data_files"] = spec.data_files
    return spec.source, ({**kw, "name": spec.config} if spec.config else kw)


def _texts(value: Any, field: str, spec: BenchmarkSpec) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise ValueError(
        f"benchmark {spec.name!r}: field {field!r} holds {type(value).__name__}, "
        "expected a string or a list of strings"
    )


def load(spec: BenchmarkSpec) -> list[Item]:
    """The items of a benchmark, ids from `id_field` or the row number."""
    import datasets

    builder, kw = _load_args(spec)
    try:
        rows = datasets.load_dataset(builder, **kw)
    except Exception as exc:
        raise BenchmarkUnavailable(
            f"benchmark {spec.name!r} could not be loaded from {spec.source!r}: {exc}"
        ) from exc
    missing = [f for f in [*spec.fields, spec.id_field] if f and f not in rows.column_names]
    if missing:
        raise BenchmarkUnavailable(
            f"benchmark {spec.name!r} has no column {missing[0]!r}; "
            f"columns: {', '.join(rows.column_names)}"
        )
    items = []
    for i, row in enumerate(rows):
        texts = [t for f in spec.fields for t in _texts(row[f], f, spec) if t.strip()]
        item_id = str(row[spec.id_field]) if spec.id_field else str(i)
        items.append(Item(spec.name, item_id, tuple(texts)))
    return items
