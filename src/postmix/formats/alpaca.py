"""Alpaca: `{instruction, input, output}` (also `response`, as in GPTeacher and Dolly-likes).

The optional `input` is appended to the instruction after a blank line, the
layout of the Stanford Alpaca prompt. Also reads self-instruct seed tasks
(`instances: [{input, output}]`), one record per instance.
"""

from __future__ import annotations

from typing import Any

from postmix.formats.base import ConvertContext, Converter
from postmix.formats.reasoning import with_reasoning
from postmix.schema import InvalidRow, first_present, message, record


def user_turn(instruction: str, extra: str | None) -> str:
    """Instruction and optional input/context as one user message."""
    extra = (extra or "").strip()
    return f"{instruction.strip()}\n\n{extra}" if extra else instruction.strip()


def convert(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    if not isinstance(row, dict):
        raise InvalidRow(f"row is {type(row).__name__}, expected an object")
    instruction = first_present(row, "instruction", "prompt", "question")
    if "instances" in row and "output" not in row and "response" not in row:
        instances = row["instances"]
        if not isinstance(instances, list) or not instances:
            raise InvalidRow("'instances' must be a non-empty list")
        pairs = [(i.get("input"), first_present(i, "output", "response")) for i in instances]
    else:
        pairs = [(row.get("input"), first_present(row, "output", "response"))]
    meta = {k: row[k] for k in ("category", "name") if isinstance(row.get(k), str)}
    out = []
    for extra, answer in pairs:
        if not isinstance(instruction, str) or not isinstance(extra, (str, type(None))):
            raise InvalidRow("instruction and input must be strings")
        user = message("user", user_turn(instruction, extra))
        if ctx.kind == "prompt":
            out.append(record("prompt", [user], meta={**meta, "answer": answer}))
        else:
            out.append(
                record("sft", [user, with_reasoning(message("assistant", answer))], meta=dict(meta))
            )
    return out


CONVERTER = Converter(
    name="alpaca",
    kinds=("sft", "prompt"),
    convert=convert,
    columns=(
        frozenset({"instruction", "output"}),
        frozenset({"instruction", "input", "output"}),
        frozenset({"instruction", "input", "response"}),
        frozenset({"instruction", "instances"}),
    ),
    hub_ids=(
        "tatsu-lab/alpaca",
        "yahma/alpaca-cleaned",
        "vicgalle/alpaca-gpt4",
        "sahil2801/codealpaca-20k",
        "teknium/gpteacher-general-instruct",
    ),
    doc=__doc__ or "",
)
