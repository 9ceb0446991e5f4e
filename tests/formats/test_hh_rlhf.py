"""Anthropic hh-rlhf transcripts.

No hh-rlhf file is in the real-data corpus (its one mirrored split is reserved
for evaluation), so the transcripts are built two ways: from the 220 real
system-free pairs of LLaMA-Factory's `dpo_en_demo.json`, written out in
hh-rlhf's `\\n\\nHuman: ` / `\\n\\nAssistant: ` layout, and by hand with the quirks
of the real data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from postmix import formats
from postmix.formats import sharegpt_preference
from postmix.formats.base import ConvertContext
from postmix.formats.hh_rlhf import CONVERTER
from postmix.schema import InvalidRow, structure_problem
from tests.conftest import shared_file

TAGS = {"human": "Human", "gpt": "Assistant"}


def transcript(turns: list[dict[str, str]]) -> str:
    return "".join(f"\n\n{TAGS[t['from']]}: {t['value']}" for t in turns)


def convert_all(rows: list[Any], kind: str = "preference") -> list[Any]:
    return [out for _, out in CONVERTER.stream(enumerate(rows), ConvertContext(kind=kind))]


def convert_one(row: Any, kind: str = "preference") -> dict[str, Any]:
    (out,) = convert_all([row], kind)
    assert isinstance(out, dict), out
    return out


@pytest.fixture(scope="module")
def demo_pairs(shared_data: Path) -> list[dict[str, Any]]:
    rows = orjson.loads(
        shared_file(shared_data, "hiyouga__LLaMA-Factory/dpo_en_demo.json").read_bytes()
    )
    return [r for r in rows if r["conversations"][0]["from"] != "system"]


def test_real_pairs_as_transcripts(demo_pairs: list[dict[str, Any]]) -> None:
    assert len(demo_pairs) == 220
    rows = [
        {
            "chosen": transcript([*r["conversations"], r["chosen"]]),
            "rejected": transcript([*r["conversations"], r["rejected"]]),
        }
        for r in demo_pairs
    ]
    recs = convert_all(rows)
    expected = convert_all_sharegpt(demo_pairs)
    assert len(recs) == 220
    assert [(r["messages"], r["chosen"], r["rejected"]) for r in recs] == [
        (r["messages"], r["chosen"], r["rejected"]) for r in expected
    ]
    assert all(structure_problem(r) is None and r["meta"] == {} for r in recs)
    assert sum(len(r["messages"]) > 1 for r in recs) == 106


def convert_all_sharegpt(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ctx = ConvertContext(kind="preference")
    return [out for _, out in sharegpt_preference.CONVERTER.stream(enumerate(rows), ctx)]


MULTI_TURN = {
    "chosen": "\n\nHuman: What's a good way to keep basil alive indoors?"
    "\n\nAssistant: Give it a sunny window, at least six hours of light, and water it when the "
    "top inch of soil is dry."
    "\n\nHuman: How often should I pinch it back?"
    "\n\nAssistant: Every week or two, just above a pair of leaves.\n\nThat keeps it bushy.",
    "rejected": "\n\nHuman: What's a good way to keep basil alive indoors?"
    "\n\nAssistant: Give it a sunny window, at least six hours of light, and water it when the "
    "top inch of soil is dry."
    "\n\nHuman: How often should I pinch it back?"
    "\n\nAssistant: Never, basil doesn't need it.",
}


def test_multi_turn_pair_exact_record() -> None:
    rec = convert_one(MULTI_TURN)
    assert rec == {
        "id": None,
        "source": None,
        "kind": "preference",
        "messages": [
            {"role": "user", "content": "What's a good way to keep basil alive indoors?"},
            {
                "role": "assistant",
                "content": "Give it a sunny window, at least six hours of light, and water it "
                "when the top inch of soil is dry.",
            },
            {"role": "user", "content": "How often should I pinch it back?"},
        ],
        "chosen": [
            {
                "role": "assistant",
                "content": "Every week or two, just above a pair of leaves.\n\n"
                "That keeps it bushy.",
            }
        ],
        "rejected": [{"role": "assistant", "content": "Never, basil doesn't need it."}],
        "text": None,
        "meta": {},
    }
    assert structure_problem(rec) is None


def test_empty_final_assistant_is_emitted_then_dropped_by_structure() -> None:
    row = {
        "chosen": "\n\nHuman: Can you tell me a joke about cats?\n\nAssistant: Why did the cat "
        "sit on the computer? To keep an eye on the mouse.",
        "rejected": "\n\nHuman: Can you tell me a joke about cats?\n\nAssistant:",
    }
    rec = convert_one(row)
    assert rec["messages"] == [{"role": "user", "content": "Can you tell me a joke about cats?"}]
    assert rec["rejected"] == [{"role": "assistant", "content": ""}]
    assert structure_problem(rec) == "empty_side"


def test_speaker_tag_without_blank_line_does_not_split() -> None:
    reply = "A script could look like this:\nHuman: hi\nAssistant: hello\nand so on."
    row = {
        "chosen": f"\n\nHuman: Write a two-line chat script.\n\nAssistant: {reply}",
        "rejected": "\n\nHuman: Write a two-line chat script.\n\nAssistant: No.",
    }
    rec = convert_one(row)
    assert rec["chosen"] == [{"role": "assistant", "content": reply}]
    assert len(rec["messages"]) == 1


def test_extra_spaces_and_missing_leading_blank_line() -> None:
    row = {
        "chosen": "Human:   Is the sun a star?  \n\nAssistant:  Yes, a G-type main-sequence star.",
        "rejected": "\n\nHuman: Is the sun a star?\n\nAssistant:No.",
    }
    rec = convert_one(row)
    assert rec["messages"] == [{"role": "user", "content": "Is the sun a star?"}]
    assert rec["chosen"][0]["content"] == "Yes, a G-type main-sequence star."
    assert rec["rejected"][0]["content"] == "No."
    assert rec["meta"] == {}


def test_prompt_mismatch_keeps_chosen_prompt_and_flags_it() -> None:
    row = {
        "chosen": "\n\nHuman: Name a prime.\n\nAssistant: 7.\n\nHuman: Another?\n\nAssistant: 11",
        "rejected": "\n\nHuman: Name a prime.\n\nAssistant: 9.\n\nHuman: Another?\n\nAssistant: 15",
    }
    rec = convert_one(row)
    assert [m["content"] for m in rec["messages"]] == ["Name a prime.", "7.", "Another?"]
    assert rec["chosen"][0]["content"] == "11"
    assert rec["rejected"][0]["content"] == "15"
    assert rec["meta"] == {"prompt_mismatch": True}
    assert convert_one(row, "prompt")["meta"] == {"prompt_mismatch": True}


def test_transcript_ending_on_a_user_turn_gives_an_empty_reply() -> None:
    row = {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!", "rejected": "\n\nHuman: Hi"}
    rec = convert_one(row)
    assert rec["rejected"] == [{"role": "assistant", "content": ""}]
    assert structure_problem(rec) == "empty_side"


def test_kinds() -> None:
    sft = convert_one(MULTI_TURN, "sft")
    assert sft["kind"] == "sft"
    assert [m["role"] for m in sft["messages"]] == ["user", "assistant", "user", "assistant"]
    assert sft["messages"][-1]["content"].startswith("Every week or two")
    assert sft["chosen"] is None and structure_problem(sft) is None
    prompt = convert_one(MULTI_TURN, "prompt")
    assert prompt["kind"] == "prompt"
    assert prompt["messages"] == convert_one(MULTI_TURN)["messages"]
    assert structure_problem(prompt) is None
    assert CONVERTER.kinds[0] == "preference"


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ({"chosen": "\n\nHuman: Hi\n\nAssistant: Hello"}, "missing field 'rejected'"),
        ({"chosen": "just some text", "rejected": "\n\nHuman: Hi"}, "no 'Human:'"),
        ({"chosen": "", "rejected": "\n\nHuman: Hi"}, "no 'Human:'"),
        ({"chosen": "preamble\n\nHuman: Hi", "rejected": "\n\nHuman: Hi"}, "before its first"),
        ({"chosen": ["Human: Hi"], "rejected": "\n\nHuman: Hi"}, "expected a transcript"),
        ("\n\nHuman: Hi", "expected an object"),
    ],
)
def test_malformed_rows_are_invalid(row: Any, why: str) -> None:
    (out,) = convert_all([row])
    assert isinstance(out, InvalidRow)
    assert why in str(out)


def test_inferred_from_columns_and_hub_id() -> None:
    assert formats.from_columns({"chosen", "rejected"}) is CONVERTER
    assert formats.from_hub_id("Anthropic/hh-rlhf") is CONVERTER
