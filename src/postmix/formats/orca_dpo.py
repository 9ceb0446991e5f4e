"""Orca DPO pairs: `{system, question, chosen, rejected}`, every field a string.

The prompt is the system message (when non-empty) and the question as the user
turn; `chosen` / `rejected` are single assistant replies. Argilla's relabelled
copy names the question `input` and adds the judge's verdict: its `status`
("tie", "unchanged", "swapped"), `chosen_score` and `in_gsm8k_train` are kept
in `meta` so a recipe can drop ties or GSM8K overlaps with a filter.
"""

from __future__ import annotations

from typing import Any

from postmix.formats.base import ConvertContext, Converter
from postmix.schema import first_present, message, record, require

_META_FIELDS: tuple[str, ...] = ("status", "chosen_score", "in_gsm8k_train")


def convert(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    chosen, rejected = require(row, "chosen", "rejected")
    system = message("system", row.get("system"))
    prompt = [system] if system["content"].strip() else []
    prompt.append(message("user", first_present(row, "question", "input")))
    meta = {k: row[k] for k in _META_FIELDS if row.get(k) is not None}
    reply = message("assistant", chosen)
    other = message("assistant", rejected)
    if ctx.kind == "sft":
        return [record("sft", [*prompt, reply], meta=meta)]
    if ctx.kind == "prompt":
        return [record("prompt", prompt, meta=meta)]
    return [record("preference", prompt, chosen=[reply], rejected=[other], meta=meta)]


CONVERTER = Converter(
    name="orca_dpo",
    kinds=("preference", "sft", "prompt"),
    convert=convert,
    columns=(
        frozenset({"system", "question", "chosen", "rejected"}),
        frozenset({"system", "input", "chosen", "rejected"}),
    ),
    hub_ids=("intel/orca_dpo_pairs", "argilla/distilabel-intel-orca-dpo-pairs"),
    doc=__doc__ or "",
)
