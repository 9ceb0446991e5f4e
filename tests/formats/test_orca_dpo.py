"""Orca DPO pairs.

No orca_dpo_pairs file is in the real-data corpus. The 80 rows of LLaMA-Factory's
`dpo_en_demo.json` that carry an OpenOrca system prompt are Orca DPO content, so
they are laid out here as Intel/orca_dpo_pairs rows (and as Argilla's relabelled
copy); the single-turn rows without a system prompt give the empty-system case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from postmix import formats
from postmix.formats import sharegpt_preference
from postmix.formats.base import ConvertContext
from postmix.formats.orca_dpo import CONVERTER
from postmix.schema import InvalidRow, structure_problem
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def demo(shared_data: Path) -> list[dict[str, Any]]:
    path = shared_file(shared_data, "hiyouga__LLaMA-Factory/dpo_en_demo.json")
    return [r for r in orjson.loads(path.read_bytes()) if len(r["conversations"]) <= 2]


def as_intel(row: dict[str, Any]) -> dict[str, Any]:
    turns = row["conversations"]
    return {
        "system": turns[0]["value"] if len(turns) == 2 else "",
        "question": turns[-1]["value"],
        "chosen": row["chosen"]["value"],
        "rejected": row["rejected"]["value"],
    }


def convert_all(rows: list[Any], kind: str = "preference") -> list[Any]:
    return [out for _, out in CONVERTER.stream(enumerate(rows), ConvertContext(kind=kind))]


def test_real_content_matches_the_sharegpt_layout(demo: list[dict[str, Any]]) -> None:
    assert len(demo) == 194
    recs = convert_all([as_intel(r) for r in demo])
    ctx = ConvertContext(kind="preference")
    same = [out for _, out in sharegpt_preference.CONVERTER.stream(enumerate(demo), ctx)]
    assert recs == same
    assert all(structure_problem(r) is None for r in recs)
    assert sum(r["messages"][0]["role"] == "system" for r in recs) == 80


def test_exact_record(demo: list[dict[str, Any]]) -> None:
    row = as_intel(next(r for r in demo if r["conversations"][0]["from"] == "system"))
    (rec,) = convert_all([row])
    assert rec == {
        "id": None,
        "source": None,
        "kind": "preference",
        "messages": [
            {
                "role": "system",
                "content": "You are a teacher. Given a task, you explain in simple steps what the "
                "task is asking, any guidelines it provides and how to use those guidelines to "
                "find the answer.",
            },
            {"role": "user", "content": row["question"]},
        ],
        "chosen": [{"role": "assistant", "content": row["chosen"]}],
        "rejected": [{"role": "assistant", "content": row["rejected"]}],
        "text": None,
        "meta": {},
    }
    assert row["question"].startswith("Q: In this task, you need to provide the parts-of-speech")


def test_blank_system_is_left_out() -> None:
    row = {"system": "  ", "question": "2+2?", "chosen": "4", "rejected": "5"}
    (rec,) = convert_all([row])
    assert rec["messages"] == [{"role": "user", "content": "2+2?"}]
    (rec,) = convert_all([{k: v for k, v in row.items() if k != "system"}])
    assert rec["messages"] == [{"role": "user", "content": "2+2?"}]


def test_argilla_layout_keeps_the_verdict_in_meta() -> None:
    row = {
        "system": "You are an AI assistant.",
        "input": "Translate 'chat' from French.",
        "chosen": "Cat.",
        "rejected": "Chat.",
        "generations": ["Chat.", "Cat."],
        "order": ["chosen", "rejected"],
        "status": "swapped",
        "chosen_score": 9.0,
        "in_gsm8k_train": False,
        "original_chosen": "Chat.",
        "original_rejected": "Cat.",
    }
    (rec,) = convert_all([row])
    assert rec["messages"][1] == {"role": "user", "content": "Translate 'chat' from French."}
    assert rec["chosen"] == [{"role": "assistant", "content": "Cat."}]
    assert rec["meta"] == {"status": "swapped", "chosen_score": 9.0, "in_gsm8k_train": False}


def test_kinds(demo: list[dict[str, Any]]) -> None:
    rows = [as_intel(r) for r in demo]
    pref = convert_all(rows)
    sft = convert_all(rows, "sft")
    prompt = convert_all(rows, "prompt")
    assert [r["messages"] for r in sft] == [p["messages"] + p["chosen"] for p in pref]
    assert [r["messages"] for r in prompt] == [p["messages"] for p in pref]
    assert {r["kind"] for r in sft} == {"sft"} and {r["kind"] for r in prompt} == {"prompt"}
    assert all(structure_problem(r) is None for r in sft + prompt)
    assert CONVERTER.kinds == ("preference", "sft", "prompt")


GOOD = {"system": "", "question": "2+2?", "chosen": "4", "rejected": "5"}


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ({**GOOD, "rejected": None}, "missing field 'rejected'"),
        ({k: v for k, v in GOOD.items() if k != "question"}, "none of the fields"),
        ({**GOOD, "chosen": ["4"]}, "assistant content is list"),
        ({**GOOD, "question": {"text": "2+2?"}}, "user content is dict"),
        ({**GOOD, "system": 1}, "system content is int"),
        ("2+2?", "expected an object"),
    ],
)
def test_malformed_rows_are_invalid(row: Any, why: str) -> None:
    (out,) = convert_all([row])
    assert isinstance(out, InvalidRow)
    assert why in str(out)


def test_inferred_from_columns_and_hub_id() -> None:
    assert formats.from_columns(GOOD.keys()) is CONVERTER
    argilla = {"system", "input", "chosen", "rejected", "generations", "order", "status"}
    assert formats.from_columns(argilla | {"chosen_score", "in_gsm8k_train"}) is CONVERTER
    assert formats.from_hub_id("Intel/orca_dpo_pairs") is CONVERTER
    assert formats.from_hub_id("argilla/distilabel-intel-orca-dpo-pairs") is CONVERTER
