"""Dolly: `{instruction, context, response, category}` (databricks-dolly-15k).

The optional `context` (a reference passage for closed QA, extraction and
summarization) joins the instruction in the user turn the way Alpaca's
`input` does; `category` is kept for category filters and stratified splits.
The human-written `response` is the reference answer of prompt records.
"""

from __future__ import annotations

from typing import Any

from postmix.formats.alpaca import user_turn
from postmix.formats.base import ConvertContext, Converter
from postmix.schema import InvalidRow, message, record, require


def convert(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    instruction, response = require(row, "instruction", "response")
    context = row.get("context")
    if not isinstance(instruction, str) or not isinstance(context, (str, type(None))):
        raise InvalidRow("instruction and context must be strings")
    user = message("user", user_turn(instruction, context))
    meta = {"category": row["category"]} if isinstance(row.get("category"), str) else {}
    if ctx.kind == "prompt":
        if not isinstance(response, str):
            raise InvalidRow("response must be a string")
        return [record("prompt", [user], meta={**meta, "answer": response})]
    return [record("sft", [user, message("assistant", response)], meta=meta)]


CONVERTER = Converter(
    name="dolly",
    kinds=("sft", "prompt"),
    convert=convert,
    columns=(
        frozenset({"instruction", "context", "response"}),
        frozenset({"instruction", "context", "response", "category"}),
    ),
    hub_ids=("databricks/databricks-dolly-15k",),
    doc=__doc__ or "",
)
