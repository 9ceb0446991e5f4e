"""Benchmarks and training rows from the real corpus, shared by the decontamination tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.conftest import shared_file

GSM8K_TEST = "openai__grade-school-math/test.jsonl"
GSM8K_TRAIN = "openai__grade-school-math/train.jsonl"
HUMANEVAL = "openai__human-eval/HumanEval.jsonl.gz"
CODE_ALPACA = "sahil280114__codealpaca/code_alpaca_2k.json"
ALPACA_EVAL = "tatsu-lab__alpaca_eval/outputs.json"
VICUNA = "Instruction-Tuning-with-GPT-4__GPT-4-LLM/vicuna_question_80.jsonl"
USER_ORIENTED = "Instruction-Tuning-with-GPT-4__GPT-4-LLM/user_oriented_instructions.jsonl"
ARENA_HARD = "lmarena__arena-hard-auto/arena-hard-v0.1/question.jsonl"


def spec(root: Path, name: str, rel: str, field: str, **kw: Any) -> dict[str, Any]:
    """A `{name, source, field}` benchmark entry for a real local file."""
    return {"name": name, "source": str(shared_file(root, rel)), "field": field, **kw}


def gsm8k_and_humaneval(root: Path) -> list[dict[str, Any]]:
    return [
        spec(root, "gsm8k", GSM8K_TEST, "question"),
        spec(root, "humaneval", HUMANEVAL, "prompt", id_field="task_id"),
    ]


# A light, meaning-preserving rewrite: common words swapped for synonyms.
_SYNONYMS = {
    "bought": "purchased", "buys": "purchases", "buy": "purchase", "has": "owns",
    "gives": "hands", "gave": "handed", "total": "overall", "each": "every",
    "wants": "would like", "makes": "earns", "how many": "what number of",
    "how much": "what amount of", "costs": "is priced at", "cost": "price", "spent": "used",
    "store": "shop", "money": "cash", "after": "once", "before": "prior to",
    "friends": "pals", "children": "kids", "sells": "offers", "sold": "offered",
    "half": "one half", "if": "supposing", "will": "is going to", "start": "begin",
    "per": "for each", "return": "give back", "list": "sequence", "given": "provided",
    "function": "routine", "number": "value", "numbers": "values", "string": "text",
}  # fmt: skip
_WORDS = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, _SYNONYMS), key=len, reverse=True)) + r")\b", re.I
)


def paraphrase(text: str) -> str:
    return "Please solve: " + _WORDS.sub(lambda m: _SYNONYMS[m.group(0).lower()], text)
