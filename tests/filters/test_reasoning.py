"""The `reasoning` filter: empty blocks, presence and length each drop only what they say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from postmix import formats
from postmix.filters import reasoning
from postmix.formats import ConvertContext
from postmix.schema import message, record
from postmix.steps import StepEnv
from tests.tiny import bpe_tokenizer


def reply(reasoning_content: str | None, answer: str = "5") -> dict[str, Any]:
    return record(
        "sft",
        [
            message("user", "2+3?"),
            message("assistant", answer, reasoning_content=reasoning_content),
        ],
    )


BATCH = [
    reply("Add two and three."),  # 0: reasoning
    reply(""),  # 1: empty block
    reply(None),  # 2: no reasoning at all
    reply("x" * 200),  # 3: long reasoning
    record(  # 4: a pair whose rejected side has an empty block
        "preference",
        [message("user", "2+3?")],
        chosen=[message("assistant", "5", reasoning_content="add")],
        rejected=[message("assistant", "6", reasoning_content="\n")],
    ),
    record("text", [], text="A document."),  # 5
]


def verdicts(env: StepEnv | None = None, **cfg: Any) -> list[str | None]:
    fn = reasoning.build(reasoning.Config(type="reasoning", **cfg), env or StepEnv())
    return fn(BATCH)


def test_empty_drop_drops_only_empty_blocks() -> None:
    assert verdicts(empty="drop") == [None, "empty_think", None, None, "empty_think", None]


def test_presence() -> None:
    assert verdicts(presence="required") == [None, "missing", "missing", None, None, "missing"]
    assert verdicts(presence="absent") == ["present", None, None, "present", "present", None]


def test_length_in_chars() -> None:
    assert verdicts(max_length=100) == [None, None, None, "too_long", None, None]
    assert verdicts(min_length=5) == [
        None,
        "too_short",
        "too_short",
        None,
        "too_short",
        "too_short",
    ]
    assert verdicts(min_length=1, max_length=18) == [
        None,
        "too_short",
        "too_short",
        "too_long",
        None,
        "too_short",
    ]


def test_length_in_tokens_uses_the_recipe_tokenizer(tmp_path: Path) -> None:
    tok = bpe_tokenizer(tmp_path)
    env = StepEnv(tokenizer_spec=str(tmp_path))
    n = len(tok("Add two and three.", add_special_tokens=False)["input_ids"])
    assert 1 < n < len("Add two and three.")
    assert verdicts(env, unit="tokens", max_length=n)[0] is None
    assert verdicts(env, unit="tokens", max_length=n - 1)[0] == "too_long"
    # The pair's two traces are counted separately and summed.
    pair = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in ("add", "\n"))
    assert verdicts(env, unit="tokens", min_length=pair)[4] is None
    assert verdicts(env, unit="tokens", min_length=pair + 1)[4] == "too_short"
    with pytest.raises(ValueError, match="set `tokenizer:`"):
        verdicts(unit="tokens", max_length=3)


def test_checks_run_in_order_empty_presence_length() -> None:
    assert verdicts(empty="drop", presence="required", max_length=1)[1] == "empty_think"
    assert verdicts(presence="required", max_length=1)[2] == "missing"


@pytest.mark.parametrize(
    "cfg",
    [{}, {"min_length": 5, "max_length": 1}, {"empty": "strip"}, {"presence": "some"}],
)
def test_config_rejects_what_would_do_nothing_or_is_unknown(cfg: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        reasoning.Config(type="reasoning", **cfg)


def test_drops_bucket_by_cause() -> None:
    cfg = reasoning.Config(type="reasoning", empty="drop")
    assert cfg.bucket_by_detail and cfg.label == "reasoning"


def test_inline_empty_think_from_a_converter_is_dropped() -> None:
    row = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "<think>\n\n</think>\n\nHello!"},
        ]
    }
    conv = formats.get("messages")
    [(_, rec)] = list(conv.stream([(0, row)], ConvertContext(kind="sft")))
    fn = reasoning.build(reasoning.Config(type="reasoning", empty="drop"), StepEnv())
    assert fn([rec]) == ["empty_think"]
