"""Pieces of the stock-template tests: trl's templates, a tokenizer for each, conversations."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from postmix.templates.stock import templates_dir

SPECIAL = re.compile(
    r"<\|[^<>|\s'\"]{1,40}\|>|<｜[^<>｜]{1,40}｜>|<\|[a-z_]{1,30}>|<[a-z_]{1,30}\|>"
    r"|<(?:start|end)_of_turn>|<\|(?:im_start|im_end|endoftext)\|>"
)


def stock_dir() -> Path:
    root = templates_dir()
    if root is None:
        pytest.fail("trl is not installed: the stock chat templates come from its package")
    return root


def stock_names() -> list[str]:
    """Every original template trl ships (training variants are reached through them)."""
    root = templates_dir()
    if root is None:
        return ["trl-missing"]
    return sorted(p.stem for p in root.glob("*.jinja") if not p.stem.endswith("_training"))


def tokenizer_for(base: Any, name: str) -> Any:
    """The byte-level test tokenizer with the template's special tokens, and the template set."""
    source = (stock_dir() / f"{name}.jinja").read_text()
    tok = copy.deepcopy(base)
    tokens = sorted(set(SPECIAL.findall(source)))
    tok.add_special_tokens({"additional_special_tokens": tokens})
    tok.chat_template = source
    return tok


def _call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]

CHAT: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief, kappa lambda."},
    {"role": "user", "content": "Question one gamma?"},
    {"role": "assistant", "content": "Reply one alpha."},
    {"role": "user", "content": "Question two delta?"},
    {
        "role": "assistant",
        "content": "Reply two beta, café 🙂.",
        "reasoning_content": "Reason two epsilon.",
    },
    {"role": "user", "content": "Question three zeta?"},
    {
        "role": "assistant",
        "content": "Reply three eta.",
        "reasoning_content": "Reason three theta.",
    },
]

TOOL_CHAT: list[dict[str, Any]] = [
    {"role": "user", "content": "Weather in Paris iota?"},
    {"role": "assistant", "content": "", "tool_calls": [_call("get_weather", city="Paris")]},
    {"role": "tool", "content": "Sunny mu nu."},
    {
        "role": "assistant",
        "content": "Sunny in Paris xi.",
        "reasoning_content": "Tool said sunny omicron.",
    },
]

NO_SYSTEM = CHAT[1:]
