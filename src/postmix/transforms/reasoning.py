"""Which replies keep their reasoning, and what becomes of empty think blocks.

`keep` says which assistant turns keep their `reasoning_content`:

- `all` (default): every turn keeps it;
- `last`: only the turns of the last exchange, the ones after the last user
  turn (the final reply of an SFT record and any tool-call turns before it;
  both sides of a preference pair; none of a prompt's history). This is what
  Qwen3-style templates do when they render history;
- `none`: no turn keeps it.

`empty: strip` removes empty reasoning (an empty `<think></think>` block read
by a converter) so a template renders no block for it; `keep` (default) leaves
it. Dropping such records is the `reasoning` filter's `empty: drop`: a
transform rewrites records and never drops them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from postmix.schema import Message
from postmix.steps import Batch, StepEnv, TransformFn

SIDES = ("chosen", "rejected")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["reasoning"]
    keep: Literal["all", "last", "none"] = "all"
    empty: Literal["keep", "strip"] = "keep"


def stripped(msgs: list[Message], keep_from: int, strip_empty: bool) -> list[Message]:
    """`msgs` without the reasoning of turns before `keep_from` (and of empty blocks, if asked).

    Returns the same list object when nothing changes, so unchanged records are not copied.
    """
    out: list[Message] = []
    changed = False
    for i, m in enumerate(msgs):
        reasoning = m.get("reasoning_content")
        if reasoning is not None and (i < keep_from or (strip_empty and not reasoning.strip())):
            m = {k: v for k, v in m.items() if k != "reasoning_content"}  # type: ignore[assignment]
            changed = True
        out.append(m)
    return out if changed else msgs


def last_exchange(msgs: list[Message]) -> int:
    """Index of the first turn after the last user turn (0 when there is none)."""
    return next((i + 1 for i in range(len(msgs) - 1, -1, -1) if msgs[i]["role"] == "user"), 0)


def rewrite(rec: dict[str, Any], keep: str, strip_empty: bool) -> dict[str, Any]:
    """The record with only the reasoning `keep` and `strip_empty` allow (module doc)."""
    if rec["kind"] == "text":
        return rec
    msgs = rec["messages"]
    start = {"all": 0, "last": last_exchange(msgs), "none": len(msgs)}[keep]
    changes: dict[str, Any] = {}
    new = stripped(msgs, start, strip_empty)
    if new is not msgs:
        changes["messages"] = new
    for side in SIDES:
        alt = rec.get(side)
        if alt:
            new = stripped(alt, len(alt) if keep == "none" else 0, strip_empty)
            if new is not alt:
                changes[side] = new
    return {**rec, **changes} if changes else rec


def build(cfg: Config, env: StepEnv) -> TransformFn:
    strip_empty = cfg.empty == "strip"

    def run(batch: Batch) -> Batch:
        return [rewrite(r, cfg.keep, strip_empty) for r in batch]

    return run
