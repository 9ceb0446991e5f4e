"""The step protocol: what every per-batch stage of `prepare` returns, and what it may know.

Like datatrove's pipeline steps, each step is built once from its recipe entry
and then called on batches; unlike them, a step is a pure function of the
batch (randomness is seeded per record, so results never depend on batching
or on how many processes run). A step never counts, writes files or reads
another module's globals: it returns one verdict per record (keep, or a
`Drop` with its bucket and detail) and optional per-record columns; the
engine's ledger does the counting. It declares the `Resources` it needs and
the executor reads them (a step that uses torch is never forked).

Filters and transforms are written as the two plain shapes below
(`FilterFn`, `TransformFn`); the engine wraps them as steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import xxhash

Batch = list[dict[str, Any]]
# A filter returns, per record, None (keep) or a short human-readable detail of why it drops it.
FilterFn = Callable[[Batch], list[str | None]]
# A transform returns the batch with records changed (it never drops: that is a filter's job).
TransformFn = Callable[[Batch], Batch]


@dataclass(frozen=True)
class Resources:
    """What a step needs from the process that runs it."""

    cpus: float = 1.0
    gpus: float = 0.0
    torch: bool = False  # holds a torch model: processes must be spawned, not forked

    def __or__(self, other: Resources) -> Resources:
        return Resources(
            max(self.cpus, other.cpus), max(self.gpus, other.gpus), self.torch or other.torch
        )


LIGHT = Resources()  # one CPU, no GPU, no torch: what most steps need


@dataclass(frozen=True)
class Drop:
    """Why a step removes a record: the manifest bucket, a detail, and where it is counted.

    `contaminated` names the benchmark for decontamination drops (counted as
    `contaminated`, not `dropped`); `example` adds fields to the record's line in
    examples.jsonl (e.g. the benchmark item it matched).
    """

    bucket: str
    detail: str = ""
    contaminated: str | None = None
    example: dict[str, Any] | None = None


Verdict = Drop | None


@dataclass
class StepOutput:
    """A step's answer for one batch: one verdict per record, the records (rewritten by
    transforms, else None) and per-record columns (e.g. token ids) for later stages."""

    verdicts: list[Verdict]
    batch: Batch | None = None
    columns: dict[str, list[Any]] = field(default_factory=dict)


class Step(Protocol):
    """A per-batch stage: convert-side transform, filter, decontaminate, tokenize, sketch."""

    name: str
    resources: Resources

    def __call__(self, batch: Batch) -> StepOutput: ...


@dataclass
class StepEnv:
    """Run-level facts steps may use: the seed and the recipe's tokenizer (loaded on first use)."""

    seed: int = 0
    tokenizer_spec: str | None = None
    _loaded: dict[str, Any] = field(default_factory=dict, repr=False)

    @cached_property
    def tokenizer(self) -> Any:
        if not self.tokenizer_spec:
            raise ValueError("this step counts tokens: set `tokenizer:` in the recipe")
        from postmix.tokenizer import load_tokenizer

        return load_tokenizer(self.tokenizer_spec)


def record_rng_seed(seed: int, *keys: object) -> int:
    """A 64-bit seed derived from the run seed and a record's stable keys (not its batch)."""
    return xxhash.xxh64_intdigest(
        "\x1f".join(map(str, keys)).encode(), seed=seed & 0xFFFFFFFFFFFFFFFF
    )


def count_tokens(env: StepEnv, texts: list[str]) -> list[int]:
    """Token counts of raw texts with the recipe's tokenizer, batch-encoded."""
    tok = env.tokenizer
    enc = tok(texts, add_special_tokens=False, return_attention_mask=False)["input_ids"]
    return [len(ids) for ids in enc]
