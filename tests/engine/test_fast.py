"""The fast lane (engine/fast.py, formats/fast.py) gives exactly the general path's bytes.

Every accelerated converter is compared with its format's converter on rows
built here (unicode, empty and missing fields, wrong types, inline reasoning,
extra keys) and on the real files in ../shared/data; the fused chain is
compared with the chain's steps on random records; `prepare` with the lane on
and off is compared in test_fast_prepare.py.
"""

from __future__ import annotations

import gc
import io
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from postmix import formats
from postmix.collect import GC_YOUNG
from postmix.dedup.keys import exact_key
from postmix.engine import chain as chains
from postmix.engine import fast
from postmix.engine.contracts import SourcePlan
from postmix.engine.ledger import Ledger
from postmix.formats.base import ConvertContext
from postmix.formats.fast import FAST, as_record
from postmix.report.stats import ReasoningTally
from postmix.schema import InvalidRow, Skip, message, record, text_length
from postmix.writers.schemas import SCHEMAS
from tests.conftest import shared_file

LENGTH = {"type": "length", "min_length": 12, "max_length": 400}
BAD_LINE = b'{"instruction": "cut off'

ROWS: dict[str, list[Any]] = {
    "alpaca": [
        {"instruction": "Name a colour.", "input": "", "output": "Blue."},
        {"instruction": "  Übersetze: 猫  ", "input": " ein Tier ", "output": "Katze 🐈"},
        {"instruction": "Only two keys", "output": "fine"},
        {"instruction": "", "input": "", "output": "empty instruction"},
        {"instruction": "Empty reply", "input": "", "output": ""},
        {"instruction": "Spaces", "input": None, "output": "   "},
        {"instruction": "Think", "input": "", "output": "<think>hm</think>Yes."},
        {"instruction": "Open think", "input": "", "output": "  <think>never closed"},
        {"instruction": "Category", "output": "x", "category": "qa"},
        {"instruction": "Response key", "response": "GPTeacher style"},
        {"instruction": 3, "input": "", "output": "number instruction"},
        {"instruction": "Number input", "input": 4, "output": "x"},
        {"instruction": "No output", "input": ""},
        {"prompt": "Prompt key", "output": "x"},
        ["not", "a", "dict"],
    ],
    "dolly": [
        {"instruction": "Who?", "context": "", "response": "Me.", "category": "open_qa"},
        {"instruction": "Sum up", "context": "Long text é", "response": "Short", "category": "s"},
        {"instruction": "No category", "context": None, "response": "ok"},
        {"instruction": "Int category", "context": "", "response": "ok", "category": 7},
        {"instruction": "Missing response", "context": ""},
        {"instruction": "Int response", "response": 5},
        {"instruction": "Extra", "context": "", "response": "x", "category": "a", "more": 1},
    ],
    "sharegpt": [
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]},
        {
            "conversations": [
                {"from": "system", "value": "Be brief."},
                {"from": "human", "value": "日本の首都は？"},
                {"from": "gpt", "value": "東京です。"},
                {"from": "human", "value": "And France?"},
                {"from": "gpt", "value": "Paris."},
            ]
        },
        {"conversations": [{"from": "gpt", "value": "starts with gpt"}]},
        {"conversations": [{"from": "human", "value": "a"}, {"from": "human", "value": "b"}]},
        {"conversations": [{"from": "human", "value": ""}, {"from": "gpt", "value": "x"}]},
        {"conversations": [{"from": "Human", "value": "caps"}, {"from": "GPT", "value": "y"}]},
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": None}]},
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "<think>"}]},
        {"conversations": [{"from": "human", "value": "q"}, {"from": "bot", "value": "x"}]},
        {
            "conversations": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "."},
            ]
        },
        {"conversations": [{"from": ["x"], "value": "unhashable speaker"}]},
        {"conversations": []},
        {"conversations": "not a list"},
        {"conversations": [{"from": "human", "value": "q"}], "system": "sys"},
        {"items": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
    ],
    "hh_rlhf": [
        {"chosen": "\n\nHuman: Hi there\n\nAssistant: Hello!", "rejected": "\n\nHuman: Hi"},
        {
            "chosen": "Human: Ça va ?\n\nAssistant: Oui.\n\nHuman: Et toi?\n\nAssistant: ",
            "rejected": "x",
        },
        {"chosen": "preamble\n\nHuman: q\n\nAssistant: a", "rejected": "x"},
        {"chosen": "no turns at all", "rejected": "x"},
        {"chosen": "\n\nHuman: q\n\nAssistant: a", "rejected": None},
        {"chosen": 5, "rejected": "x"},
        {"chosen": "\n\nHuman: q\n\nAssistant: a"},
    ],
    "openorca": [
        {"id": "flan.123", "system_prompt": "", "question": "Q?", "response": "A."},
        {"id": "cot.9", "system_prompt": "You are helpful.", "question": "Q", "response": "A"},
        {"system_prompt": "   ", "question": "No id", "response": "A"},
        {"id": "noprefix", "system_prompt": None, "question": "Q", "response": "A"},
        {"id": 5, "system_prompt": "", "question": "Q", "response": "A"},
        {"id": "x.1", "system_prompt": "", "question": None, "response": "A"},
        {"conversations": [{"from": "human", "value": "SlimOrca"}, {"from": "gpt", "value": "a"}]},
    ],
}

