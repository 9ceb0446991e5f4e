"""Registry of upstream formats: by recipe name, by known hub id, or inferred from columns.

Each format lives in its own module (`formats/<name>.py`) exposing `CONVERTER`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from postmix.formats.base import ConvertContext, Converter

__all__ = ["NAMES", "ConvertContext", "Converter", "get", "infer", "names"]

# Recipe names → module. The order is the tie-break order of column inference.
NAMES: tuple[str, ...] = (
    "alpaca",
    "dolly",
    "oasst",
    "sharegpt",
    "messages",
    "openorca",
    "mathinstruct",
    "gsm8k",
    "hh_rlhf",
    "ultrafeedback",
    "orca_dpo",
    "helpsteer",
    "arena",
    "sharegpt_preference",
    "prompt_completion",
    "text",
    "columns",
)

_cache: dict[str, Converter] = {}


def get(name: str) -> Converter:
    """The converter registered under `name` (raises KeyError with the known names)."""
    if name not in NAMES:
        raise KeyError(f"unknown format_converter {name!r}; known: {', '.join(NAMES)}")
    if name not in _cache:
        _cache[name] = importlib.import_module(f"postmix.formats.{name}").CONVERTER
    return _cache[name]


def names() -> tuple[str, ...]:
    return NAMES


def _all() -> list[Converter]:
    return [get(n) for n in NAMES]


def from_hub_id(source: str) -> Converter | None:
    """The converter of a known hub dataset id (case-insensitive), if any."""
    key = source.lower().strip("/")
    for conv in _all():
        if key in conv.hub_ids:
            return conv
    return None


def from_columns(columns: Iterable[str]) -> Converter | None:
    """The converter whose identifying column set is the largest subset of `columns`."""
    cols = set(columns)
    best: tuple[int, int, Converter] | None = None
    for order, conv in enumerate(_all()):
        for sig in conv.columns:
            if sig <= cols and (best is None or len(sig) > best[0]):
                best = (len(sig), -order, conv)
    return best[2] if best else None


def infer(source: str, columns: Iterable[str] | None) -> tuple[Converter, str]:
    """Choose a converter for a source and say how it was chosen (for the manifest)."""
    conv = from_hub_id(source)
    if conv is not None:
        return conv, "hub_id"
    if columns is not None:
        conv = from_columns(columns)
        if conv is not None:
            return conv, "columns"
    raise LookupError(
        f"cannot infer the format of {source!r} from its id or columns "
        f"{sorted(columns) if columns is not None else '(none read)'}; "
        "set format_converter: to one of " + ", ".join(NAMES)
    )
