"""Filters: one module per rule, each `Config` (pydantic, `type:` discriminated) + `build`.

A filter is built once per run from its recipe entry and returns, for each
record of a batch, None (keep) or why it drops it. The manifest counts drops
under the filter's `name` (default: its `type`).
"""

from __future__ import annotations

import importlib
from types import ModuleType

# type name → module; each module defines `Config` and `build(config, env) -> FilterFn`.
MODULES: dict[str, str] = {
    "length": "length",
    "turns": "turns",
    "language": "language",
    "quality": "quality",
    "code_ratio": "code_ratio",
    "regex": "regex",
    "category": "category",
    "score": "score",
    "structure": "structure",
    "reasoning": "reasoning",
    "score_margin": "score_margin",
    "length_ratio": "length_ratio",
}


def module(type_name: str) -> ModuleType:
    return importlib.import_module(f"postmix.filters.{MODULES[type_name]}")


def config_types() -> list[type]:
    """Every filter's Config model, for the recipe's discriminated union."""
    return [module(t).Config for t in MODULES]
