"""System-prompt transform: policies, purity, seeded `add`, and real OpenOrca-style prompts."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from postmix.schema import record
from postmix.steps import StepEnv
from postmix.transforms import system_prompt
from tests.filters.records import load, pref, sft, sharegpt_pair

DPO = "hiyouga__LLaMA-Factory/dpo_en_demo.json"
PROMPTS = ["You are helpful.", "You are concise.", "You are a careful tutor."]


def run(batch: list, seed: int = 0, **cfg: object) -> list:
    config = system_prompt.Config(type="system_prompt", **cfg)
    return system_prompt.build(config, StepEnv(seed=seed))(batch)


def roles(rec: dict) -> list[str]:
    return [m["role"] for m in rec["messages"]]


def many(n: int) -> list[dict]:
    return [sft(f"question {i}", f"answer {i}", row=i) | {"source": "demo"} for i in range(n)]


def test_keep_returns_the_batch() -> None:
    batch = [sft("q", "a", system="s")]
    assert run(batch, policy="keep") is batch


def test_drop_removes_every_system_message() -> None:
    out = run(
        [sft("q", "a", system="s"), pref("q", chosen="c", rejected="r", system="s")], policy="drop"
    )
    assert [roles(r) for r in out] == [["user", "assistant"], ["user"]]


def test_merge_into_user() -> None:
    out = run([sft("q1", "a1", "q2", "a2", system="Be brief.")], policy="merge_into_user")
    assert roles(out[0]) == ["user", "assistant", "user", "assistant"]
    assert out[0]["messages"][0]["content"] == "Be brief.\n\nq1"
    assert out[0]["messages"][2]["content"] == "q2"
    custom = run([sft("q", "a", system="S")], policy="merge_into_user", separator=" | ")
    assert custom[0]["messages"][0]["content"] == "S | q"


def test_merge_edge_cases() -> None:
    blank = run([sft("q", "a", system="  ")], policy="merge_into_user")
    assert blank[0]["messages"] == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]
    no_system = sft("q", "a")
    assert run([no_system], policy="merge_into_user")[0] is no_system
    text = record("text", [], text="doc")
    assert run([text], policy="merge_into_user")[0] is text


def test_input_is_not_modified() -> None:
    batch = [sft("q", "a", system="s"), sft("q2", "a2")]
    before = copy.deepcopy(batch)
    for policy in ("drop", "merge_into_user"):
        run(batch, policy=policy)
    run(batch, policy="add", prompts=PROMPTS)
    assert batch == before


def test_add_only_where_there_is_none() -> None:
    out = run([sft("q", "a", system="mine"), sft("q", "a")], policy="add", prompts=PROMPTS)
    assert out[0]["messages"][0]["content"] == "mine" and len(out[0]["messages"]) == 3
    assert roles(out[1]) == ["system", "user", "assistant"]
    assert out[1]["messages"][0]["content"] in PROMPTS


def test_add_is_seeded_per_record_not_per_batch() -> None:
    batch = many(300)
    whole = run(batch, seed=7, policy="add", prompts=PROMPTS, probability=0.5)
    pieces = [
        r
        for i in range(0, 300, 37)
        for r in run(batch[i : i + 37], seed=7, policy="add", prompts=PROMPTS, probability=0.5)
    ]
    assert pieces == whole
    reversed_ = run(batch[::-1], seed=7, policy="add", prompts=PROMPTS, probability=0.5)
    assert reversed_[::-1] == whole


def test_different_seeds_pick_differently() -> None:
    batch = many(300)

    def picks(seed: int) -> list[str | None]:
        out = run(batch, seed=seed, policy="add", prompts=PROMPTS)
        return [r["messages"][0]["content"] for r in out]

    a, b = picks(1), picks(2)
    assert sum(x != y for x, y in zip(a, b, strict=True)) > 100
    assert set(Counter(a)) == set(PROMPTS) and min(Counter(a).values()) > 60


@pytest.mark.parametrize("probability", [0.0, 0.3, 1.0])
def test_probability_is_respected(probability: float) -> None:
    out = run(many(2000), policy="add", prompts=PROMPTS, probability=probability)
    share = sum(r["messages"][0]["role"] == "system" for r in out) / 2000
    assert share == pytest.approx(probability, abs=0.04)


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="policy add needs a non-empty `prompts` list"):
        system_prompt.Config(type="system_prompt", policy="add", prompts=[" "])
    with pytest.raises(
        ValidationError, match="`prompts` and `probability` only apply to policy add"
    ):
        system_prompt.Config(type="system_prompt", policy="drop", prompts=PROMPTS)
    with pytest.raises(ValidationError, match="`separator` only applies to policy merge_into_user"):
        system_prompt.Config(type="system_prompt", policy="add", prompts=PROMPTS, separator="\n")
    with pytest.raises(ValidationError, match="only apply to policy add"):
        system_prompt.Config(type="system_prompt", policy="keep", probability=0.5)
    with pytest.raises(ValidationError):
        system_prompt.Config(type="system_prompt", policy="add", prompts=PROMPTS, probability=2)
    with pytest.raises(ValidationError):
        system_prompt.Config(type="system_prompt")


@pytest.mark.parametrize("policy", ["keep", "drop", "merge_into_user", "add"])
def test_dumped_config_validates_again(policy: str) -> None:
    config = system_prompt.Config(
        type="system_prompt", policy=policy, prompts=PROMPTS if policy == "add" else []
    )
    assert system_prompt.Config.model_validate(config.model_dump()) == config


def test_real_openorca_style_system_prompts(shared_data: Path) -> None:
    """dpo_en_demo: 80 of 300 pairs open with an OpenOrca-style system prompt (corpus README)."""
    batch = [sharegpt_pair(r) for r in load(shared_data, DPO)]
    with_system = [r for r in batch if r["messages"][0]["role"] == "system"]
    assert len(with_system) == 80
    merged = run(with_system, policy="merge_into_user")
    for before, after in zip(with_system, merged, strict=True):
        system, user = before["messages"][0]["content"], before["messages"][1]["content"]
        assert after["messages"][0] == {"role": "user", "content": f"{system}\n\n{user}"}
        assert len(after["messages"]) == len(before["messages"]) - 1
        assert after["chosen"] is before["chosen"]
    dropped = run(batch, policy="drop")
    assert not any(m["role"] == "system" for r in dropped for m in r["messages"])
    added = run(batch, policy="add", prompts=PROMPTS)
    assert sum(r["messages"][0]["content"] in PROMPTS for r in added) == 220
