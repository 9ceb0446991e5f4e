"""max_turns transform: first N exchanges of SFT, last N of prompts; real multi-turn rows."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from pydantic import ValidationError

from postmix.filters.turns import exchanges
from postmix.schema import message, record, structure_problem
from postmix.steps import StepEnv
from postmix.transforms import max_turns
from tests.filters.records import load, pref, sft, sharegpt_pair

DPO = "hiyouga__LLaMA-Factory/dpo_en_demo.json"
AXOLOTL = "axolotl-ai-cloud__axolotl/conversation.json"


def run(batch: list, cap: int) -> list:
    return max_turns.build(max_turns.Config(type="max_turns", max_turns=cap), StepEnv())(batch)


def contents(rec: dict) -> list[str]:
    return [m["content"] for m in rec["messages"]]


def test_sft_keeps_the_first_exchanges() -> None:
    rec = sft("q1", "a1", "q2", "a2", "q3", "a3", system="s")
    assert contents(run([rec], 2)[0]) == ["s", "q1", "a1", "q2", "a2"]
    assert contents(run([rec], 1)[0]) == ["s", "q1", "a1"]


def test_tool_turns_stay_with_their_exchange() -> None:
    rec = record(
        "sft",
        [
            message("user", "weather?"),
            message("assistant", "", tool_calls=[{"name": "weather"}]),
            message("tool", "sunny"),
            message("assistant", "Sunny."),
            message("user", "thanks"),
            message("assistant", "You're welcome."),
        ],
    )
    out = run([rec], 1)[0]
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "tool", "assistant"]


def test_preference_keeps_the_last_exchanges_and_final_user_turn() -> None:
    rec = pref("q1", "a1", "q2", "a2", "q3", chosen="c", rejected="r", system="s")
    out = run([rec], 2)[0]
    assert contents(out) == ["s", "q2", "a2", "q3"]
    assert contents(run([rec], 1)[0]) == ["s", "q3"]
    assert out["chosen"] is rec["chosen"] and structure_problem(out) is None
    prompt = record("prompt", rec["messages"])
    assert contents(run([prompt], 1)[0]) == ["s", "q3"]


def test_within_cap_and_text_are_unchanged_and_input_is_not_modified() -> None:
    short, text = sft("q", "a"), record("text", [], text="doc")
    long = sft("q1", "a1", "q2", "a2")
    before = copy.deepcopy(long)
    out = run([short, text, long], 1)
    assert out[0] is short and out[1] is text
    assert long == before and contents(out[2]) == ["q1", "a1"]


def test_config_validation() -> None:
    with pytest.raises(ValidationError):
        max_turns.Config(type="max_turns", max_turns=0)
    with pytest.raises(ValidationError):
        max_turns.Config(type="max_turns")


def test_real_axolotl_conversation(shared_data: Path) -> None:
    """The axolotl fixture: a real 12-message chat (6 exchanges) capped at 2 exchanges."""
    row = load(shared_data, AXOLOTL)
    roles = {"human": "user", "gpt": "assistant"}
    msgs = [message(roles[t["from"]], t["value"]) for t in row["conversations"]]
    rec = record("sft", msgs)
    assert exchanges(rec) == 6
    out = run([rec], 2)[0]
    assert out["messages"] == msgs[:4] and structure_problem(out) is None


def test_real_multi_turn_pairs(shared_data: Path) -> None:
    """dpo_en_demo: the 106 multi-turn prompts keep only their final question at max_turns=1."""
    batch = [sharegpt_pair(r) for r in load(shared_data, DPO)]
    out = run(batch, 1)
    changed = [(a, b) for a, b in zip(batch, out, strict=True) if a is not b]
    assert len(changed) == 106
    for before, after in changed:
        assert exchanges(after) == 1
        assert after["messages"][-1] == before["messages"][-1]
        assert structure_problem(after) is None
