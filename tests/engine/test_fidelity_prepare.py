"""`prepare` never bends what the output cannot hold: it drops it with a reason.

Tool conversations written as alpaca lost their calls and shifted history;
KTO rows of one prompt with different completions were collapsed by a
prompt-keyed dedup.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.conftest import shared_file
from tests.test_pipeline import assert_accounted, read_rows, run, write_jsonl


def tool_chat(i: int) -> dict:
    return {
        "conversations": [
            {"from": "human", "value": f"What is the weather in city {i}?"},
            {
                "from": "function_call",
                "value": orjson.dumps(
                    {"name": "get_weather", "arguments": {"city": f"c{i}"}}
                ).decode(),
            },
            {"from": "observation", "value": '{"temp": 20}'},
            {"from": "gpt", "value": f"It is 20 degrees in city {i}."},
        ],
        "tools": orjson.dumps(
            [
                {
                    "name": "get_weather",
                    "description": "weather",
                    "parameters": {"type": "object", "properties": {}},
                }
            ]
        ).decode(),
    }


def plain_chat(i: int) -> dict:
    return {
        "conversations": [
            {"from": "human", "value": f"Say hello number {i}"},
            {"from": "gpt", "value": f"Hello {i}!"},
        ]
    }


@pytest.mark.parametrize("schema", ["alpaca", "prompt_response"])
def test_tool_turns_are_dropped_not_flattened(tmp_path: Path, schema: str) -> None:
    write_jsonl(
        tmp_path / "t.jsonl", [tool_chat(i) for i in range(6)] + [plain_chat(i) for i in range(4)]
    )
    recipe = {
        "datasets": [
            {"name": "t", "source": str(tmp_path / "t.jsonl"), "format_converter": "sharegpt"}
        ],
        "output": {"schema": schema},
    }
    manifest, out = run(tmp_path, recipe, num_proc=1)
    assert_accounted(manifest)
    s = manifest["sources"]["t"]
    assert s["dropped"] == {"tool_turns_unsupported": 6} and s["kept"] == 4
    assert len(read_rows(out / "train.jsonl")) == 4


def test_glaive_tool_calls_never_reach_alpaca(tmp_path: Path, shared_data: Path) -> None:
    src = shared_file(shared_data, "hiyouga__LLaMA-Factory/glaive_toolcall_en_demo.json")
    recipe = {
        "datasets": [{"name": "glaive", "source": str(src), "format_converter": "sharegpt"}],
        "output": {"schema": "alpaca"},
    }
    manifest, out = run(tmp_path, recipe, num_proc=1)
    assert_accounted(manifest)
    s = manifest["sources"]["glaive"]
    assert s["dropped"]["tool_turns_unsupported"] > 0
    rows = read_rows(out / "train.jsonl")
    assert all(r["output"].strip() for r in rows)  # no emptied replies


def test_kto_rows_of_one_prompt_are_not_duplicates(tmp_path: Path, shared_data: Path) -> None:
    src = shared_file(shared_data, "hiyouga__LLaMA-Factory/kto_en_demo.json")
    recipe = {
        "metadata": {"kind": "kto"},
        "datasets": [{"name": "kto", "source": str(src), "format_converter": "messages"}],
    }
    manifest, out = run(tmp_path, recipe, num_proc=1)
    assert_accounted(manifest)
    assert manifest["sources"]["kto"]["duplicates"] == 0
    rows = read_rows(out / "train.jsonl")
    assert {type(r["label"]) for r in rows} == {bool} and len(rows) == 300


def test_kto_built_rows_keep_both_labels_of_a_prompt(tmp_path: Path) -> None:
    rows = [
        {
            "messages": [
                {"role": "user", "content": "Name a colour."},
                {"role": "assistant", "content": answer},
            ],
            "label": label,
        }
        for answer, label in (("Blue.", True), ("Seven.", False), ("Blue.", True))
    ]
    write_jsonl(tmp_path / "k.jsonl", rows)
    recipe = {
        "metadata": {"kind": "kto"},
        "datasets": [
            {"name": "k", "source": str(tmp_path / "k.jsonl"), "format_converter": "messages"}
        ],
    }
    manifest, _ = run(tmp_path, recipe, num_proc=1)
    s = manifest["sources"]["k"]
    assert (s["kept"], s["duplicates"]) == (2, 1)  # only the exact repeat goes


def test_a_normalizing_tokenizer_is_reported_not_fatal(tmp_path: Path) -> None:
    from tests.tokenize.test_lossy import train

    model = train(tmp_path / "defaults.model")  # SentencePiece defaults: nmt_nfkc, no fallback
    rows = [
        {
            "instruction": f"List two things, one per line ({i})",
            "input": "",
            "output": f"First thing\nSecond thing — café {i}",
        }
        for i in range(12)
    ]
    write_jsonl(tmp_path / "a.jsonl", rows)
    recipe = {
        "tokenizer": str(model),
        "template": "chatml",
        "datasets": [{"name": "a", "source": str(tmp_path / "a.jsonl")}],
        "output": {"schema": "tokenized", "file_format": "parquet"},
    }
    manifest, _ = run(tmp_path, recipe, num_proc=1)
    assert_accounted(manifest)
    trip = manifest["tokenizer"]["round_trip"]
    assert trip["records_changed"] == 12
    assert trip["by_category"]["newlines"] == 12
    assert manifest["sources"]["a"]["kept"] == 12
    from postmix.prepare import StrictError
    from postmix.tokenize import RoundTripError

    with pytest.raises((RoundTripError, StrictError)):
        run(tmp_path, recipe, name="strict", num_proc=1, strict=True)


def test_a_source_that_keeps_nothing_is_a_warning_and_strict_fails(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "good.jsonl", [plain_chat(i) for i in range(5)])
    write_jsonl(
        tmp_path / "bad.jsonl",
        [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": ""}]}] * 4,
    )
    recipe = {
        "datasets": [
            {"name": "good", "source": str(tmp_path / "good.jsonl")},
            {"name": "bad", "source": str(tmp_path / "bad.jsonl")},
        ]
    }
    manifest, _ = run(tmp_path, recipe, num_proc=1)
    assert len(manifest["warnings"]) == 1 and "'bad' kept 0 records of 4" in manifest["warnings"][0]
    from postmix.prepare import StrictError

    with pytest.raises(StrictError, match="bad"):
        run(tmp_path, recipe, name="strict", num_proc=1, strict=True)
