"""The unit of parallel reading: a `Shard`, plus the errors every reader shares.

A shard names one independently readable piece of a source with plain values
only, so the planner can hand it to a worker process by pickling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from postmix.schema import InvalidRow

RAW_LIMIT = 2000  # characters of an unparseable row kept for the quarantine file


class SourceError(ValueError):
    """A source as a whole cannot be read: missing path, unknown split, unreachable hub."""


@dataclass(frozen=True)
class Shard:
    """One independently readable piece of a source; picklable and hashable.

    `start`/`end` depend on `fmt`: byte offsets cut at line starts for uncompressed
    JSONL, row-group indices for uncompressed Parquet, row indices for hub/disk
    datasets; `end=None` means "to the end". `first_row` is the row index (within
    the file or split) of the shard's first row, so rows keep file positions
    whatever the sharding.
    """

    path: str
    fmt: str  # "jsonl" | "json" | "csv" | "parquet" | "hub" | "disk"
    compression: str | None = None  # None | "gz" | "zst"
    start: int = 0
    end: int | None = None
    first_row: int = 0
    split: str | None = None  # hub/disk: split name (None: a saved single Dataset)
    hub: tuple[tuple[str, Any], ...] = ()  # frozen load_dataset kwargs

    @property
    def label(self) -> str:
        """What quarantine entries call the file: the path, or `hub_id:split`."""
        return f"{self.path}:{self.split}" if self.split is not None else self.path


def invalid_row(why: str, raw: bytes | str) -> InvalidRow:
    """An unparseable row as a value, so the pipeline quarantines it and reads on."""
    if isinstance(raw, bytes):
        raw = raw[: RAW_LIMIT * 4].decode("utf-8", "replace")
    err = InvalidRow(why)
    err.raw = raw[:RAW_LIMIT]  # type: ignore[attr-defined]
    return err
