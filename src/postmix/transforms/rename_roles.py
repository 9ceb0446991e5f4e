"""Rename message roles (`bot` → `assistant`, `human` → `user`) in every message list.

Targets must be canonical roles; sources may be anything a converter let
through. Records without a mapped role are returned as they are; changed ones
are new dicts with new message lists, so the input batch is never modified.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from postmix.schema import ROLES
from postmix.steps import Batch, StepEnv, TransformFn

SIDES = ("messages", "chosen", "rejected")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["rename_roles"]
    mapping: dict[str, str]

    @field_validator("mapping")
    @classmethod
    def _canonical_targets(cls, mapping: dict[str, str]) -> dict[str, str]:
        if not mapping:
            raise ValueError("mapping is empty")
        bad = sorted({t for t in mapping.values() if t not in ROLES})
        if bad:
            raise ValueError(f"target roles {bad} are not among {sorted(ROLES)}")
        return mapping


def build(cfg: Config, env: StepEnv) -> TransformFn:
    mapping = cfg.mapping

    def renamed(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**m, "role": mapping[m["role"]]} if m["role"] in mapping else m for m in msgs]

    def touches(rec: dict[str, Any]) -> bool:
        return any(m["role"] in mapping for side in SIDES for m in rec.get(side) or ())

    def apply(rec: dict[str, Any]) -> dict[str, Any]:
        if not touches(rec):
            return rec
        return {**rec, **{side: renamed(rec[side]) for side in SIDES if rec.get(side)}}

    def run(batch: Batch) -> Batch:
        return [apply(r) for r in batch]

    return run
