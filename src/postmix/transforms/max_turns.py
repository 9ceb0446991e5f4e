"""Cap a conversation at `max_turns` exchanges.

An exchange is one user turn with everything that answers it (assistant
replies, tool calls, tool results), as in the `turns` filter; leading system
messages are always kept and never count.

- sft: the first `max_turns` exchanges are kept, so the record still ends
  with the reply that closes exchange `max_turns` (an assistant turn in a
  well-formed record).
- preference and prompt: the last `max_turns` exchanges are kept. The final
  user turn is the one the chosen/rejected replies (or the generation) answer,
  so it must stay, and the exchanges just before it are the context it
  refers to; the earliest ones go.
- text records, and records within the cap, are returned unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from postmix.steps import Batch, StepEnv, TransformFn


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["max_turns"]
    max_turns: int = Field(ge=1)


def truncated(msgs: list[dict[str, Any]], kind: str, cap: int) -> list[dict[str, Any]] | None:
    """The capped message list, or None when nothing needs cutting."""
    users = [i for i, m in enumerate(msgs) if m["role"] == "user"]
    if len(users) <= cap:
        return None
    if kind == "sft":
        return msgs[: users[cap]]
    start = users[-cap]
    head = 0
    while head < len(msgs) and msgs[head]["role"] == "system":
        head += 1
    return msgs[:head] + msgs[start:]


def build(cfg: Config, env: StepEnv) -> TransformFn:
    def apply(rec: dict[str, Any]) -> dict[str, Any]:
        if rec["kind"] == "text":
            return rec
        msgs = truncated(rec["messages"], rec["kind"], cfg.max_turns)
        return rec if msgs is None else {**rec, "messages": msgs}

    def run(batch: Batch) -> Batch:
        return [apply(r) for r in batch]

    return run
