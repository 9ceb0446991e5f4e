"""MathInstruct: `{source, instruction, output}` (TIGER-Lab's chain- and program-of-thought mix).

`source` names the sub-dataset and style (`data/CoT/gsm_rft.json`,
`data/PoT/mathqa.json`) and is kept as `meta["category"]`, so a recipe can
filter by it. Prompt records carry the reference answer when the solution
states one: the last `\\boxed{}` first, else a closing "The answer is X"
(program-of-thought solutions state none and carry no answer); `answer_from`
reads it another way (`formats/answers.py`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from postmix.formats.answers import AnswerFrom, reference_answer
from postmix.formats.base import ConvertContext, Converter
from postmix.schema import InvalidRow, message, record, require


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer_from: AnswerFrom = "auto"


def convert(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    instruction, output = require(row, "instruction", "output")
    if not isinstance(output, str):
        raise InvalidRow("output must be a string")
    user = message("user", instruction)
    meta = {"category": row["source"]} if isinstance(row.get("source"), str) else {}
    if ctx.kind == "prompt":
        answer = reference_answer(output, ctx.options.answer_from)
        if answer is not None:
            meta["answer"] = answer
        return [record("prompt", [user], meta=meta)]
    return [record("sft", [user, message("assistant", output)], meta=meta)]


CONVERTER = Converter(
    name="mathinstruct",
    kinds=("sft", "prompt"),
    convert=convert,
    columns=(frozenset({"source", "instruction", "output"}),),
    hub_ids=("tiger-lab/mathinstruct",),
    options=Options,
    doc=__doc__ or "",
)
