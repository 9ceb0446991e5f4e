"""What a converter is: a small pure function from one upstream row to canonical records.

Converters follow TRL's `data_utils.py` style: no I/O, no global state, one
upstream format each. A format whose records span several rows (the flat
OpenAssistant table, HelpSteer's one-response-per-row layout) provides
`convert_stream` instead and sees the whole source once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from postmix.schema import InvalidRow, Skip

Row = Any


class NoOptions(BaseModel):
    """Converters without options still reject unknown keys."""

    model_config = ConfigDict(extra="forbid")


def raw_text(row: Row, limit: int = 2000) -> str:
    """The offending row as text for the quarantine file, cut to `limit` characters."""
    try:
        text = orjson.dumps(row, default=str).decode()
    except TypeError:
        text = repr(row)
    return text[:limit]


@dataclass(frozen=True)
class ConvertContext:
    """What a converter may know besides the row: the kind asked for, its options, the seed."""

    kind: str
    options: Any = field(default_factory=NoOptions)
    seed: int = 0
    source: str = ""


Outcome = "dict[str, Any] | InvalidRow | Skip"
RowFn = Callable[[Row, ConvertContext], list[dict[str, Any]]]
StreamFn = Callable[[Iterable[tuple[int, Row]], ConvertContext], Iterator[tuple[int, Any]]]


@dataclass(frozen=True)
class Converter:
    """A registered format.

    - `convert(row, ctx)` returns one or more records, raises `InvalidRow` for a
      malformed row (quarantined) or `Skip(reason)` for a deliberate drop.
    - `convert_stream(rows, ctx)` (grouping formats) yields `(position, outcome)`
      where outcome is a record, an `InvalidRow` or a `Skip`.
    - `columns`: column sets that identify the format when the recipe names none;
      the most specific set contained in a row's keys wins.
    - `hub_ids`: hub dataset ids (lower case) known to be in this format.
    - `kinds`: kinds it can emit, the default first.
    """

    name: str
    kinds: tuple[str, ...]
    convert: RowFn | None = None
    convert_stream: StreamFn | None = None
    columns: tuple[frozenset[str], ...] = ()
    hub_ids: tuple[str, ...] = ()
    options: type[BaseModel] = NoOptions
    doc: str = ""

    def __post_init__(self) -> None:
        if (self.convert is None) == (self.convert_stream is None):
            raise TypeError(f"converter {self.name!r} needs exactly one of convert/convert_stream")

    def stream(
        self, rows: Iterable[tuple[int, Row]], ctx: ConvertContext
    ) -> Iterator[tuple[int, Any]]:
        """Uniform view: `(position, record | InvalidRow | Skip)` for both converter shapes."""
        if self.convert_stream is not None:
            yield from self.convert_stream(rows, ctx)
            return
        convert = self.convert
        assert convert is not None
        for pos, row in rows:
            try:
                out = convert(row, ctx)
            except Skip as exc:
                yield pos, exc
                continue
            except (InvalidRow, KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
                bad = (
                    exc
                    if isinstance(exc, InvalidRow)
                    else InvalidRow(f"{type(exc).__name__}: {exc}")
                )
                bad.raw = raw_text(row)  # type: ignore[attr-defined]
                yield pos, bad
                continue
            if not out:
                yield pos, Skip("no_records", "the converter produced no record for this row")
            for rec in out:
                yield pos, rec
