"""rename_roles transform: every side renamed, canonical targets only, input untouched."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from postmix.schema import message, record
from postmix.steps import StepEnv
from postmix.transforms import rename_roles


def run(batch: list, mapping: dict[str, str]) -> list:
    config = rename_roles.Config(type="rename_roles", mapping=mapping)
    return rename_roles.build(config, StepEnv())(batch)


def test_renames_messages_and_pair_sides() -> None:
    rec = record(
        "preference",
        [message("human", "hi", name="ann"), message("bot", "hello"), message("human", "bye")],
        chosen=[message("bot", "see you")],
        rejected=[message("bot", "whatever")],
    )
    before = copy.deepcopy(rec)
    out = run([rec], {"human": "user", "bot": "assistant"})[0]
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]
    assert out["messages"][0] == {"role": "user", "content": "hi", "name": "ann"}
    assert out["chosen"][0]["role"] == out["rejected"][0]["role"] == "assistant"
    assert rec == before


def test_untouched_records_are_returned_as_is() -> None:
    rec = record("sft", [message("user", "q"), message("assistant", "a")])
    text = record("text", [], text="doc")
    out = run([rec, text], {"bot": "assistant"})
    assert out[0] is rec and out[1] is text


def test_targets_must_be_canonical() -> None:
    with pytest.raises(ValidationError, match=r"target roles \['robot'\] are not among"):
        rename_roles.Config(type="rename_roles", mapping={"bot": "robot"})
    with pytest.raises(ValidationError, match="mapping is empty"):
        rename_roles.Config(type="rename_roles", mapping={})
