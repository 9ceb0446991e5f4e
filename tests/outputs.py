"""Small prepared outputs of every kind, built from rows the tests write themselves.

Glue, trainer, report and datasets-compatibility tests all need "what `prepare`
writes" for each (kind, schema, file format); these builders make them in a
second from a few dozen synthetic rows (with a system prompt, tool calls and
reference answers where a kind carries them), so a clone without
../shared/data still tests every output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import yaml

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
CURRENCY = {
    "name": "convert",
    "description": "Convert an amount between currencies.",
    "parameters": {
        "type": "object",
        "properties": {"amount": {"type": "number"}, "to": {"type": "string"}},
    },
}


def sft_rows(n: int, *, system: bool = True, tools: bool = True) -> list[dict[str, Any]]:
    """OpenAI-style chats; every third has a system prompt, every other calls one of two tools."""
    rows = []
    for i in range(n):
        msgs: list[dict[str, Any]] = []
        if system and i % 3 == 0:
            msgs.append({"role": "system", "content": "You are a terse assistant."})
        msgs.append({"role": "user", "content": f"Question {i}: where does the river go?"})
        row: dict[str, Any] = {}
        if tools and i % 2:  # two tools; an argument's type changes between calls
            tool, args = (WEATHER, {"city": f"City {i}"}) if i % 4 == 1 else (CURRENCY, {})
            args = args or {"amount": i, "to": "EUR" if i % 8 == 3 else ["EUR", "USD"]}
            call = {"type": "function", "function": {"name": tool["name"], "arguments": args}}
            msgs += [
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "content": '{"result": 16}'},
            ]
            row["tools"] = [tool]
        msgs.append({"role": "assistant", "content": f"It flows to the sea, {i} miles away."})
        row["messages"] = msgs
        rows.append(row)
    return rows


def pair_rows(n: int) -> list[dict[str, Any]]:
    """LLaMA-Factory-style preference pairs (sharegpt conversations + chosen/rejected)."""
    return [
        {
            "conversations": [{"from": "human", "value": f"Name a colour, number {i}."}],
            "chosen": {"from": "gpt", "value": f"Blue, the colour of the sea ({i})."},
            "rejected": {"from": "gpt", "value": "No."},
        }
        for i in range(n)
    ]


def prompt_rows(n: int) -> list[dict[str, Any]]:
    """GSM8K-style questions with their `#### answer` lines."""
    return [
        {
            "question": f"Ann has {i} apples and buys 3 more. How many apples does she have?",
            "answer": f"{i} + 3 = {i + 3}\n#### {i + 3}",
        }
        for i in range(n)
    ]


def kto_rows(n: int) -> list[dict[str, Any]]:
    """Unpaired preferences: one reply per prompt with a desirable (`label`) flag."""
    return [
        {"messages": r["messages"][-2:], "label": bool(i % 2)}
        for i, r in enumerate(sft_rows(n, system=False, tools=False))
    ]


SOURCES = {
    "sft": (sft_rows, "messages"),
    "kto": (kto_rows, "messages"),
    "preference": (pair_rows, "sharegpt_preference"),
    "prompt": (prompt_rows, "gsm8k"),
}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def recipe_text(src: Path, kind: str, schema: str, file_format: str, out: Path, **top: Any) -> str:
    """A one-source recipe for `src` (written by `SOURCES[kind]`)."""
    return yaml.safe_dump(
        {
            "metadata": {"phase": "t", "kind": kind},
            **top,
            "datasets": [{"name": kind, "source": str(src), "format_converter": SOURCES[kind][1]}],
            "validation": {"ratio": 0.2, "seed": 1},
            "output": {"dir": str(out), "schema": schema, "file_format": file_format},
        }
    )


def build(
    tmp: Path,
    kind: str,
    schema: str = "messages",
    file_format: str = "jsonl",
    n: int = 24,
    rows: list[dict[str, Any]] | None = None,
    **top: Any,
) -> tuple[Path, dict[str, Any]]:
    """(output dir, manifest) of `prepare` on `n` synthetic rows of `kind`."""
    from postmix import recipe
    from postmix.prepare import prepare

    make, _ = SOURCES[kind]
    tmp.mkdir(parents=True, exist_ok=True)
    src = write_jsonl(tmp / f"{kind}.jsonl", rows if rows is not None else make(n))
    out = tmp / "out"
    parsed = recipe.parse(recipe_text(src, kind, schema, file_format, out, **top))
    manifest = prepare(parsed, out, num_proc=1, progress=False, report=False)
    return out, manifest
