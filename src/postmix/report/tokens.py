"""Tokenized rows for the report and `inspect`: records out of packed rows, trained runs.

A packed row holds several records back to back (`seq_lengths`, one `source`
and id per record); the report measures and shows records, so they are cut
apart here. Shown tokens are decoded in runs of equal "trained" flag, so a
character split across tokens shows whole and the highlighted text is exactly
what carries loss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

IGNORE = -100
# Token columns of a pair, new name first, then postmix 0.1's.
PAIR_SIDES = (
    ("prompt", ("prompt_ids", "prompt_input_ids"), False),
    ("chosen", ("chosen_ids", "chosen_input_ids"), True),
    ("rejected", ("rejected_ids", "rejected_input_ids"), True),
)
Decode = Callable[[Sequence[int]], str]


@dataclass(frozen=True)
class Run:
    """Decoded text of consecutive tokens that are all trained, or all not."""

    text: str
    trained: bool


@dataclass(frozen=True)
class TokenView:
    """One tokenized record as shown: a labelled part per side (one part for LM rows)."""

    parts: list[tuple[str, list[Run]]]
    tokens: int
    trained: int


def is_tokenized(row: dict[str, Any]) -> bool:
    return "input_ids" in row or any(k in row for _, keys, _ in PAIR_SIDES for k in keys)


def records_of(row: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The records of an output row: a packed row's records one by one (their ids, labels
    and source), any other row as it is."""
    lengths = row.get("seq_lengths")
    if not lengths or "input_ids" not in row or not isinstance(row.get("source"), list):
        yield row
        return
    ids, labels = row["input_ids"], row.get("labels")
    start = 0
    for i, n in enumerate(lengths):
        rec = {"input_ids": ids[start : start + n], "source": row["source"][i]}
        if labels is not None:
            rec["labels"] = labels[start : start + n]
        if row.get("ids"):
            rec["id"] = row["ids"][i]
        yield rec
        start += n


def runs(decode: Decode, ids: Sequence[int], flags: Sequence[bool]) -> list[Run]:
    """`ids` decoded in runs of equal trained flag."""
    out: list[Run] = []
    start = 0
    for end in range(1, len(ids) + 1):
        if end == len(ids) or flags[end] != flags[start]:
            out.append(Run(decode(ids[start:end]), bool(flags[start])))
            start = end
    return out


def view(row: dict[str, Any], decode: Decode) -> TokenView | None:
    """A tokenized record (sft/text with labels, prompt ids, or a pair) as decoded runs."""
    if "input_ids" in row:
        ids = list(row["input_ids"])
        labels = row.get("labels")
        flags = [x != IGNORE for x in labels] if labels is not None else [False] * len(ids)
        return TokenView([("", runs(decode, ids, flags))], len(ids), sum(flags))
    parts, tokens, trained = [], 0, 0
    for side, keys, train in PAIR_SIDES:
        ids = next((list(row[k]) for k in keys if row.get(k) is not None), None)
        if ids is None:
            return None
        parts.append((side, runs(decode, ids, [train] * len(ids))))
        tokens += len(ids)
        trained += len(ids) if train else 0
    return TokenView(parts, tokens, trained)


def packing_of(row: dict[str, Any]) -> tuple[int, int] | None:
    """(tokens, records) of a packed row; None for any other row."""
    lengths = row.get("seq_lengths")
    if not lengths or not isinstance(row.get("source"), list):
        return None
    return len(row["input_ids"]), len(lengths)
