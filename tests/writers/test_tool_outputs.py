"""Tool use through the output schemas and file formats: carried faithfully, or refused by name.

Real rows: LLaMA-Factory's glaive tool-call demo (153 of 300 conversations call
a tool). Built rows cover the same cases without the shared corpus.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset, load_from_disk
from trl.trainer.utils import remove_none_values

from postmix.formats.base import ConvertContext
from postmix.formats.messages import CONVERTER as MESSAGES
from postmix.formats.sharegpt import CONVERTER as SHAREGPT
from postmix.sources import local
from postmix.sources.shards import Shard
from postmix.writers import files
from postmix.writers.schemas import SCHEMAS, schema_can_hold
from tests.conftest import shared_file

GLAIVE = "hiyouga__LLaMA-Factory/glaive_toolcall_en_demo.json"
TOOL = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
OTHER_TOOL = {
    "type": "function",
    "function": {
        "name": "convert",
        "parameters": {
            "type": "object",
            "properties": {"amount": {"type": "number", "default": 1}},
            "required": ["amount"],
        },
    },
}


def built(kind: str = "sft") -> list[dict[str, Any]]:
    """A tool conversation, a plain one, and one whose tools differ in every key."""
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "weather", "arguments": {"city": "Oslo"}},
    }
    tool_chat = [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": '{"temp": 3}', "tool_call_id": "c1"},
        {"role": "assistant", "content": "3 degrees."},
    ]
    plain = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    other_call = {
        "type": "function",
        "function": {"name": "convert", "arguments": {"amount": 2.5, "to": "EUR"}},
    }
    other = [
        {"role": "user", "content": "2.5 USD in EUR?"},
        {"role": "assistant", "content": "", "tool_calls": [other_call]},
        {"role": "tool", "content": "2.3"},
        {"role": "assistant", "content": "2.3 EUR."},
    ]
    recs = []
    for i, (msgs, tools) in enumerate(
        [(tool_chat, [TOOL]), (plain, None), (other, [OTHER_TOOL, TOOL])]
    ):
        rec = {
            "id": f"r{i}",
            "source": "built",
            "kind": kind,
            "messages": msgs,
            "chosen": None,
            "rejected": None,
            "text": None,
            "meta": {},
        }
        if tools:
            rec["tools"] = tools
        recs.append(rec)
    return recs  # fmt: skip


@pytest.fixture(scope="module")
def glaive(shared_data: Path) -> list[dict[str, Any]]:
    rows = orjson.loads(shared_file(shared_data, GLAIVE).read_bytes())
    ctx = ConvertContext(kind="sft")
    recs = [out for _, out in SHAREGPT.stream(enumerate(rows), ctx)]
    for i, rec in enumerate(recs):
        rec.update(id=f"g{i}", source="glaive")
    return recs


def has_tool_turns(rec: dict[str, Any]) -> bool:
    return any(m["role"] == "tool" or m.get("tool_calls") for m in rec["messages"])


def from_single_turn(schema: str, row: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation an alpaca / prompt_response row describes, as LLaMA-Factory reads it."""
    prompt, reply = ("instruction", "output") if schema == "alpaca" else ("prompt", "response")
    msgs = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    for user, assistant in [*row.get("history", []), [row[prompt], row[reply]]]:
        msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return msgs


@pytest.mark.parametrize("schema", ["alpaca", "prompt_response"])
def test_single_turn_schemas_refuse_tool_turns_real(
    glaive: list[dict[str, Any]], schema: str
) -> None:
    """Every glaive conversation either survives the schema exactly or is refused by name."""
    refused = [r for r in glaive if schema_can_hold(schema, r) is not None]
    assert {schema_can_hold(schema, r) for r in refused} == {"tool_turns_unsupported"}
    assert len(refused) == sum(map(has_tool_turns, glaive)) == 153
    for rec in glaive:
        if rec not in refused:
            assert from_single_turn(schema, SCHEMAS[schema](rec)) == rec["messages"]


@pytest.mark.parametrize("schema", ["alpaca", "prompt_response"])
def test_single_turn_schemas_refuse_tool_turns_built(schema: str) -> None:
    recs = built()
    assert [schema_can_hold(schema, r) for r in recs] == [
        "tool_turns_unsupported",
        None,
        "tool_turns_unsupported",
    ]
    assert from_single_turn(schema, SCHEMAS[schema](recs[1])) == recs[1]["messages"]


def test_schemas_that_hold_tool_turns_accept_them() -> None:
    for schema in ("messages", "conversations", "sharegpt"):
        assert all(schema_can_hold(schema, r) is None for r in built())


