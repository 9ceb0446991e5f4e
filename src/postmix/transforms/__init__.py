"""Transforms: one module per rewrite, each `Config` (pydantic, `type:`) + `build`.

A transform rewrites records and never drops them; seeded choices are derived
from each record's source position, so they do not depend on batching.
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES: dict[str, str] = {
    "system_prompt": "system_prompt",
    "max_turns": "max_turns",
    "rename_roles": "rename_roles",
    "reasoning": "reasoning",
}


def module(type_name: str) -> ModuleType:
    return importlib.import_module(f"postmix.transforms.{MODULES[type_name]}")


def config_types() -> list[type]:
    return [module(t).Config for t in MODULES]
