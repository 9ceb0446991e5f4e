"""Prompt/completion converter on the real self-instruct fine-tuning file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from postmix import formats
from postmix.formats.base import ConvertContext
from postmix.formats.prompt_completion import CONVERTER, Options
from postmix.schema import InvalidRow, Skip, structure_problem
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def rows(shared_data: Path) -> list[dict[str, Any]]:
    rel = "yizhongw__self-instruct/glue_mrpc_generate_paraphrase.jsonl"
    return [orjson.loads(line) for line in shared_file(shared_data, rel).read_bytes().splitlines()]


def convert_all(rows: list[Any], kind: str, **options: Any) -> list[Any]:
    ctx = ConvertContext(kind=kind, options=Options(**options))
    return [out for _, out in CONVERTER.stream(enumerate(rows), ctx)]


def test_real_rows_lose_the_end_marker(rows: list[dict[str, Any]]) -> None:
    assert len(rows) == 142
    assert all(r["completion"].endswith("<|endoftext|>") for r in rows)
    recs = convert_all(rows, "sft")
    assert len(recs) == 142
    assert all(isinstance(r, dict) and structure_problem(r) is None for r in recs)
    assert not any("<|endoftext|>" in r["messages"][1]["content"] for r in recs)
    assert recs[0]["messages"] == [
        {
            "role": "user",
            "content": "Paraphrase the following sentence: Amrozi accused his brother , whom he "
            'called " the witness " , of deliberately distorting his evidence .',
        },
        {
            "role": "assistant",
            "content": 'Referring to him as only " the witness " , Amrozi accused his brother of '
            "deliberately distorting his evidence .",
        },
    ]


def test_markers_are_configurable(rows: list[dict[str, Any]]) -> None:
    kept = convert_all(rows[:1], "sft", strip_markers=[])[0]
    assert kept["messages"][1]["content"].endswith("evidence .<|endoftext|>")
    row = {"prompt": "Say hi.\n\n###\n\n", "completion": " Hi!</s> <|endoftext|>\n"}
    assert convert_all([row], "sft")[0]["messages"] == [
        {"role": "user", "content": "Say hi.\n\n###"},
        {"role": "assistant", "content": "Hi!"},
    ]
    assert convert_all([row], "sft", strip_markers=["<EOT>"])[0]["messages"][1] == {
        "role": "assistant",
        "content": "Hi!</s> <|endoftext|>",
    }


def test_prompt_kind(rows: list[dict[str, Any]]) -> None:
    recs = convert_all(rows, "prompt")
    assert all(r["kind"] == "prompt" and structure_problem(r) is None for r in recs)
    assert recs[0]["messages"] == convert_all(rows[:1], "sft")[0]["messages"][:1]
    assert recs[0]["meta"]["answer"].endswith("distorting his evidence .")


def test_trl_conversational_rows_with_kto_label() -> None:
    row = {
        "prompt": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"},
        ],
        "completion": [{"role": "assistant", "content": "Paris.</s>"}],
        "label": False,
    }
    undesirable, rec = convert_all([row, {**row, "label": True}], "sft")
    assert isinstance(undesirable, Skip) and undesirable.reason == "undesirable_completion"
    assert rec["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
    ]
    assert rec["meta"] == {"label": True}
    prompt = convert_all([row, {**row, "label": True}], "prompt")
    assert prompt[0]["meta"] == {"label": False}
    assert prompt[1]["meta"] == {"label": True, "answer": "Paris."}
    assert prompt[0]["messages"] == rec["messages"][:2]


def test_malformed_rows_are_quarantined() -> None:
    rows = [
        {"prompt": "Hi"},
        {"completion": "Hello"},
        {"prompt": "Hi", "completion": 7},
        {"prompt": [{"role": "narrator", "content": "Hi"}], "completion": "Hello"},
        "Hi",
        {"prompt": "Hi", "completion": "Hello<|endoftext|>"},
    ]
    outs = convert_all(rows, "sft")
    assert [isinstance(o, InvalidRow) for o in outs] == [True] * 5 + [False]


def test_inference(rows: list[dict[str, Any]]) -> None:
    assert formats.from_columns(rows[0].keys()) is CONVERTER
    assert formats.from_columns(["prompt", "completion", "label"]) is CONVERTER
    assert formats.from_hub_id("trl-lib/kto-mix-14k") is CONVERTER
