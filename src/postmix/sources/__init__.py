"""Source readers: plan a source into picklable shards, read each shard in any process.

A source is a local file, a glob of files (sorted), a `save_to_disk` directory, a
local dataset directory for `load_dataset`, or a hub id. `plan` never depends on
the number of processes, and `read` yields `(row, value)` with `row` the row's
position in its file or split, so quarantine entries and per-record seeds are the
same however the work is spread. Unparseable rows come back as `InvalidRow`
values (with `.raw`), never as exceptions.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from contextlib import closing
from itertools import islice
from typing import Any

from postmix.schema import InvalidRow
from postmix.sources import hub as _hub
from postmix.sources import local as _local
from postmix.sources.shards import Shard, SourceError

__all__ = ["Shard", "SourceError", "columns", "looks_like_path", "plan", "read", "read_blocks"]

RUN = 1024  # rows per block of `read_blocks` for formats read row by row
DataFiles = str | list[str] | dict[str, str | list[str]] | None


def plan(
    source: str,
    *,
    splits: list[str] | None = None,
    subset: str | None = None,
    revision: str | None = None,
    streaming: bool = False,
    data_files: DataFiles = None,
    shard_bytes: int = 64 << 20,
    shard_rows: int = 250_000,
    whole: bool = False,
) -> list[Shard]:
    """Shards of a source in a fixed order.

    Local files are cut into byte ranges of about `shard_bytes` (uncompressed JSONL)
    or runs of row groups of about `shard_rows` rows (uncompressed Parquet); other
    files are one shard each. Non-streaming datasets are cut into `shard_rows` row
    ranges per split, streaming ones are one shard per split. `whole=True` gives one
    shard per file or split. `splits` selects dataset splits (all, in order, when
    None); `subset`, `revision`, `streaming` and `data_files` go to `load_dataset`.
    Local files have no splits and ignore these.
    """
    path = os.path.expanduser(source)
    targets = [path]
    if any(c in path for c in "*?["):
        targets = sorted(glob.glob(path, recursive=True))
        if not targets:
            raise SourceError(f"no files match {source!r}")
    hub = _hub.hub_kwargs(subset, revision, streaming, data_files)
    return [
        shard
        for target in targets
        for shard in _plan_one(target, splits, hub, shard_bytes, shard_rows, whole)
    ]


def read(shard: Shard) -> Iterator[tuple[int, Any]]:
    """(row, value) for every row of the shard; `row` is 0-based within the file or split.

    JSONL rows are line indices (blank lines are skipped but counted). A row that
    cannot be parsed yields `(row, InvalidRow)` whose `raw` holds its text.
    """
    if shard.fmt in ("hub", "disk"):
        return _hub.read(shard)
    return _local.read(shard)


def read_blocks(shard: Shard) -> Iterator[list[tuple[int, Any]]]:
    """`read`, a list of rows at a time: a JSONL file's rows as each block of it is parsed,
    other formats' in runs of RUN rows (for loops that work a block at a time)."""
    if shard.fmt == "jsonl":
        return _local.jsonl_blocks(shard)
    rows = read(shard)
    return iter(lambda: list(islice(rows, RUN)), [])


def columns(source: str, **kwargs: Any) -> set[str] | None:
    """Keys of the first readable row (None when there is none or it is not an object).

    Takes `plan`'s keyword arguments; reads one row, except that a `.json` file is
    parsed whole.
    """
    for shard in plan(source, **{**kwargs, "whole": True}):
        with closing(read(shard)) as rows:  # type: ignore[type-var]
            for _, value in rows:
                if not isinstance(value, InvalidRow):
                    return set(value) if isinstance(value, dict) else None
    return None


def _plan_one(
    path: str,
    splits: list[str] | None,
    hub: tuple[tuple[str, Any], ...],
    shard_bytes: int,
    shard_rows: int,
    whole: bool,
) -> list[Shard]:
    if os.path.isfile(path):
        return _local.plan_file(path, shard_bytes=shard_bytes, shard_rows=shard_rows, whole=whole)
    if os.path.isdir(path):
        if _hub.is_saved_dataset(path):
            return _hub.plan_saved(path, splits=splits, shard_rows=shard_rows, whole=whole)
        return _hub.plan_hub(
            path, splits=splits, hub=hub, shard_rows=shard_rows, whole=whole, remote=False
        )
    if looks_like_path(path):
        raise SourceError(f"{path}: no such file or directory")
    return _hub.plan_hub(
        path, splits=splits, hub=hub, shard_rows=shard_rows, whole=whole, remote=True
    )


def looks_like_path(source: str) -> bool:
    """A missing local path, as opposed to a hub id ("owner/name" or "name")."""
    return (
        os.path.isabs(source)
        or source.startswith((".", "~"))
        or source.count("/") > 1
        or _local.file_format(source) is not None
    )
