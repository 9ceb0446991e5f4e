"""Rows of every output schema read back as the same turns; the bounded, strided sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from postmix.report import rows, stats
from postmix.schema import message, record
from postmix.writers.schemas import SCHEMAS

CALL = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}


def stamped(rec: dict[str, Any]) -> dict[str, Any]:
    rec.update(id="00000000-0000-5000-8000-000000000000", source="src")
    return rec


def chat() -> dict[str, Any]:
    return stamped(
        record(
            "sft",
            [
                message("system", "Be brief."),
                message("user", "Hi?"),
                message("assistant", "Hello."),
                message("user", "Weather?"),
                message("assistant", "Sunny."),
            ],
        )
    )


def pair() -> dict[str, Any]:
    return stamped(
        record(
            "preference",
            [message("system", "Judge."), message("user", "Pick one.")],
            chosen=[message("assistant", "A longer, better answer.")],
            rejected=[message("assistant", "Short.")],
        )
    )


def roles(ts: list[rows.Turn]) -> list[tuple[str, str, str | None]]:
    return [(t.role, t.content, t.side) for t in ts]


@pytest.mark.parametrize("schema", list(SCHEMAS))
def test_every_sft_schema_reads_back_the_same_turns(schema: str) -> None:
    ts = rows.turns(SCHEMAS[schema](chat()))
    assert roles(ts) == [
        ("system", "Be brief.", None),
        ("user", "Hi?", None),
        ("assistant", "Hello.", None),
        ("user", "Weather?", None),
        ("assistant", "Sunny.", None),
    ]
    assert rows.chars(ts) == len("Be brief.Hi?Hello.Weather?Sunny.")
    assert rows.user_turns(ts) == 2
    assert rows.pair_chars(ts) is None


@pytest.mark.parametrize("schema", ["messages", "conversations", "sharegpt"])
def test_preference_schemas_read_back_the_pair(schema: str) -> None:
    ts = rows.turns(SCHEMAS[schema](pair()))
    assert roles(ts) == [
        ("system", "Judge.", None),
        ("user", "Pick one.", None),
        ("assistant", "A longer, better answer.", "chosen"),
        ("assistant", "Short.", "rejected"),
    ]
    assert rows.pair_chars(ts) == (len("A longer, better answer."), len("Short."))
    assert rows.chars(ts) == len("Judge.Pick one.")  # the prompt, as the pipeline counts


def test_canonical_records_and_tool_calls() -> None:
    rec = stamped(
        record(
            "sft",
            [
                message("user", "Weather in Paris?"),
                message("assistant", "", tool_calls=[CALL]),
                message("tool", '{"temp": 20}'),
                message("assistant", "20 degrees."),
            ],
        )
    )
    for row in (rec, SCHEMAS["messages"](rec), SCHEMAS["sharegpt"](rec)):
        ts = rows.turns(row)
        assert [t.role for t in ts] == ["user", "assistant", "tool", "assistant"]
        assert ts[1].tool_calls is not None and "get_weather" in ts[1].tool_calls
    as_parquet = SCHEMAS["messages"](rec)
    as_parquet["messages"][1] = {
        **as_parquet["messages"][1],
        "tool_calls": orjson.dumps([CALL]).decode(),
    }
    assert "Paris" in (rows.turns(as_parquet)[1].tool_calls or "")
    text = stamped(record("text", [], text="A plain document."))
    assert roles(rows.turns(text)) == [("text", "A plain document.", None)]
    assert rows.chars(rows.turns(SCHEMAS["messages"](text))) == len("A plain document.")


def test_tokenized_rows_count_trainable_tokens() -> None:
    row = {"input_ids": [5, 6, 7, 8, 9], "labels": [-100, -100, 7, 8, 9], "source": "s"}
    assert rows.token_counts(row) == (5, 3)
    assert rows.token_counts({"input_ids": [1, 2]}) == (2, 2)
    dist = stats.Distribution()
    dist.add(row)
    assert (dist.tokens, dist.trainable, dist.chars) == ([5], [3], [])


def write_outputs(out: Path, parquet: bool) -> dict[str, Any]:
    """Two splits of 7 and 5 rows, ids 0..11, sources alternating."""
    out.mkdir()
    outputs = []
    for split, ids in (("train", range(7)), ("validation", range(7, 12))):
        data = [
            {
                "messages": [{"role": "user", "content": "x" * i}],
                "id": str(i),
                "source": "ab"[i % 2],
            }
            for i in ids
        ]
        path = out / f"{split}.{'parquet' if parquet else 'jsonl'}"
        if parquet:
            pq.write_table(pa.Table.from_pylist(data), path, row_group_size=3)
        else:
            path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in data))
        outputs.append({"path": path.name, "split": split, "rows": len(data)})
    return {"outputs": outputs}


@pytest.mark.parametrize("parquet", [False, True])
def test_sample_strides_across_files(tmp_path: Path, parquet: bool) -> None:
    manifest = write_outputs(tmp_path / "out", parquet)
    sample = stats.sample(tmp_path / "out", manifest, limit=4, keep=1)
    assert sample.stride == 3
    assert sample.rows == 4  # rows 0, 3, 6, 9 of the 12
    assert {k: d.chars for k, d in sample.sources.items()} == {"a": [0, 6], "b": [3, 9]}
    assert [r["id"] for r in sample.first["a"]] == ["0"]
    everything = stats.sample(tmp_path / "out", manifest)
    assert everything.stride == 1 and everything.rows == 12
