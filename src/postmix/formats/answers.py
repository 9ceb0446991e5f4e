"""Reference answers pulled out of worked solutions, for `meta["answer"]` of prompt records.

Shared by every math format, so GSM8K-style and MATH-style sources grade the
same way whichever converter read them. `answer_from` (an option of the
converters that build prompt sets) names where a solution states its answer:
`boxed` (the last `\\boxed{}`), `gsm8k` (`#### N`), `final_line` (the last
line, a "The answer is" lead-in removed) or `auto` (boxed, then `####`, then a
closing "The answer is X").
"""

from __future__ import annotations

import re
from typing import Literal

AnswerFrom = Literal["auto", "boxed", "gsm8k", "final_line"]
_BOXES = ("\\boxed{", "\\fbox{")
# "The answer is 18.", "The final answer is: $5$", "Answer: D": the wording
# chain-of-thought datasets (MathInstruct, AQuA, MetaMath) end their solutions with.
_STATED = re.compile(r"\b(?:the\s+(?:final\s+)?answer\s+is|answer(?:\s+is)?\s*:)\s*:?", re.I)
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_CHOICE = re.compile(r"\(([A-Za-z])\)")


def boxed_answer(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (or `\\fbox{...}`), nested braces included."""
    start = max(text.rfind(box) for box in _BOXES)
    if start < 0:
        return None
    begin = text.index("{", start) + 1
    depth = 1
    for pos in range(begin, len(text)):
        char = text[pos]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[begin:pos].strip() or None
    return None


def gsm8k_answer(text: str) -> str | None:
    """The rest of the line after the last `####`, thousands separators removed ("1,000": 1000)."""
    _, sep, tail = text.rpartition("####")
    if not sep:
        return None
    return tail.lstrip(" \t").partition("\n")[0].strip().replace(",", "") or None


def stated_answer(text: str) -> str | None:
    """The answer a solution states on its last line ("... The answer is 18.")."""
    last = text.rstrip().rsplit("\n", 1)[-1]
    stated = list(_STATED.finditer(last))
    if not stated:
        return None
    return _cleaned(last[stated[-1].end() :])


def final_line_answer(text: str) -> str | None:
    """The last non-empty line as the answer ("Answer: 42", "$42$." and "42" all give "42")."""
    return stated_answer(text) or _cleaned(text.strip().rsplit("\n", 1)[-1])


def _cleaned(answer: str) -> str | None:
    """An answer without its closing period, `$…$`, thousands separators or choice brackets."""
    answer = answer.strip().removesuffix(".").strip()
    if len(answer) > 1 and answer[0] == answer[-1] == "$":
        answer = answer[1:-1].strip()
    if _THOUSANDS.fullmatch(answer):
        answer = answer.replace(",", "")
    choice = _CHOICE.fullmatch(answer)
    return (choice.group(1) if choice else answer) or None


def reference_answer(solution: str, answer_from: AnswerFrom = "auto") -> str | None:
    """The answer a worked solution states, read the way `answer_from` says (module doc)."""
    if answer_from == "boxed":
        return boxed_answer(solution)
    if answer_from == "gsm8k":
        return gsm8k_answer(solution)
    if answer_from == "final_line":
        return final_line_answer(solution)
    return boxed_answer(solution) or gsm8k_answer(solution) or stated_answer(solution)
