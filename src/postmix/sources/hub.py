"""Datasets read through 🤗 `datasets`: hub ids, local dataset dirs, `save_to_disk` dirs.

`datasets` is imported inside these functions only: importing it costs about a
second and real memory in every worker that reads plain files. Remote code is
never run (`trust_remote_code` is not passed). Non-streaming splits are cut into
row ranges; a streaming split is one shard.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Iterator
from itertools import chain, count, islice
from typing import Any
from urllib.parse import urlparse

from postmix.sources.shards import Shard, SourceError

BATCH = 1000
PROBE_TIMEOUT_S = 3.0


def is_saved_dataset(path: str) -> bool:
    """Whether `path` was written by `Dataset.save_to_disk` or `DatasetDict.save_to_disk`."""
    return any(os.path.isfile(os.path.join(path, f)) for f in ("dataset_dict.json", "state.json"))


def hub_kwargs(
    subset: str | None, revision: str | None, streaming: bool, data_files: Any
) -> tuple[tuple[str, Any], ...]:
    """load_dataset kwargs frozen into a hashable tuple for `Shard.hub`."""
    given = {"name": subset, "revision": revision, "data_files": _freeze(data_files)}
    frozen = tuple((k, v) for k, v in given.items() if v is not None)
    return (*frozen, ("streaming", True)) if streaming else frozen


def plan_saved(path: str, *, splits: list[str] | None, shard_rows: int, whole: bool) -> list[Shard]:
    """Shards of a save_to_disk dir (a single saved Dataset has one unnamed split)."""
    import datasets

    ds = datasets.load_from_disk(path)
    sizes = {name: len(d) for name, d in ds.items()} if hasattr(ds, "items") else {None: len(ds)}
    chosen = _pick_splits(path, sizes, splits) if None not in sizes else [None]
    return _row_shards(path, "disk", (), sizes, chosen, shard_rows, whole)


def plan_hub(
    source: str,
    *,
    splits: list[str] | None,
    hub: tuple[tuple[str, Any], ...],
    shard_rows: int,
    whole: bool,
    remote: bool,
) -> list[Shard]:
    """Shards of `load_dataset(source)`: a hub id (`remote`) or a local dataset dir."""
    import datasets

    if remote and source not in _packaged_builders():
        _check_hub_reachable(source)
    try:
        dd = datasets.load_dataset(source, **_load_kwargs(hub))
    except Exception as exc:
        raise SourceError(f"cannot load {source!r} with datasets.load_dataset: {exc}") from exc
    streaming = dict(hub).get("streaming", False)
    sizes: dict[str | None, int | None] = {
        name: None if streaming else len(d) for name, d in dd.items()
    }
    chosen = _pick_splits(source, sizes, splits)
    return _row_shards(source, "hub", hub, sizes, chosen, shard_rows, whole)


def read(shard: Shard) -> Iterator[tuple[int, Any]]:
    """(row within the split, row dict) of a hub/disk shard, converted from Arrow per batch."""
    ds = _open_split(shard)
    if dict(shard.hub).get("streaming", False):
        yield from zip(count(shard.start), islice(ds, shard.start, shard.end))
        return
    end = len(ds) if shard.end is None else shard.end
    if (shard.start, end) != (0, len(ds)):
        ds = ds.select(range(shard.start, end))
    tables = ds.with_format("arrow").iter(batch_size=BATCH)
    yield from zip(count(shard.start), chain.from_iterable(t.to_pylist() for t in tables))


def _open_split(shard: Shard) -> Any:
    import datasets

    if shard.fmt == "disk":
        ds = datasets.load_from_disk(shard.path)
        return ds if shard.split is None else ds[shard.split]
    return datasets.load_dataset(shard.path, split=shard.split, **_load_kwargs(shard.hub))


def _pick_splits(
    source: str, sizes: dict[str | None, int | None], wanted: list[str] | None
) -> list[str | None]:
    if wanted is None:
        return list(sizes)
    unknown = [s for s in wanted if s not in sizes]
    if unknown:
        available = ", ".join(str(s) for s in sizes)
        raise SourceError(f"{source!r} has no split {unknown[0]!r}; available: {available}")
    return list(wanted)


def _row_shards(
    path: str,
    fmt: str,
    hub: tuple[tuple[str, Any], ...],
    sizes: dict[str | None, int | None],
    chosen: list[str | None],
    shard_rows: int,
    whole: bool,
) -> list[Shard]:
    """Row ranges of `shard_rows` per split; one shard per split when whole or streaming."""
    shards = []
    for split in chosen:
        n = sizes[split]
        if whole or n is None:
            shards.append(Shard(path, fmt, split=split, hub=hub))
            continue
        shards.extend(
            Shard(path, fmt, start=s, end=min(s + shard_rows, n), first_row=s, split=split, hub=hub)
            for s in range(0, n, shard_rows)
        )
    return shards


def _check_hub_reachable(source: str) -> None:
    """Fail fast with a clear message instead of huggingface_hub's minute of retries."""
    from huggingface_hub import constants

    if constants.is_offline_mode():
        return  # load_dataset then reads the local cache or fails at once
    endpoint = urlparse(constants.ENDPOINT)
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    if not _reachable(host, port):
        raise SourceError(
            f"cannot load {source!r}: it is not a local path and the Hugging Face Hub "
            f"({host}) cannot be reached; set HF_HUB_OFFLINE=1 to use a cached copy"
        )


@functools.cache
def _reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError:
        return False
    return True


@functools.cache
def _packaged_builders() -> frozenset[str]:
    """Builder names such as "json" or "parquet": load_dataset runs them locally on data_files."""
    from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES

    return frozenset(_PACKAGED_DATASETS_MODULES)


def _load_kwargs(hub: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {k: _thaw(v) if k == "data_files" else v for k, v in hub}


def _freeze(value: Any) -> Any:
    """data_files (str, list, or dict of str/list) as nested tuples, so a Shard stays hashable."""
    if isinstance(value, dict):
        return tuple((k, _freeze(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return value


def _thaw(value: Any) -> Any:
    """Inverse of `_freeze`: a tuple of pairs was a dict, any other tuple a list."""
    if isinstance(value, tuple):
        if value and all(isinstance(v, tuple) for v in value):
            return {k: _thaw(v) for k, v in value}
        return list(value)
    return value
