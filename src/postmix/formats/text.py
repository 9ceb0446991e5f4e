"""Plain documents for mid-training mixes: a bare JSON string per row, or an object's text field.

A JSONL line that is a bare string is read by this converter.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from postmix.formats.base import ConvertContext, Converter
from postmix.schema import InvalidRow, record, require


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = "text"


def convert(row: Any, ctx: ConvertContext) -> list[dict[str, Any]]:
    text = row if isinstance(row, str) else require(row, ctx.options.field)[0]
    if not isinstance(text, str):
        raise InvalidRow(f"{ctx.options.field!r} is {type(text).__name__}, expected a string")
    return [record("text", [], text=text)]


CONVERTER = Converter(
    name="text",
    kinds=("text",),
    convert=convert,
    columns=(frozenset({"text"}),),
    hub_ids=(
        "roneneldan/tinystories",
        "salesforce/wikitext",
        "skylion007/openwebtext",
        "allenai/c4",
        "huggingfacefw/fineweb",
        "huggingfacefw/fineweb-edu",
    ),
    options=Options,
    doc=__doc__ or "",
)
