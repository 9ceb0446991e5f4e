"""The two shapes of record-level step, and what a step may know about its run.

Like datatrove's pipeline steps, each step is built once from its recipe entry
and then called on batches; unlike them, a step is a pure function of the
batch (randomness is seeded per record, so results never depend on batching
or on how many processes run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import xxhash

Batch = list[dict[str, Any]]
# A filter returns, per record, None (keep) or a short human-readable detail of why it drops it.
FilterFn = Callable[[Batch], list[str | None]]
# A transform returns the batch with records changed (it never drops: that is a filter's job).
TransformFn = Callable[[Batch], Batch]


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
