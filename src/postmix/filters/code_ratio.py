"""Share of code in the replies: keep code-heavy data, or keep code out.

The ratio is code characters over all characters of the non-blank lines of
the replies (every reply of an SFT record, both sides of a pair, the document
of a text record), leading and trailing whitespace not counted; a record with
no reply text has ratio 0. Code is what sits inside ``` or ~~~ fences and,
with `detect_unfenced` (default), any other line that looks like code:

- it ends with `;`, `{` or `}`;
- it starts with a statement keyword of a common language (`def`, `for`,
  `public`, ...) and ends with `:`, `{`, `(` or `)`;
- it is an SQL statement or a preprocessor directive;
- it assigns to a dotted or snake_case name (`self.total += n`), or assigns a
  literal, object or call (`x = [1, 2]`, `y = f(x)`);
- it is a bare call (`print(x)`) or an HTML/XML tag.

The line rules exist for the many sets whose answers are unfenced code (Code
Alpaca) and are tuned to stay silent on prose and on math: `x = 26` or
`Bob = 11 + 3 = 14` (GSM8K-style equations) are not code."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from postmix.filters.base import FilterConfig, check_bounds
from postmix.schema import response_texts
from postmix.steps import Batch, FilterFn, StepEnv

FENCE = re.compile(r"^\s*(?:```|~~~)")
_KEYWORDS = (
    "def|class|import|from|return|elif|else|try|except|finally|with|while|for|if|switch|case"
    "|public|private|protected|static|void|int|var|let|const|function|func|fn|package|using"
    "|namespace|struct|enum|interface"
)
CODE_LINE = re.compile(
    rf"""
    .*[;{{}}]\s*$                                  # ends like a C-family statement or block
    | (?:{_KEYWORDS})\b.*[:{{()]\s*$               # keyword-led header or call
    | (?:SELECT|INSERT|UPDATE|DELETE|CREATE)\s.*   # SQL
    | \#(?:include|define|import|pragma)\b.*       # preprocessor
    | [A-Za-z_]\w*(?:[._]\w+)+\s*[-+*/%|&]?=(?!=)\s*\S.*  # assignment to a_name, obj.attr
    | [A-Za-z_]\w*\s*=\s*(?:["'\[{{]|new\s|\w+\().*  # assignment of a literal, object, call
    | [\w.]+\([^=]*\)\s*$                          # bare call
    | </?[a-zA-Z][\w-]*(?:\s[^>]*)?/?>.*           # markup tag
    """,
    re.VERBOSE,
)


class Config(FilterConfig):
    type: Literal["code_ratio"]
    min_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    max_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    detect_unfenced: bool = True

    @model_validator(mode="after")
    def _bounds(self) -> Config:
        check_bounds(self, "min_ratio", "max_ratio")
        return self


def replies(rec: dict) -> list[str]:
    return [rec["text"] or ""] if rec["kind"] == "text" else response_texts(rec)


def code_ratio(texts: list[str], unfenced: bool) -> float:
    """Code characters over all non-blank line characters of `texts`."""
    code = total = 0
    for text in texts:
        fenced = False
        for line in text.split("\n"):
            if FENCE.match(line):
                fenced = not fenced
                continue
            size = len(line.strip())
            total += size
            if fenced or (unfenced and size and CODE_LINE.match(line.strip())):
                code += size
    return code / total if total else 0.0


def build(cfg: Config, env: StepEnv) -> FilterFn:
    lo, hi = cfg.min_ratio, cfg.max_ratio

    def check(rec: dict) -> str | None:
        ratio = code_ratio(replies(rec), cfg.detect_unfenced)
        if lo is not None and ratio < lo:
            return f"code ratio {ratio:.2f} < min {lo}"
        if hi is not None and ratio > hi:
            return f"code ratio {ratio:.2f} > max {hi}"
        return None

    def run(batch: Batch) -> list[str | None]:
        return [check(r) for r in batch]

    return run
