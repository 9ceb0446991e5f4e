"""Writing output rows to Parquet or a `save_to_disk` dataset, atomically (JSONL: engine/gather.py).

Rows arrive as serialized JSON lines (the spill format), in chunks. Every
file is written to a temporary name in the same folder and renamed at the
end, so a crash never leaves a half-written output behind a valid name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

Chunks = Callable[[], Iterable[list[bytes]]]


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` that replaces it only if the block succeeds.

    It lives in a fresh private dir made by `tempfile.mkdtemp` (created
    exclusively, unpredictable name), so a planted symlink can never redirect
    the write; the block may create a file or a dir there.
    """
    holder = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    tmp = holder / path.name
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        shutil.rmtree(holder, ignore_errors=True)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


# Tool schemas and tool calls hold free-form objects (`parameters`, `arguments`) whose keys
# differ from row to row. One Arrow struct for all of them would give every call every
# argument name (null-filled) and fail on conflicting types, so each tool and each call is
# one value of Arrow's JSON type (Parquet's JSON logical type): `datasets` reads the columns
# as `List(Json())` and hands back the objects as written, the form HF documents for tool data.
# Message structs stay typed: a message reads back with null for keys only other messages have
# (`tool_calls: None` on a plain turn), which `trl.trainer.utils.remove_none_values` strips.
JSON_LISTS: frozenset[str] = frozenset({"tools", "tool_calls"})
_CHATS = ("messages", "prompt", "chosen", "rejected", "completion", "conversations")


def _json_items(value: Any) -> Any:
    return [orjson.dumps(v).decode() for v in value] if isinstance(value, list) else value


def _arrow_ready(row: dict[str, Any]) -> dict[str, Any]:
    """The row with each tool schema and tool call as JSON text (typed JSON by `arrow_schema`)."""
    if "tools" in row:
        row["tools"] = _json_items(row["tools"])
    for key in _CHATS:
        chat = row.get(key)
        if not isinstance(chat, list):
            continue
        for m in chat:
            if isinstance(m, dict) and "tool_calls" in m:
                m["tool_calls"] = _json_items(m["tool_calls"])
    return row


def _retype(t: Any, name: str, json: bool) -> Any:
    """`t` with the `JSON_LISTS` fields' items typed JSON (or back to their string storage)."""
    import pyarrow as pa

    if pa.types.is_list(t) or pa.types.is_large_list(t):
        item = t.value_type
        if name in JSON_LISTS and json and pa.types.is_string(item):
            item = pa.json_()
        elif not json and isinstance(item, pa.JsonType):
            item = pa.string()
        else:
            item = _retype(item, "", json)
        return pa.list_(item) if pa.types.is_list(t) else pa.large_list(item)
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_retype(f.type, f.name, json)) for f in t])
    return t


def _schema_retyped(schema: Any, json: bool) -> Any:
    import pyarrow as pa

    return pa.schema([f.with_type(_retype(f.type, f.name, json)) for f in schema])


def _ready(chunks: Chunks) -> Iterator[list[dict[str, Any]]]:
    for chunk in chunks():
        yield [_arrow_ready(orjson.loads(x)) for x in chunk]


def arrow_schema(*all_chunks: Chunks) -> Any:
    """One schema for every row of every split: rows differ in optional fields (tools,
    system, history), and `pa.array` infers a struct type from the union of keys; tool
    schemas and calls are lists of JSON values."""
    import pyarrow as pa

    types = [pa.array(rows).type for chunks in all_chunks for rows in _ready(chunks) if rows]
    if not types:
        return pa.schema([])
    schemas = [pa.schema(list(t)) for t in types]
    return _schema_retyped(pa.unify_schemas(schemas, promote_options="permissive"), json=True)


def write_parquet(path: Path, chunks: Chunks, schema: Any) -> tuple[int, str]:
    """Rows and sha256 of a Parquet file with `arrow_schema`'s types (tools and calls as JSON)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    storage = _schema_retyped(schema, json=False)
    rows = 0
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, schema) as writer:
            for chunk in _ready(chunks):
                if chunk:
                    table = pa.Table.from_pylist(chunk, schema=storage).cast(schema)
                    writer.write_table(table)
                    rows += len(chunk)
        sha = file_sha256(tmp)
    return rows, sha


def write_disk(path: Path, splits: dict[str, Path]) -> dict[str, int]:
    """A `save_to_disk` DatasetDict built from already written JSONL or Parquet splits.

    `load_dataset` converts through a cache; that cache lives beside `path` for this
    call only, or a full copy of the data would stay in ~/.cache/huggingface.
    """
    from datasets import DatasetDict, load_dataset

    data = {name: str(p) for name, p in splits.items() if p.stat().st_size > 0}
    builder = "parquet" if any(p.suffix == ".parquet" for p in splits.values()) else "json"
    with tempfile.TemporaryDirectory(prefix=".postmix-cache-", dir=path.parent) as cache:
        dd = load_dataset(builder, data_files=data, cache_dir=cache) if data else DatasetDict()
        with atomic_path(path) as tmp:
            DatasetDict(dd).save_to_disk(str(tmp))
        counts = {name: len(ds) for name, ds in dd.items()}
        del dd
    return counts
