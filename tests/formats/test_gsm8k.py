"""GSM8K converter on the real train/test files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from postmix import formats
from postmix.formats.base import ConvertContext
from postmix.formats.gsm8k import CONVERTER, Options
from postmix.schema import InvalidRow, structure_problem
from tests.conftest import shared_file


def load(root: Path, name: str) -> list[dict[str, Any]]:
    path = shared_file(root, f"openai__grade-school-math/{name}")
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def convert_all(rows: list[Any], kind: str, **options: Any) -> list[Any]:
    ctx = ConvertContext(kind=kind, options=Options(**options))
    return [out for _, out in CONVERTER.stream(enumerate(rows), ctx)]


@pytest.fixture(scope="module")
def train(shared_data: Path) -> list[dict[str, Any]]:
    return load(shared_data, "train.jsonl")


def test_train_sft_strips_calculator_annotations(train: list[dict[str, Any]]) -> None:
    recs = convert_all(train, "sft")
    assert len(recs) == 7473
    assert all(isinstance(r, dict) and structure_problem(r) is None for r in recs)
    assert recs[0]["messages"] == [
        {
            "role": "user",
            "content": "Natalia sold clips to 48 of her friends in April, and then she sold half "
            "as many clips in May. How many clips did Natalia sell altogether in April and May?",
        },
        {
            "role": "assistant",
            "content": "Natalia sold 48/2 = 24 clips in May.\n"
            "Natalia sold 48+24 = 72 clips altogether in April and May.\n#### 72",
        },
    ]
    assert not any("<<" in r["messages"][1]["content"] for r in recs)


def test_stripped_answers_match_the_alpaca_copy(
    shared_data: Path, train: list[dict[str, Any]]
) -> None:
    """README ground truth: gururise's copy is GSM8K without annotations and without `#### N`."""
    alpaca = orjson.loads(
        shared_file(shared_data, "gururise__AlpacaDataCleaned/gsm_8k_train.json").read_bytes()
    )
    recs = convert_all(train, "sft")
    assert len(alpaca) == len(recs)
    for rec, row in zip(recs, alpaca, strict=True):
        assert rec["messages"][0]["content"] == row["instruction"]
        assert rec["messages"][1]["content"].rsplit("\n####", 1)[0] == row["output"]


def test_calculator_kept_on_request(train: list[dict[str, Any]]) -> None:
    rec = convert_all(train[:1], "sft", strip_calculator=False)[0]
    assert rec["messages"][1]["content"] == train[0]["answer"]
    assert "<<48/2=24>>" in rec["messages"][1]["content"]


def test_prompt_kind_keeps_normalized_final_number(
    shared_data: Path, train: list[dict[str, Any]]
) -> None:
    recs = convert_all(train, "prompt")
    assert all(r["kind"] == "prompt" and len(r["messages"]) == 1 for r in recs)
    assert all(structure_problem(r) is None for r in recs)
    assert recs[0]["meta"] == {"answer": "72"}
    assert train[345]["answer"].endswith("#### 1,080")
    assert recs[345]["meta"]["answer"] == "1080"
    test = convert_all(load(shared_data, "test.jsonl"), "prompt")
    assert len(test) == 1319
    assert all(r["meta"]["answer"].lstrip("-").isdigit() for r in test)


def test_malformed_rows_are_quarantined() -> None:
    rows = [
        {"question": "What is 2+2?"},
        {"question": "What is 2+2?", "answer": 4},
        {"question": "What is 2+2?", "answer": "It is 4."},
        {"question": "What is 2+2?", "answer": "2+2=4\n#### 4"},
    ]
    prompt = convert_all(rows, "prompt")
    assert [type(o).__name__ for o in prompt] == ["InvalidRow"] * 3 + ["dict"]
    assert "####" in str(prompt[2])
    sft = convert_all(rows, "sft")
    assert [isinstance(o, InvalidRow) for o in sft] == [True, True, False, False]


def test_options_reject_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        Options.model_validate({"strip_calculators": False})


def test_inference() -> None:
    assert formats.from_columns(["question", "answer"]) is CONVERTER
    assert formats.from_hub_id("openai/gsm8k") is CONVERTER
    assert formats.from_hub_id("OpenAI/GSM8K") is CONVERTER


def test_answer_from_changes_only_where_the_answer_is_read() -> None:
    row = {"question": "2+3?", "answer": "2+3=<<2+3=5>>5, so \\boxed{5.0}\n#### 5"}
    by = {how: convert_all([row], "prompt", answer_from=how)[0] for how in ("gsm8k", "boxed")}
    assert by["gsm8k"]["meta"] == {"answer": "5"} and by["boxed"]["meta"] == {"answer": "5.0"}
    assert by["gsm8k"]["messages"] == by["boxed"]["messages"]
    [missing] = convert_all([{"question": "q", "answer": "#### 5"}], "prompt", answer_from="boxed")
    assert isinstance(missing, InvalidRow) and "answer_from: boxed" in str(missing)


def test_real_prompts_read_the_same_answer_by_gsm8k_and_auto(train: list[dict[str, Any]]) -> None:
    rows = train[:500]
    gsm = [r["meta"]["answer"] for r in convert_all(rows, "prompt")]
    auto = [r["meta"]["answer"] for r in convert_all(rows, "prompt", answer_from="auto")]
    assert gsm == auto and all(a.lstrip("-").isdigit() for a in gsm)
