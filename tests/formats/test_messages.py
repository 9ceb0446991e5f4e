"""OpenAI-style `messages` converter on LLaMA-Factory's real KTO demo, plus tool/reasoning rows."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from postmix import formats
from postmix.formats.base import ConvertContext
from postmix.formats.messages import CONVERTER
from postmix.schema import Skip, prompt_text, structure_problem
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def kto(shared_data: Path) -> list[dict[str, Any]]:
    path = shared_file(shared_data, "hiyouga__LLaMA-Factory/kto_en_demo.json")
    return orjson.loads(path.read_bytes())


def convert_all(rows: list[Any], kind: str) -> list[Any]:
    return [out for _, out in CONVERTER.stream(enumerate(rows), ConvertContext(kind=kind))]


def test_kto_demo_to_sft(kto: list[dict[str, Any]]) -> None:
    """Desirable rows become SFT; undesirable ones are dropped (tests/formats/test_kto.py)."""
    outs = convert_all(kto, "sft")
    recs = [r for r in outs if isinstance(r, dict)]
    assert len(recs) == 150
    assert all(structure_problem(r) is None and r["meta"]["label"] for r in recs)
    assert Counter(len(r["messages"]) for r in recs) == Counter(
        len(row["messages"]) for row in kto if row["label"]
    )
    first = recs[0]["messages"]
    assert [m["role"] for m in first] == ["user", "assistant"]
    assert first[0]["content"].startswith("The Federal Trade Commission is going after spyware,")
    assert first[0]["content"].endswith("(D). Science/Tech\nI think the answer is")
    assert first[1]["content"].startswith("Ooh ooh ah ah! *giggle* Let me think...")
    assert first == [{"role": m["role"], "content": m["content"]} for m in kto[0]["messages"]]


def test_kto_demo_to_prompts(kto: list[dict[str, Any]]) -> None:
    recs = convert_all(kto, "prompt")
    assert all(r["kind"] == "prompt" and structure_problem(r) is None for r in recs)
    assert [len(r["messages"]) for r in recs] == [len(row["messages"]) - 1 for row in kto]
    # README ground truth: the demo repeats 3 prompts.
    assert len({prompt_text(r) for r in recs}) == 297


def test_tool_calls_reasoning_and_tools_survive() -> None:
    row = {
        "messages": [
            {"role": "developer", "content": "Use tools."},
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
            {
                "role": "assistant",
                "content": None,
                "reasoning": "I should call the weather tool.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "name": "weather", "content": "18C"},
            {"role": "assistant", "content": "It is 18C.", "thinking": "Report it."},
        ],
        "tools": '[{"type": "function", "function": {"name": "weather"}}]',
    }
    rec = convert_all([row], "sft")[0]
    assert structure_problem(rec) is None
    assert rec["messages"] == [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "reasoning_content": "I should call the weather tool.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": {"city": "Paris"}},
                }
            ],
        },
        {"role": "tool", "content": "18C", "tool_call_id": "call_1", "name": "weather"},
        {"role": "assistant", "content": "It is 18C.", "reasoning_content": "Report it."},
    ]
    assert rec["tools"] == [{"type": "function", "function": {"name": "weather"}}]
    prompt = convert_all([row], "prompt")[0]
    assert prompt["messages"] == rec["messages"][:-1]


def test_raw_ultrachat_and_conversation_key() -> None:
    raw = {"id": "7", "data": ["Hi!", "Hello, how can I help?", "Tell a joke.", "Knock knock."]}
    rec = convert_all([raw], "sft")[0]
    assert [(m["role"], m["content"]) for m in rec["messages"]] == [
        ("user", "Hi!"),
        ("assistant", "Hello, how can I help?"),
        ("user", "Tell a joke."),
        ("assistant", "Knock knock."),
    ]
    assert convert_all([raw], "prompt")[0]["messages"] == rec["messages"][:3]
    lmsys = {"conversation": [{"role": "user", "content": "Hi"}], "category": "chat"}
    assert convert_all([lmsys], "prompt")[0]["meta"] == {"category": "chat"}
    system = {"system": "Be kind.", "messages": [{"role": "user", "content": "Hi"}]}
    assert convert_all([system], "prompt")[0]["messages"][0] == {
        "role": "system",
        "content": "Be kind.",
    }


def test_malformed_rows_are_quarantined_and_images_skipped() -> None:
    image = {"type": "image_url", "image_url": {"url": "x"}}
    rows = [
        {"messages": [{"role": "narrator", "content": "Once"}]},
        {"messages": "user: hi"},
        {"messages": [{"role": "user", "content": 5}]},
        {"messages": [{"role": "assistant", "content": "", "tool_calls": [{"id": "c"}]}]},
        {"messages": [{"role": "assistant", "content": "x", "reasoning": ["a"]}]},
        {"id": "1", "data": "Hi"},
        {"id": "1", "data": ["Hi", 3]},
        {"label": True},
        {"messages": [{"role": "user", "content": [image]}]},
        {"messages": [{"role": "user", "content": "Hi"}], "label": "yes"},
        {"messages": [{"role": "user", "content": "Hi"}], "system": ["Be kind."]},
        {"messages": [{"role": "user", "content": "Hi"}], "category": 3},
    ]
    outs = convert_all(rows, "sft")
    assert [type(o).__name__ for o in outs] == ["InvalidRow"] * 8 + ["Skip"] + ["InvalidRow"] * 3
    assert isinstance(outs[8], Skip) and outs[8].reason == "non_text_content"
    # A field of the wrong type is quarantined with the reason, never ignored (issue 10 item 13).
    assert [str(o) for o in outs[9:]] == [
        "'label' is str, expected true or false",
        "'system' is list, expected a string",
        "'category' is int, expected a string",
    ]


def test_inference() -> None:
    assert formats.from_columns(["messages", "label"]) is CONVERTER
    assert formats.from_columns(["prompt", "prompt_id", "messages"]) is CONVERTER
    assert formats.from_columns(["id", "data"]) is CONVERTER
    assert formats.from_columns(["messages", "tools"]) is CONVERTER
    for hub_id in ("HuggingFaceH4/ultrachat_200k", "stingning/ultrachat", "HuggingFaceTB/smoltalk"):
        assert formats.from_hub_id(hub_id) is CONVERTER
