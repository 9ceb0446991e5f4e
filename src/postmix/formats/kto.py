"""Unpaired preference (KTO) labels: read once, and never let an undesirable answer train SFT.

Three upstream layouts rate one completion as desirable or not: LLaMA-Factory's
KTO files (`messages` or ShareGPT `conversations` with a `kto_tag` or `label`
column, the rated reply being the last assistant turns) and TRL's unpaired
preference layout (`prompt`, `completion`, `label`). The chat converters call
`labelled` for the `sft` and `kto` kinds: a `kto` record keeps prompt,
completion and label apart (what TRL's KTOTrainer reads); an `sft` record is
made only from a desirable (or unlabelled) row, an undesirable one is dropped
as `undesirable_completion`.
"""

from __future__ import annotations

from typing import Any

from postmix.schema import InvalidRow, Message, Skip, record

LABEL_FIELDS: tuple[str, ...] = ("label", "kto_tag")


def row_label(row: dict[str, Any]) -> bool | None:
    """The row's desirable/undesirable label, if it has one; a non-boolean is invalid."""
    for field in LABEL_FIELDS:
        value = row.get(field)
        if value is None:
            continue
        if not isinstance(value, bool):
            raise InvalidRow(f"{field!r} is {type(value).__name__}, expected true or false")
        return value
    return None


def split_completion(msgs: list[Message]) -> tuple[list[Message], list[Message]]:
    """(prompt up to the last user turn, the turns after it): the rated completion."""
    last_user = max((i for i, m in enumerate(msgs) if m["role"] == "user"), default=-1)
    return msgs[: last_user + 1], msgs[last_user + 1 :]


def labelled(
    kind: str,
    msgs: list[Message],
    label: bool | None,
    *,
    tools: list[dict[str, Any]] | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `kto` or `sft` record of a conversation whose final assistant turns may be rated."""
    meta = dict(meta or {})
    if kind == "kto":
        if label is None:
            raise InvalidRow("a kto record needs a label (`label` or `kto_tag`: true or false)")
        prompt, completion = split_completion(msgs)
        if not completion:
            raise InvalidRow("the conversation has no assistant completion to label")
        meta.pop("label", None)
        return record("kto", prompt, completion=completion, label=label, tools=tools, meta=meta)
    if label is False:
        raise Skip("undesirable_completion", "labelled undesirable: never an SFT target")
    return record("sft", msgs, tools=tools, meta=meta)
