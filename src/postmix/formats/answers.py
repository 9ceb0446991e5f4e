"""Reference answers pulled out of worked solutions, for `meta["answer"]` of prompt records.

Shared by every math format, so GSM8K-style and MATH-style sources grade the
same way whichever converter read them.
"""

from __future__ import annotations

import re

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
    """The number after the last `####`, thousands separators removed ("1,000" -> "1000")."""
    _, sep, tail = text.rpartition("####")
    if not sep:
        return None
    return tail.strip().replace(",", "") or None


def stated_answer(text: str) -> str | None:
    """The answer a solution states on its last line ("... The answer is 18.")."""
    last = text.rstrip().rsplit("\n", 1)[-1]
    stated = list(_STATED.finditer(last))
    if not stated:
        return None
    answer = last[stated[-1].end() :].strip().removesuffix(".").strip()
    if len(answer) > 1 and answer[0] == answer[-1] == "$":
        answer = answer[1:-1].strip()
    if _THOUSANDS.fullmatch(answer):
        answer = answer.replace(",", "")
    choice = _CHOICE.fullmatch(answer)
    return (choice.group(1) if choice else answer) or None
