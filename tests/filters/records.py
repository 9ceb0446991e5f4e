"""Small record builders and real-file readers shared by the filter and transform tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from postmix.schema import message, record
from tests.conftest import shared_file

SHAREGPT_ROLES = {"system": "system", "human": "user", "gpt": "assistant"}


def sft(*turns: str, system: str | None = None, **meta: Any) -> dict[str, Any]:
    """An SFT record from alternating user/assistant texts."""
    msgs = [message("system", system)] if system is not None else []
    msgs += [message("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(turns)]
    return record("sft", msgs, meta=meta)


def pref(*prompt: str, chosen: str, rejected: str, system: str | None = None) -> dict[str, Any]:
    """A preference record: alternating user/assistant prompt texts ending with a user turn."""
    msgs = sft(*prompt, system=system)["messages"]
    return record(
        "preference",
        msgs,
        chosen=[message("assistant", chosen)],
        rejected=[message("assistant", rejected)],
    )


def load(root: Path, rel: str) -> list[Any]:
    """Rows of a real JSON array or JSONL file (JSONL split on newlines only)."""
    data = shared_file(root, rel).read_bytes()
    if rel.endswith(".jsonl"):
        return [orjson.loads(line) for line in data.split(b"\n") if line.strip()]
    return orjson.loads(data)


def sharegpt_pair(row: dict[str, Any]) -> dict[str, Any]:
    """A LLaMA-Factory DPO row (`conversations` + `chosen`/`rejected`) as a preference record."""
    msgs = [message(SHAREGPT_ROLES[t["from"]], t["value"]) for t in row["conversations"]]
    return record(
        "preference",
        msgs,
        chosen=[message("assistant", row["chosen"]["value"])],
        rejected=[message("assistant", row["rejected"]["value"])],
    )
