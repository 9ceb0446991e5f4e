"""What tokenization produces: tokenized records, flat batches to verify, and its errors."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from typing import Any, Literal

import numpy as np

from postmix.templates import Span

IGNORE = -100
TRAIN_ON = ("all_assistant", "last_assistant", "all")
OVER_LENGTH = ("drop", "truncate", "error")
REASONING = ("all", "last", "none")
TrainOn = Literal["all_assistant", "last_assistant", "all"]
OverLength = Literal["drop", "truncate", "error"]
Reasoning = Literal["all", "last", "none"]


class OverLengthError(ValueError):
    """A record longer than max_length under `over_length: error`."""


class MaskError(ValueError):
    """Trained tokens that do not decode to exactly the replies they should train."""


class RoundTripError(ValueError):
    """Under `strict`, a record whose text the tokenizer cannot represent exactly."""


@dataclass(slots=True)
class TokenizedRecord:
    """One record's ids (numpy int32); which fields are set depends on the kind (package doc).

    `lost` names what the tokenizer's round trip changed in the record's text
    (`postmix.tokenize.roundtrip.CATEGORIES`); `cut_reply` is set when
    truncation cut a reply before its end-of-turn token.
    """

    id: Any
    kind: str
    input_ids: np.ndarray | None = None
    labels: np.ndarray | None = None
    prompt_ids: np.ndarray | None = None
    chosen_ids: np.ndarray | None = None
    rejected_ids: np.ndarray | None = None
    truncated: bool = False
    lost: tuple[str, ...] = ()
    cut_reply: bool = False

    @property
    def n_tokens(self) -> int:
        if self.kind == "preference":
            return len(self.prompt_ids) + len(self.chosen_ids) + len(self.rejected_ids)
        return len(self.input_ids)

    @property
    def n_trainable(self) -> int:
        if self.kind == "preference":
            return len(self.chosen_ids) + len(self.rejected_ids)
        if self.labels is None:
            return 0
        return int(np.count_nonzero(self.labels != IGNORE))


def cumsum0(a: np.ndarray) -> np.ndarray:
    """Offsets from lengths: [0, a0, a0 + a1, ...] (summed in place: no second copy)."""
    out = np.empty(len(a) + 1, dtype=np.int64)
    out[0] = 0
    np.cumsum(a, dtype=np.int64, out=out[1:])
    return out


def span_rows(spans: list[list[Span]]) -> np.ndarray:
    """The spans of a batch in order, one int64 row each: start, end, lo, hi, index, body."""
    flat = list(chain.from_iterable(spans))
    width = len(Span._fields)
    values = np.fromiter(chain.from_iterable(flat), dtype=np.int64, count=width * len(flat))
    return values.reshape(len(flat), width)


@dataclass
class Sequences:
    """A batch of token sequences laid flat, and the spans each must train: what is verified.

    Sequence k is `ids[offsets[k]:offsets[k + 1]]`; `trained` marks the tokens
    with a label; `spans[k]` lists, in order, the text spans its trained runs
    must decode to.
    """

    ids: np.ndarray
    trained: np.ndarray
    offsets: np.ndarray
    texts: list[str]
    spans: list[list[Span]]
    records: list[Any]

    @classmethod
    def of(cls, items: Iterable[tuple[np.ndarray, np.ndarray, str, list[Span], Any]]) -> Sequences:
        """From (ids, trained, text, spans, record id) per sequence."""
        rows = list(items)
        lengths = np.fromiter((len(r[0]) for r in rows), dtype=np.int64, count=len(rows))
        return cls(
            np.concatenate([np.zeros(0, np.int32)] + [r[0] for r in rows]),
            np.concatenate([np.zeros(0, bool)] + [r[1] for r in rows]).astype(bool),
            cumsum0(lengths),
            [r[2] for r in rows],
            [r[3] for r in rows],
            [r[4] for r in rows],
        )
