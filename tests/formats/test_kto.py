"""Unpaired preference (KTO): labels are carried, and an undesirable completion never trains SFT.

Real rows: LLaMA-Factory's `kto_en_demo.json` (`messages` + `label`, 150 true /
150 false). Built rows: ShareGPT with `kto_tag`, TRL's unpaired layout
(`prompt`, `completion`, `label`, conversational and plain).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from trl.data_utils import is_conversational

from postmix import formats
from postmix.formats.base import ConvertContext
from postmix.schema import KINDS, InvalidRow, Skip, record_id, structure_problem
from postmix.writers.schemas import messages_schema, sharegpt_schema
from tests.conftest import shared_file

KTO_DEMO = "hiyouga__LLaMA-Factory/kto_en_demo.json"


@pytest.fixture(scope="module")
def demo(shared_data: Path) -> list[dict[str, Any]]:
    return orjson.loads(shared_file(shared_data, KTO_DEMO).read_bytes())


def convert_all(converter: str, rows: list[Any], kind: str) -> list[Any]:
    conv = formats.get(converter)
    ctx = ConvertContext(kind=kind, options=conv.options())
    return [out for _, out in conv.stream(enumerate(rows), ctx)]


def records(outs: list[Any]) -> list[dict[str, Any]]:
    return [o for o in outs if isinstance(o, dict)]


def test_kto_demo_as_sft_never_trains_an_undesirable_answer(demo: list[dict[str, Any]]) -> None:
    conv = formats.from_columns(demo[0].keys())
    assert conv is not None
    outs = convert_all(conv.name, demo, "sft")
    recs = records(outs)
    undesirable = {orjson.dumps(row["messages"][-1]["content"]) for row in demo if not row["label"]}
    trained = {orjson.dumps(m["content"]) for r in recs for m in r["messages"][-1:]}
    assert not trained & undesirable
    assert len(recs) == 150 and all(r["meta"]["label"] is True for r in recs)
    assert Counter(o.reason for o in outs if isinstance(o, Skip)) == {"undesirable_completion": 150}


def test_kto_demo_as_kto_records(demo: list[dict[str, Any]]) -> None:
    assert "kto" in KINDS
    recs = convert_all("messages", demo, "kto")
    assert len(recs) == 300 and all(isinstance(r, dict) for r in recs)
    assert all(r["kind"] == "kto" and structure_problem(r) is None for r in recs)
    assert Counter(r["label"] for r in recs) == {True: 150, False: 150}
    for row, rec in zip(demo, recs):
        assert rec["messages"] == row["messages"][:-1]
        assert rec["completion"] == row["messages"][-1:]
        assert rec["messages"][-1]["role"] == "user"
    # The label is part of the record: the same conversation with the other label is another record.
    flipped = convert_all("messages", [{**demo[0], "label": not demo[0]["label"]}], "kto")[0]
    assert record_id(flipped) != record_id(recs[0])


def test_kto_output_is_what_trl_kto_trainer_reads(demo: list[dict[str, Any]]) -> None:
    rec = {**convert_all("messages", demo[:1], "kto")[0], "id": "x", "source": "kto_demo"}
    row = messages_schema(rec)
    assert {k: row[k] for k in ("prompt", "completion", "label")} == {
        "prompt": demo[0]["messages"][:-1],
        "completion": demo[0]["messages"][-1:],
        "label": demo[0]["label"],
    }
    assert is_conversational(row)
    # LLaMA-Factory's sharegpt KTO layout: the whole conversation and a `kto_tag`.
    lf = sharegpt_schema(rec)
    assert lf["kto_tag"] is demo[0]["label"]
    assert [t["value"] for t in lf["conversations"]] == [m["content"] for m in demo[0]["messages"]]
    back = convert_all("sharegpt", [lf], "kto")[0]
    assert (back["messages"], back["completion"], back["label"]) == (
        rec["messages"],
        rec["completion"],
        rec["label"],
    )


CHAT = [
    {"role": "user", "content": "Capital of France?"},
    {"role": "assistant", "content": "Berlin."},
]


@pytest.mark.parametrize(
    ("converter", "row"),
    [
        ("sharegpt", {"conversations": [{"from": "human", "value": "Capital of France?"},
                                        {"from": "gpt", "value": "Berlin."}], "kto_tag": False}),
        ("messages", {"messages": CHAT, "kto_tag": False}),
        ("messages", {"messages": CHAT, "label": False}),
        ("prompt_completion", {"prompt": CHAT[:1], "completion": CHAT[1:], "label": False}),
        ("prompt_completion", {"prompt": "Capital of France?", "completion": "Berlin.",
                               "label": False}),
    ],
)  # fmt: skip
def test_every_kto_layout(converter: str, row: dict[str, Any]) -> None:
    (rec,) = convert_all(converter, [row], "kto")
    assert rec["kind"] == "kto" and structure_problem(rec) is None
    assert (rec["messages"], rec["completion"], rec["label"]) == (CHAT[:1], CHAT[1:], False)
    (sft,) = convert_all(converter, [row], "sft")
    assert isinstance(sft, Skip) and sft.reason == "undesirable_completion"
    good = {**row, ("kto_tag" if "kto_tag" in row else "label"): True}
    (kept,) = convert_all(converter, [good], "sft")
    assert kept["messages"] == CHAT and kept["meta"]["label"] is True


@pytest.mark.parametrize("converter", ["sharegpt", "messages", "prompt_completion"])
def test_kto_layouts_convert_as_kto(converter: str) -> None:
    assert "kto" in formats.get(converter).kinds


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ({"messages": CHAT, "label": "yes"}, "'label' is str"),
        ({"messages": CHAT, "kto_tag": 1}, "'kto_tag' is int"),
        ({"messages": CHAT}, "needs a label"),
        ({"messages": CHAT[:1], "label": True}, "no assistant completion"),
    ],
)
def test_bad_labels_are_quarantined(row: dict[str, Any], why: str) -> None:
    (out,) = convert_all("messages", [row], "kto")
    assert isinstance(out, InvalidRow) and why in str(out)


def test_structure_of_kto_records() -> None:
    (rec,) = convert_all("messages", [{"messages": CHAT, "label": True}], "kto")
    assert structure_problem({**rec, "completion": []}) == "empty_completion"
    assert structure_problem({**rec, "label": None}) == "no_label"
    assert structure_problem({**rec, "messages": CHAT}) == "prompt_ends_with_reply"
    user = [{"role": "user", "content": "x"}]
    assert structure_problem({**rec, "completion": user}) == "completion_not_assistant"


@pytest.mark.parametrize(
    ("schema", "ok"), [("messages", True), ("sharegpt", True), ("alpaca", False)]
)
def test_recipes_ask_for_kto(schema: str, ok: bool) -> None:
    from postmix.recipe import RecipeError, parse

    text = (
        "metadata: {kind: kto}\n"
        "datasets: [{name: a, source: a.json, format_converter: messages}]\n"
        f"output: {{dir: out, schema: {schema}}}\n"
    )
    if ok:
        assert parse(text).metadata.kind == "kto"
    else:
        with pytest.raises(RecipeError, match="cannot hold kind 'kto'"):
            parse(text)
