"""UltraFeedback, binarized (H4, Argilla) and raw (openbmb).

No UltraFeedback file is in the real-data corpus. The binarized rows are the
300 real pairs of LLaMA-Factory's `dpo_en_demo.json` laid out as
HuggingFaceH4/ultrafeedback_binarized rows (whole conversations on each side);
the raw rows follow the openbmb/UltraFeedback dataset card.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from postmix import formats
from postmix.formats import sharegpt_preference
from postmix.formats.base import ConvertContext
from postmix.formats.ultrafeedback import CONVERTER, Options
from postmix.schema import InvalidRow, Skip, structure_problem
from tests.conftest import shared_file

ROLES = {"system": "system", "human": "user", "gpt": "assistant"}


def as_h4(row: dict[str, Any]) -> dict[str, Any]:
    prompt = [{"role": ROLES[t["from"]], "content": t["value"]} for t in row["conversations"]]
    chosen = [*prompt, {"role": "assistant", "content": row["chosen"]["value"]}]
    rejected = [*prompt, {"role": "assistant", "content": row["rejected"]["value"]}]
    last = prompt[-1]["content"]
    return {
        "prompt": last,
        "prompt_id": hashlib.sha256(last.encode()).hexdigest(),
        "chosen": chosen,
        "rejected": rejected,
        "messages": chosen,
        "score_chosen": 8.0,
        "score_rejected": 6.5,
    }


def convert_all(rows: list[Any], kind: str = "preference", **options: Any) -> list[Any]:
    ctx = ConvertContext(kind=kind, options=Options(**options))
    return [out for _, out in CONVERTER.stream(enumerate(rows), ctx)]


def convert_one(row: Any, kind: str = "preference", seed: int = 0, **options: Any) -> Any:
    ctx = ConvertContext(kind=kind, options=Options(**options), seed=seed)
    (out,) = [out for _, out in CONVERTER.stream([(0, row)], ctx)]
    return out


@pytest.fixture(scope="module")
def demo(shared_data: Path) -> list[dict[str, Any]]:
    path = shared_file(shared_data, "hiyouga__LLaMA-Factory/dpo_en_demo.json")
    return orjson.loads(path.read_bytes())


def test_binarized_real_pairs(demo: list[dict[str, Any]]) -> None:
    rows = [as_h4(r) for r in demo]
    recs = convert_all(rows)
    ctx = ConvertContext(kind="preference")
    same = [out for _, out in sharegpt_preference.CONVERTER.stream(enumerate(demo), ctx)]
    assert len(recs) == 300
    assert [(r["messages"], r["chosen"], r["rejected"]) for r in recs] == [
        (r["messages"], r["chosen"], r["rejected"]) for r in same
    ]
    assert all(structure_problem(r) is None for r in recs)
    assert recs[23]["meta"] == {
        "score_chosen": 8.0,
        "score_rejected": 6.5,
        "prompt_id": hashlib.sha256(b"Write a sentence not in English.").hexdigest(),
    }


def test_binarized_exact_record(demo: list[dict[str, Any]]) -> None:
    rec = convert_one(as_h4(demo[267]))
    assert rec["kind"] == "preference"
    assert rec["messages"] == [
        {"role": "user", "content": "Hi"},
        {
            "role": "assistant",
            "content": "Hello! How can I help you today? If you have any questions or need "
            "assistance, feel free to ask.",
        },
        {"role": "user", "content": "i am bored."},
    ]
    assert rec["chosen"] == [{"role": "assistant", "content": demo[267]["chosen"]["value"]}]
    assert rec["rejected"] == [{"role": "assistant", "content": demo[267]["rejected"]["value"]}]
    assert rec["chosen"][0]["content"].startswith("I'm sorry to hear that you're bored.")


def test_binarized_kinds(demo: list[dict[str, Any]]) -> None:
    rows = [as_h4(r) for r in demo]
    pref = convert_all(rows)
    sft = convert_all(rows, "sft")
    prompt = convert_all(rows, "prompt")
    assert [r["messages"] for r in sft] == [row["chosen"] for row in rows]
    assert [r["messages"] for r in prompt] == [p["messages"] for p in pref]
    assert [r["meta"] for r in sft] == [p["meta"] for p in pref]
    assert all(structure_problem(r) is None for r in sft + prompt)
    assert CONVERTER.kinds == ("preference", "sft", "prompt")


def test_argilla_cleaned_layout() -> None:
    user = {"role": "user", "content": "Name three primary colors."}
    row = {
        "source": "evol_instruct",
        "prompt": user["content"],
        "chosen": [user, {"role": "assistant", "content": "Red, yellow and blue."}],
        "chosen-rating": 5.0,
        "chosen-model": "gpt-4",
        "rejected": [user, {"role": "assistant", "content": "Green."}],
        "rejected-rating": 2.25,
        "rejected-model": "alpaca-7b",
    }
    rec = convert_one(row)
    assert rec["messages"] == [user]
    assert rec["chosen"] == [{"role": "assistant", "content": "Red, yellow and blue."}]
    assert rec["meta"] == {
        "score_chosen": 5.0,
        "score_rejected": 2.25,
        "chosen_model": "gpt-4",
        "rejected_model": "alpaca-7b",
    }
    assert formats.from_columns(row.keys()) is CONVERTER


def test_replies_only_sides_take_the_prompt_column() -> None:
    row = {
        "prompt": "Say hi.",
        "chosen": [{"role": "assistant", "content": "Hi!"}],
        "rejected": [{"role": "assistant", "content": "No."}],
        "score_chosen": 9,
        "score_rejected": 1,
    }
    rec = convert_one(row)
    assert rec["messages"] == [{"role": "user", "content": "Say hi."}]
    assert rec["rejected"] == [{"role": "assistant", "content": "No."}]


def completion(response: str, model: str, fine: float, overall: float) -> dict[str, Any]:
    rating = {"Rating": str(round(fine)), "Rationale": "..."}
    return {
        "annotations": {
            a: rating for a in ("helpfulness", "honesty", "instruction_following", "truthfulness")
        },
        "critique": "...",
        "custom_system_prompt": "You are a helpful assistant.",
        "fine-grained_score": fine,
        "model": model,
        "overall_score": overall,
        "principle": "helpfulness",
        "response": response,
    }


def raw_row(instruction: str) -> dict[str, Any]:
    return {
        "source": "evol_instruct",
        "instruction": instruction,
        "models": ["gpt-4", "alpaca-7b", "llama-2-7b-chat", "falcon-40b-instruct"],
        "completions": [
            completion("B answer", "alpaca-7b", 2.5, 9.0),
            completion("A answer", "gpt-4", 4.75, 8.0),
            completion("C answer", "llama-2-7b-chat", 3.0, 5.0),
            completion("D answer", "falcon-40b-instruct", 1.25, 3.0),
        ],
        "correct_answers": ["None"],
        "incorrect_answers": ["None"],
    }


def test_raw_best_vs_seeded_lower() -> None:
    rec = convert_one(raw_row("Explain photosynthesis to a child."))
    assert rec["kind"] == "preference"
    assert rec["messages"] == [{"role": "user", "content": "Explain photosynthesis to a child."}]
    assert rec["chosen"] == [{"role": "assistant", "content": "A answer"}]
    assert rec["rejected"][0]["content"] in {"B answer", "C answer", "D answer"}
    assert rec["meta"]["score_chosen"] == 4.75 and rec["meta"]["chosen_model"] == "gpt-4"
    assert rec["meta"]["score_rejected"] < 4.75
    assert structure_problem(rec) is None
    by_overall = convert_one(raw_row("Explain photosynthesis to a child."), score="overall_score")
    assert by_overall["chosen"] == [{"role": "assistant", "content": "B answer"}]
    assert by_overall["meta"]["score_chosen"] == 9.0


def test_raw_rejected_choice_is_seeded_per_record() -> None:
    rows = [raw_row(f"Question number {i}?") for i in range(60)]
    picks = [r["rejected"][0]["content"] for r in convert_all(rows)]
    assert set(picks) == {"B answer", "C answer", "D answer"}
    # Independent of batching: one row at a time gives the same picks.
    assert [convert_one(r)["rejected"][0]["content"] for r in rows] == picks
    other_seed = [convert_one(r, seed=7)["rejected"][0]["content"] for r in rows]
    assert other_seed != picks


def test_raw_ties_and_kinds() -> None:
    row = raw_row("Is water wet?")
    for c in row["completions"]:
        c["fine-grained_score"] = 4.0
    out = convert_one(row)
    assert isinstance(out, Skip) and out.reason == "no_pair"
    sft = convert_one(row, "sft")
    assert sft["messages"][-1] == {"role": "assistant", "content": "B answer"}
    assert convert_one(row, "prompt")["messages"] == [{"role": "user", "content": "Is water wet?"}]
    empty = convert_one({**row, "completions": []})
    assert isinstance(empty, Skip) and empty.reason == "no_pair"


H4 = {
    "prompt": "Hi",
    "chosen": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
    "rejected": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Go"}],
    "score_chosen": 7.0,
    "score_rejected": 3.0,
}


@pytest.mark.parametrize(
    ("row", "why"),
    [
        (
            {**H4, "rejected": [{"role": "user", "content": "Hey"}, H4["rejected"][1]]},
            "different prompts",
        ),
        ({**H4, "chosen": "Hello"}, "expected a list"),
        ({**H4, "chosen": [{"role": "robot", "content": "Hi"}, H4["chosen"][1]]}, "unknown role"),
        ({**H4, "rejected": None}, "missing field 'rejected'"),
        (
            {**H4, "prompt": None, "chosen": H4["chosen"][1:], "rejected": H4["rejected"][1:]},
            "missing field 'prompt'",
        ),
        ({**raw_row("Q?"), "completions": "A"}, "must be a list"),
        (
            {**raw_row("Q?"), "completions": [{"response": "A", "fine-grained_score": "high"}]},
            "expected a number",
        ),
        ({**raw_row("Q?"), "completions": [{"response": "A"}]}, "fine-grained_score"),
        ("Hi", "expected an object"),
    ],
)
def test_malformed_rows_are_invalid(row: Any, why: str) -> None:
    out = convert_one(row)
    assert isinstance(out, InvalidRow)
    assert why in str(out)


def test_inferred_from_columns_and_hub_id(demo: list[dict[str, Any]]) -> None:
    assert formats.from_columns(as_h4(demo[0]).keys()) is CONVERTER
    assert formats.from_columns(raw_row("Q?").keys()) is CONVERTER
    assert formats.from_columns({"instruction", "completions"}) is CONVERTER
    for hub_id in (
        "HuggingFaceH4/ultrafeedback_binarized",
        "argilla/ultrafeedback-binarized-preferences-cleaned",
        "openbmb/UltraFeedback",
    ):
        assert formats.from_hub_id(hub_id) is CONVERTER
    assert CONVERTER.options is Options