def test_sharegpt_refuses_what_its_turns_cannot_hold() -> None:
    """A function_call turn has no text beside the call; a pair side is one turn."""
    talk_and_call = built()[0]
    call_turn = talk_and_call["messages"][2]
    talk_and_call["messages"][2] = {**call_turn, "content": "Let me check."}
    assert schema_can_hold("sharegpt", talk_and_call) == "tool_call_text_unsupported"
    assert schema_can_hold("messages", talk_and_call) is None
    pair = {**built("preference")[1], "messages": [{"role": "user", "content": "Hi"}]}
    pair["chosen"] = [{"role": "assistant", "content": "Hello"}]
    pair["rejected"] = [
        call_turn,
        {"role": "tool", "content": "3"},
        {"role": "assistant", "content": "3"},
    ]
    assert schema_can_hold("sharegpt", pair) == "multi_turn_side_unsupported"
    assert schema_can_hold("sharegpt", {**pair, "rejected": pair["chosen"]}) is None


def test_sharegpt_round_trip(glaive: list[dict[str, Any]]) -> None:
    """sharegpt output read back by the sharegpt converter is the same record (tools as JSON text,
    as LLaMA-Factory's `tools` column holds them)."""
    recs = glaive + built()
    rows = [SCHEMAS["sharegpt"](r) for r in recs]
    assert all(isinstance(row["tools"], str) for row in rows if "tools" in row)
    back = [out for _, out in SHAREGPT.stream(enumerate(rows), ConvertContext(kind="sft"))]
    strip_ids = [
        [{k: v for k, v in m.items() if k not in ("tool_call_id",)} for m in r["messages"]]
        for r in recs
    ]
    for rec, msgs, got in zip(recs, strip_ids, back):
        calls = [
            [{k: v for k, v in c.items() if k != "id"} for c in m.get("tool_calls", [])]
            for m in msgs
        ]
        assert [c for m in got["messages"] for c in m.get("tool_calls", [])] == [
            c for cs in calls for c in cs
        ]
        assert [m["content"] for m in got["messages"]] == [m["content"] for m in msgs]
        assert got.get("tools") == rec.get("tools")


def parquet_round_trip(
    recs: list[dict[str, Any]], tmp_path: Path
) -> tuple[Path, list[dict[str, Any]]]:
    rows = [SCHEMAS["messages"](r) for r in recs]
    lines = [orjson.dumps(row) + b"\n" for row in rows]

    def chunks() -> list[list[bytes]]:
        return [lines[:2], lines[2:]]

    path = tmp_path / "train.parquet"
    files.write_parquet(path, chunks, files.arrow_schema(chunks))
    return path, rows


def test_parquet_holds_tools_and_calls_as_objects_built(tmp_path: Path) -> None:
    path, rows = parquet_round_trip(built(), tmp_path)
    schema = pq.read_schema(path)
    assert schema.field("tools").type == pa.list_(pa.json_())
    call_type = schema.field("messages").type.value_type.field("tool_calls").type
    assert call_type == pa.list_(pa.json_())
    ds = load_dataset("parquet", data_files=str(path), split="train")
    assert [r["tools"] for r in ds] == [row.get("tools") for row in rows]
    assert [remove_none_values(r["messages"]) for r in ds] == [row["messages"] for row in rows]


def test_disk_from_jsonl_keeps_tools(tmp_path: Path) -> None:
    rows = [SCHEMAS["messages"](r) for r in built()]
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    files.write_disk(tmp_path / "disk", {"train": path})
    disk = load_from_disk(str(tmp_path / "disk"))["train"]
    assert [r["tools"] for r in disk] == [row.get("tools") for row in rows]
    assert [remove_none_values(r["messages"]) for r in disk] == [row["messages"] for row in rows]


def test_parquet_output_reads_back_as_the_same_records(tmp_path: Path) -> None:
    """postmix reading its own Parquet (JSON values arrive as text) gives the records again."""
    recs = built()
    path, _ = parquet_round_trip(recs, tmp_path)
    rows = local.read(Shard(str(path), "parquet"))
    back = [out for _, out in MESSAGES.stream(rows, ConvertContext(kind="sft"))]
    assert [(r["messages"], r.get("tools")) for r in back] == [
        (r["messages"], r.get("tools")) for r in recs
    ]


def test_parquet_and_disk_round_trip_real(glaive: list[dict[str, Any]], tmp_path: Path) -> None:
    path, rows = parquet_round_trip(glaive, tmp_path)
    ds = load_dataset("parquet", data_files=str(path), split="train")
    assert [r["tools"] for r in ds] == [row.get("tools") for row in rows]
    assert [remove_none_values(r["messages"]) for r in ds] == [row["messages"] for row in rows]
    counts = files.write_disk(tmp_path / "disk", {"train": path})
    assert counts == {"train": len(rows)}
    disk = load_from_disk(str(tmp_path / "disk"))["train"]
    assert [r["tools"] for r in disk] == [row.get("tools") for row in rows]