REAL = {
    "alpaca": [
        "hiyouga__LLaMA-Factory/alpaca_en_demo.json",
        "sahil280114__codealpaca/code_alpaca_2k.json",
        "teknium1__GPTeacher/codegen-instruct.json",
        "gururise__AlpacaDataCleaned/gsm_8k_train.json",
    ],
    "dolly": ["yogarajjsoshua__FlaskApplication/databricks-dolly-15k.head19.jsonl"],
    "sharegpt": [
        "hiyouga__LLaMA-Factory/glaive_toolcall_en_demo.json",
        "hiyouga__LLaMA-Factory/kto_en_demo.json",
        "axolotl-ai-cloud__axolotl/conversation.json",
    ],
}


def converted(name: str, row: Any) -> bytes:
    """What the format's own converter makes of a row (its error, when it refuses it)."""
    try:
        return orjson.dumps(formats.get(name).convert(row, ConvertContext(kind="sft")))
    except (InvalidRow, KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        return f"refused: {exc}".encode()


def check_rows(name: str, rows: list[Any]) -> tuple[int, int]:
    """(rows the fast function converted, rows it left to the converter); every fast
    result must equal the converter's, key order included."""
    took = left = 0
    for row in rows:
        out = FAST[name](row)
        if out is None:
            left += 1
            continue
        took += 1
        assert orjson.dumps([as_record(out)]) == converted(name, row), row
    return took, left


@pytest.mark.parametrize("name", sorted(FAST))
def test_fast_converters_equal_the_converters(name: str) -> None:
    took, left = check_rows(name, ROWS[name])
    assert took >= 2 and left >= 3  # both sides exercised


def read_rows(path: Path) -> list[Any]:
    if path.suffix == ".jsonl":
        return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    doc = orjson.loads(path.read_bytes())
    return doc if isinstance(doc, list) else [doc]


@pytest.mark.parametrize("name", sorted(REAL))
def test_fast_converters_on_real_rows(name: str, shared_data: Path) -> None:
    rows = [row for rel in REAL[name] for row in read_rows(shared_file(shared_data, rel))]
    took, _ = check_rows(name, rows)
    assert took > 0


def random_record(rng: random.Random) -> dict[str, Any]:
    """A record as any converter may hand the chain: plain turns mostly, sometimes not."""
    texts = ["", "  ", "hi", "Ünïcödé text ✓", "a longer reply " * 5, "\n\n"]
    texts += ["a" * 10, "y" * 98, "z" * 99, "x" * 300]  # at the length bounds, with "hi"
    roles = ["user", "assistant", "system", "tool"]
    msgs = [
        message(rng.choice(roles), rng.choice(texts))
        for _ in range(rng.choice([0, 1, 2, 2, 2, 3, 4, 5]))
    ]
    if msgs and rng.random() < 0.1:
        msgs[-1]["reasoning_content"] = rng.choice(["", "thinking"])
    if msgs and rng.random() < 0.05:
        msgs[0]["tool_calls"] = [{"type": "function", "function": {"name": "f", "arguments": {}}}]
    meta = {"answer": "42"} if rng.random() < 0.05 else {"category": "c"}
    tools = [{"type": "function", "function": {"name": "f"}}] if rng.random() < 0.05 else None
    rec = record("sft", msgs, meta=meta, tools=tools)
    rec["source"] = "src"
    return rec


def plan_of(schema: str, key: str | None, filters: list[Any]) -> SourcePlan:
    return SourcePlan(
        index=0,
        name="src",
        converter="alpaca",
        kind="sft",
        options={},
        filters=filters,
        transforms=[],
        dedup_key=key,
        schema=schema,
        seed=1,
        tokenizer=None,
        count_tokens=False,
    )


def general(plan: SourcePlan, batch: list[dict[str, Any]], ledger: Ledger) -> tuple[list[Any], ...]:
    """The general path of shard work on one batch (what `shard.run`'s flush does)."""
    chain = chains.build(plan)
    where = [(0, i) for i in range(len(batch))]
    kept, where, _ = chains.run_chain(chain.steps, batch, where, ledger)
    ledger.spilled(len(kept), [r["meta"] for r in kept])
    to_row = SCHEMAS[plan.schema]
    lines = [orjson.dumps(to_row(r), option=orjson.OPT_APPEND_NEWLINE) for r in kept]
    keys = [exact_key(r, plan.dedup_key) if plan.dedup_key else 0 for r in kept]
    reasoning = ReasoningTally()
    for rec in kept:
        reasoning.add(rec)
    return lines, keys, [w[1] for w in where], [*map(text_length, kept)], reasoning


@pytest.mark.parametrize(
    ("schema", "key", "filters"),
    [
        ("messages", "auto", [LENGTH]),
        ("messages", "conversation", [{"type": "structure"}, {**LENGTH, "name": "len"}]),
        ("sharegpt", "prompt", [LENGTH, {"type": "structure", "name": "shape"}]),
        ("alpaca", None, []),
    ],
)
def test_lane_decides_like_the_chain(
    schema: str, key: str | None, filters: list[Any], tmp_path: Path
) -> None:
    plan = plan_of(schema, key, filters)
    chain = chains.build(plan)
    lane = fast.lane(plan, chain)
    assert lane is not None
    rng = random.Random(0)
    records = [random_record(rng) for _ in range(3000)]
    slow_removed, fast_removed = io.BytesIO(), io.BytesIO()
    slow_ledger = Ledger("src", ["f"], ["jsonl"], slow_removed)
    fast_ledger = Ledger("src", ["f"], ["jsonl"], fast_removed)
    copies = [orjson.loads(orjson.dumps(r)) for r in records]
    want = general(plan, copies, slow_ledger)
    spill = io.BytesIO()
    cols: dict[str, list[Any]] = {k: [] for k in ("keys", "row", "shard", "length", "mention")}
    cols.update(cost=[], chars=[])
    reasoning = ReasoningTally()
    lane.flush(records, [(0, i) for i in range(len(records))], fast_ledger, spill, cols, reasoning)
    lines, keys, rows, chars, expected = want
    assert spill.getvalue() == b"".join(lines)
    assert [r["id"] for r in records] == [r["id"] for r in copies]  # kept and dropped alike
    assert cols["keys"] == keys and cols["row"] == rows
    assert cols["chars"] == chars and cols["length"] == [*map(len, lines)]
    assert fast_removed.getvalue() == slow_removed.getvalue()
    assert fast_ledger.examples == slow_ledger.examples
    assert fast_ledger.tally == slow_ledger.tally
    assert reasoning == expected
    assert 0 < len(lines) < len(records)  # some kept, some dropped


@pytest.mark.parametrize(
    "change",
    [
        {"transforms": [{"type": "system_prompt", "policy": "drop"}]},
        {"filters": [{"type": "turns", "min_turns": 1}]},
        {"filters": [{"type": "length", "max_length": 10, "unit": "chars", "field": "prompt"}]},
        {"kind": "preference", "converter": "hh_rlhf"},
        {"count_tokens": True},
    ],
)
def test_lane_only_for_chains_it_can_fuse(change: dict[str, Any]) -> None:
    plan = SourcePlan(**{**plan_of("messages", "auto", [LENGTH]).__dict__, **change})
    assert fast.lane(plan, chains.build(plan)) is None


@pytest.mark.parametrize("name", sorted(FAST))
def test_lane_converts_with_the_fast_function(name: str) -> None:
    plan = SourcePlan(**{**plan_of("messages", "auto", [LENGTH]).__dict__, "converter": name})
    lane = fast.lane(plan, chains.build(plan))
    assert lane is not None and lane.fast is FAST[name]


def test_stream_collects_young_objects_rarely_and_restores_the_setting() -> None:
    plan_ = SourcePlan(**{**plan_of("messages", "auto", [LENGTH]).__dict__, "converter": "dolly"})
    lane = fast.lane(plan_, chains.build(plan_))
    assert lane is not None
    before = gc.get_threshold()
    seen = []
    for pos, rec in lane.stream(enumerate(ROWS["dolly"])):
        seen.append(gc.get_threshold()[0])
        assert isinstance(rec, (dict, InvalidRow, Skip)), pos
    assert seen and min(seen) >= GC_YOUNG
    assert gc.get_threshold() == before


def test_switch_turns_the_lane_off(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = plan_of("messages", "auto", [LENGTH])
    assert fast.lane(plan, chains.build(plan)) is not None
    monkeypatch.setenv(fast.SWITCH, "0")
    assert fast.lane(plan, chains.build(plan)) is None
