"""Generic column-mapping converter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from postmix import formats
from postmix.formats import dolly
from postmix.formats.base import ConvertContext
from postmix.formats.columns import CONVERTER, Options, lookup
from postmix.schema import InvalidRow, Skip, structure_problem
from postmix.writers.schemas import SCHEMAS
from tests.conftest import shared_file


def convert_all(rows: list[Any], kind: str, **options: Any) -> list[Any]:
    ctx = ConvertContext(kind=kind, options=Options(**options))
    return [out for _, out in CONVERTER.stream(enumerate(rows), ctx)]


def test_real_dolly_rows_mapped_by_hand_match_the_dolly_converter(shared_data: Path) -> None:
    rel = "yogarajjsoshua__FlaskApplication/databricks-dolly-15k.head19.jsonl"
    rows = [orjson.loads(line) for line in shared_file(shared_data, rel).read_bytes().splitlines()]
    mapped = convert_all(
        rows, "sft", prompt="instruction", input="context", response="response", meta=["category"]
    )
    expected = [dolly.convert(row, ConvertContext(kind="sft"))[0] for row in rows]
    assert len(mapped) == 19
    assert mapped == expected


def test_nested_paths_system_and_meta() -> None:
    row = {
        "q": {"body": "What is 2+2?", "tags": ["math", "easy"]},
        "sys": "Be terse.",
        "a": {"text": "4"},
        "gold": 4,
        "a.b": "literal dotted key",
    }
    rec = convert_all(
        [row], "sft", prompt="q.body", response="a.text", system="sys", meta=["q.tags.0", "a.b"]
    )[0]
    assert structure_problem(rec) is None
    assert rec["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
    ]
    assert rec["meta"] == {"q.tags.0": "math", "a.b": "literal dotted key"}
    prompt = convert_all([row], "prompt", prompt="q.body", answer="gold")[0]
    assert prompt["messages"] == [{"role": "user", "content": "What is 2+2?"}]
    assert prompt["meta"] == {"answer": 4}
    assert lookup(row, "q.tags.-1") == "easy"
    assert lookup(row, "q.tags.5") is None
    assert lookup(row, "q.body.x") is None


def test_preference_with_text_and_message_sides() -> None:
    rows = [
        {"prompt": "Say hi.", "good": "Hi!", "bad": "No."},
        {
            "prompt": [{"role": "user", "content": "Say hi."}],
            "good": {"role": "assistant", "content": "Hi!"},
            "bad": [{"role": "assistant", "content": "No."}],
        },
    ]
    recs = convert_all(rows, "preference", prompt="prompt", chosen="good", rejected="bad")
    for rec in recs:
        assert structure_problem(rec) is None
        assert rec["messages"] == [{"role": "user", "content": "Say hi."}]
        assert rec["chosen"] == [{"role": "assistant", "content": "Hi!"}]
        assert rec["rejected"] == [{"role": "assistant", "content": "No."}]


def test_text_kind() -> None:
    recs = convert_all(
        [{"doc": {"body": "A page."}, "url": "u"}], "text", text="doc.body", meta=["url"]
    )
    assert [(r["kind"], r["text"], r["meta"]) for r in recs] == [("text", "A page.", {"url": "u"})]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"response": "r"},
        {"prompt": "p", "chosen": "c"},
        {"text": "t", "system": "s"},
        {"prompt": "p", "colum": "x"},
    ],
)
def test_incoherent_options_are_rejected(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Options.model_validate(options)


def test_kind_requirements() -> None:
    with pytest.raises(ValidationError, match="needs chosen, rejected"):
        Options.model_validate({"prompt": "p"}, context={"kind": "preference"})
    assert Options.model_validate({"prompt": "p"}, context={"kind": "prompt"}).prompt == "p"
    outs = convert_all([{"p": "Hi"}], "sft", prompt="p")
    assert isinstance(outs[0], InvalidRow) and "response" in str(outs[0])


def test_malformed_rows_are_quarantined() -> None:
    rows = [
        {"p": "Hi"},
        {"r": "Hello"},
        {"p": "Hi", "r": 3},
        {"p": "Hi", "x": 3, "r": "Hello"},
        {"p": [{"role": "user", "content": "Hi"}], "x": "extra", "r": "Hello"},
        "Hi",
        {"p": "Hi", "r": "Hello", "x": None},
    ]
    outs = convert_all(rows, "sft", prompt="p", response="r", input="x")
    assert [isinstance(o, InvalidRow) for o in outs] == [True] * 6 + [False]
    assert outs[-1]["messages"][0] == {"role": "user", "content": "Hi"}
    text = convert_all([{"t": 5}, {}], "text", text="t")
    assert all(isinstance(o, InvalidRow) for o in text)


def test_never_inferred() -> None:
    assert CONVERTER.columns == ()
    assert CONVERTER.kinds == ("sft", "preference", "prompt", "text")
    assert formats.get("columns") is CONVERTER


# OpenR1-Math / NuminaMath layout: a problem, a worked solution, and sometimes an `answer` column.
MATH_ROWS = [
    {"problem": "Half of 1?", "solution": "Halve it: $\\boxed{\\frac{1}{2}}$", "answer": ""},
    {"problem": "2+2?", "solution": "2+2=4\n#### 4", "answer": None},
    {"problem": "3+3?", "solution": "See the table.", "answer": "6"},
    {"problem": "Prove it.", "solution": "It holds by induction."},
]


def test_prompt_sets_take_their_answer_from_a_solution_column() -> None:
    opts = {"prompt": "problem", "solution": "solution"}
    recs = convert_all(MATH_ROWS, "prompt", answer="answer", **opts)
    assert [r["meta"]["answer"] for r in recs[:3]] == ["\\frac{1}{2}", "4", "6"]
    assert isinstance(recs[3], Skip) and recs[3].reason == "no_reference_answer"
    boxed = convert_all(MATH_ROWS[:2], "prompt", answer_from="boxed", **opts)
    assert boxed[0]["meta"]["answer"] == "\\frac{1}{2}" and isinstance(boxed[1], Skip)
    last = convert_all(MATH_ROWS[3:], "prompt", answer_from="final_line", **opts)
    assert last[0]["meta"]["answer"] == "It holds by induction"
    # Written out, the reference is both `answer` and `solution` (what TRL's accuracy_reward reads).
    rec = {**recs[0], "id": "x", "source": "math"}
    row = SCHEMAS["messages"](rec)
    assert row["answer"] == row["solution"] == "\\frac{1}{2}"
    assert row["prompt"] == [{"role": "user", "content": "Half of 1?"}]
    with pytest.raises(ValidationError, match="need `prompt`"):
        Options(text="t", solution="solution")
