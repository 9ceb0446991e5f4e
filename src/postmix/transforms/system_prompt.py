"""What to do with system prompts: keep them, fold them into the user turn, drop or add them.

Works on `messages` of every kind (for a preference pair that is the shared
prompt); text records pass unchanged.

- `keep`: nothing changes (states the intent in a recipe).
- `drop`: every system message is removed.
- `merge_into_user`: the system messages' text (several are joined with
  `separator`) is prepended to the first user turn, followed by `separator`
  (a blank line by default), and the system messages are removed. For
  templates and models without a system role. A record with no user turn is
  left as it is (the structure filter reports it).
- `add`: a record without any system message gets one, drawn from `prompts`,
  with probability `probability` (OpenOrca-style system-prompt diversity).
  The draw is seeded per record from the run seed, the record's source and
  row and its first message, so it does not depend on batching.

Changed records are new dicts with new message lists; the input is not modified.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from postmix.schema import message
from postmix.steps import Batch, StepEnv, TransformFn, record_rng_seed

Messages = list[dict[str, Any]]
SEPARATOR = "\n\n"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["system_prompt"]
    policy: Literal["keep", "merge_into_user", "drop", "add"]
    prompts: list[str] = Field(default_factory=list)
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    separator: str = SEPARATOR

    @model_validator(mode="after")
    def _options_fit_policy(self) -> Config:
        """Options of another policy are a recipe mistake. They are compared with their
        defaults, not with the keys given, so a dumped config validates again."""
        if self.policy == "add" and not [p for p in self.prompts if p.strip()]:
            raise ValueError("policy add needs a non-empty `prompts` list")
        if self.policy != "add" and (self.prompts or self.probability != 1.0):
            raise ValueError("`prompts` and `probability` only apply to policy add")
        if self.policy != "merge_into_user" and self.separator != SEPARATOR:
            raise ValueError("`separator` only applies to policy merge_into_user")
        return self


def drop_system(msgs: Messages) -> Messages:
    return [m for m in msgs if m["role"] != "system"]


def merge_into_user(msgs: Messages, separator: str) -> Messages | None:
    """System text prepended to the first user turn; None when there is nothing to do."""
    system = [m["content"] for m in msgs if m["role"] == "system"]
    if not system:
        return None
    text = separator.join(s for s in system if s.strip())
    rest = drop_system(msgs)
    first_user = next((i for i, m in enumerate(rest) if m["role"] == "user"), None)
    if first_user is None:
        return None
    if text:
        user = rest[first_user]
        rest[first_user] = {**user, "content": f"{text}{separator}{user['content']}"}
    return rest


def build(cfg: Config, env: StepEnv) -> TransformFn:
    prompts = [p for p in cfg.prompts if p.strip()]

    def added(rec: dict[str, Any], msgs: Messages) -> Messages | None:
        if not msgs or any(m["role"] == "system" for m in msgs):
            return None
        keys = (rec.get("source"), rec["meta"].get("row"), msgs[0]["content"])
        rng = random.Random(record_rng_seed(env.seed, *keys))
        if rng.random() >= cfg.probability:
            return None
        return [message("system", rng.choice(prompts)), *msgs]

    def rewritten(rec: dict[str, Any], msgs: Messages) -> Messages | None:
        if cfg.policy == "drop":
            return drop_system(msgs) if any(m["role"] == "system" for m in msgs) else None
        if cfg.policy == "merge_into_user":
            return merge_into_user(msgs, cfg.separator)
        if cfg.policy == "add":
            return added(rec, msgs)
        return None

    def apply(rec: dict[str, Any]) -> dict[str, Any]:
        if rec["kind"] == "text":
            return rec
        msgs = rewritten(rec, rec["messages"])
        return rec if msgs is None else {**rec, "messages": msgs}

    def run(batch: Batch) -> Batch:
        return batch if cfg.policy == "keep" else [apply(r) for r in batch]

    return run
