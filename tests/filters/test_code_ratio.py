"""Code-ratio filter: fenced blocks and unfenced code-like lines, on built and real replies."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from postmix.filters import code_ratio
from postmix.schema import record
from postmix.steps import StepEnv
from tests.filters.records import load, pref, sft

CODEGEN = "teknium1__GPTeacher/codegen-instruct.json"
GSM8K = "gururise__AlpacaDataCleaned/gsm_8k_train.json"
DOLLY = "yogarajjsoshua__FlaskApplication/databricks-dolly-15k.head19.jsonl"
FENCED = "Use this:\n```python\nprint('hi')\n```\nDone."  # 9 + 11 + 5 characters of lines


def run(batch: list, **cfg: object) -> list:
    return code_ratio.build(code_ratio.Config(type="code_ratio", **cfg), StepEnv())(batch)


def ratio(text: str, unfenced: bool = True) -> float:
    return code_ratio.code_ratio([text], unfenced)


def test_fenced_characters() -> None:
    assert ratio(FENCED) == pytest.approx(11 / 25)
    assert ratio("~~~\nx\n~~~\nsome words") == pytest.approx(1 / 11)
    assert ratio("```\nunterminated fence runs to the end") == 1.0


@pytest.mark.parametrize(
    "line",
    [
        "int x = 0;",
        "def area(r):",
        "public static void main(String[] args) {",
        "}",
        "self.total += n",
        "names = ['a', 'b']",
        "result = compute(x)",
        "print(result)",
        '<div class="cell"></div>',
        "SELECT name FROM users WHERE id = 1",
        "#include <stdio.h>",
    ],
)
def test_code_lines(line: str) -> None:
    assert ratio(line) == 1.0
    assert ratio(line, unfenced=False) == 0.0


@pytest.mark.parametrize(
    "line",
    [
        "Paris is the capital of France.",
        "For example:",
        "Ernesto = 11 + 3 = 14",
        "x=26",
        "The answer is f(x) = 2x + 1, which is linear.",
        "Step 1: mix the flour (200 g) with water.",
    ],
)
def test_prose_and_math_lines(line: str) -> None:
    assert ratio(line) == 0.0


def test_bounds_and_sides() -> None:
    code_reply = "```js\nlet a = 1;\nconsole.log(a);\n```"
    batch = [sft("q", code_reply), sft("q", "Just words here."), record("prompt", [])]
    assert run(batch, min_ratio=0.5) == [
        None,
        "code ratio 0.00 < min 0.5",
        "code ratio 0.00 < min 0.5",
    ]
    assert run(batch, max_ratio=0.2) == ["code ratio 1.00 > max 0.2", None, None]
    half = pref("q", chosen=code_reply, rejected="Words only, no code at all.")
    assert 0.3 < code_ratio.code_ratio(code_ratio.replies(half), True) < 0.7


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="set min_ratio, max_ratio or both"):
        code_ratio.Config(type="code_ratio")
    with pytest.raises(ValidationError, match=r"min_ratio 0\.8 > max_ratio 0\.2"):
        code_ratio.Config(type="code_ratio", min_ratio=0.8, max_ratio=0.2)


def test_real_code_and_prose(shared_data: Path) -> None:
    """GPTeacher codegen replies are mostly code; Dolly and GSM8K replies are not."""
    codegen = [sft(r["instruction"], r["response"]) for r in load(shared_data, CODEGEN)]
    kept = run(codegen, min_ratio=0.5).count(None)
    assert kept / len(codegen) > 0.75  # measured 0.81
    dolly = [sft(r["instruction"], r["response"]) for r in load(shared_data, DOLLY)]
    assert run(dolly, max_ratio=0.0) == [None] * 19
    gsm8k = [sft(r["instruction"], r["output"]) for r in load(shared_data, GSM8K)]
    assert run(gsm8k, max_ratio=0.1).count(None) >= len(gsm8k) - 3  # measured: 2 of 7473 drop
