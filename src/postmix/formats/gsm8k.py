"""GSM8K: `{question, answer}` (openai/gsm8k `main` and `socratic`).

Answers interleave `<<48/2=24>>` calculator annotations, which were tool calls
for the original verifier, not text a model should learn to write; they are
removed by default. Prompt records keep only the question, with the number
after `####` as `meta["answer"]` for reward functions and decontamination
(`answer_from` reads it another way, see `formats/answers.py`).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from postmix.formats.answers import AnswerFrom, reference_answer
from postmix.formats.base import ConvertContext, Converter
from postmix.schema import InvalidRow, message, record, require

_CALCULATOR = re.compile(r"<<[^>]*>>")


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strip_calculator: bool = True
    answer_from: AnswerFrom = "gsm8k"


def convert(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    question, answer = require(row, "question", "answer")
    if not isinstance(answer, str):
        raise InvalidRow("answer must be a string")
    user = message("user", question)
    if ctx.kind == "prompt":
        final = reference_answer(answer, ctx.options.answer_from)
        if final is None:
            how = "'#### N' final line" if ctx.options.answer_from == "gsm8k" else "answer"
            raise InvalidRow(f"answer has no {how} (answer_from: {ctx.options.answer_from})")
        return [record("prompt", [user], meta={"answer": final})]
    if ctx.options.strip_calculator:
        answer = _CALCULATOR.sub("", answer)
    return [record("sft", [user, message("assistant", answer)])]


CONVERTER = Converter(
    name="gsm8k",
    kinds=("sft", "prompt"),
    convert=convert,
    columns=(frozenset({"question", "answer"}),),
    hub_ids=("openai/gsm8k", "gsm8k"),
    options=Options,
    doc=__doc__ or "",
)
