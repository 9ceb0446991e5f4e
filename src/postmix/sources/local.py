"""Local data files: JSONL, JSON, CSV and Parquet, each optionally gzip or zstd compressed.

Every reader streams with flat memory, except `.json`: a JSON document is parsed
whole with orjson when it is at most `JSON_WHOLE_LIMIT` bytes (uncompressed);
a larger one must be a top-level array and is streamed with `ijson` when that
package is installed (otherwise the error says to install it or convert to JSONL).

Row indices: JSONL rows are line indices (blank lines count but yield nothing);
CSV rows are record indices after the header (blank records count likewise);
JSON and Parquet rows are element / table row indices.
"""

from __future__ import annotations

import csv
import io
import mmap
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from itertools import accumulate, chain, count, pairwise
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import orjson

from postmix.sources.compressed import open_compressed
from postmix.sources.shards import Shard, SourceError, invalid_row

if TYPE_CHECKING:
    import pyarrow.parquet as pq

BLOCK = 256 << 10  # bytes per read: per-block Python work is negligible, and blocks stay in cache
CUT_WINDOW = 64 << 10  # bytes read at a time looking for the line start after a cut
JSON_WHOLE_LIMIT = 256 << 20
PARQUET_BATCH = 4096
CSV_FIELD_LIMIT = 1 << 30  # the csv default (128 KiB) is smaller than real long answers

_COMPRESSIONS = {".gz": "gz", ".zst": "zst", ".zstd": "zst"}
_FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
}
_BOM = b"\xef\xbb\xbf"
# Keys of a top-level JSON object that make it a dict of splits ({"train": [...]}) rather
# than one record ({"conversations": [...]}): split names, optionally suffixed (train_sft).
_SPLIT_KEY = re.compile(
    r"(train|test|valid|validation|val|dev|eval|evaluation|data)([_-]\w+)?", re.IGNORECASE
)
# Keys that make a list of objects a conversation's turns rather than rows of a dataset.
_TURN_KEYS = frozenset({"role", "from"})
# Bytes of invalid UTF-8, as the "surrogateescape" decoder keeps them.
_BAD_UTF8 = re.compile("[\udc80-\udcff]")

Rows = Iterator[tuple[int, Any]]


def file_format(path: str) -> tuple[str, str | None] | None:
    """(format, compression) named by the file's extensions, or None when it is no data file."""
    stem, ext = os.path.splitext(path.lower())
    compression = _COMPRESSIONS.get(ext)
    if compression:
        stem, ext = os.path.splitext(stem)
    fmt = _FORMATS.get(ext)
    return (fmt, compression) if fmt else None


def plan_file(path: str, *, shard_bytes: int, shard_rows: int, whole: bool) -> list[Shard]:
    """Shards of one file; only uncompressed JSONL and Parquet can be cut without reading all."""
    found = file_format(path)
    if found is None:
        kinds = ", ".join(_FORMATS)
        raise SourceError(f"{path}: unsupported file type (expected {kinds}, optionally .gz/.zst)")
    fmt, compression = found
    if whole or compression:
        return [Shard(path, fmt, compression)]
    if fmt == "jsonl":
        return _jsonl_shards(path, shard_bytes)
    if fmt == "parquet":
        return _parquet_shards(path, shard_rows)
    return [Shard(path, fmt)]


def read(shard: Shard) -> Rows:
    """(row, value) of every row of a local-file shard."""
    return _READERS[shard.fmt](shard)


def _open(path: str, compression: str | None) -> IO[bytes]:
    """The file's bytes; compressed data is verified to its end (damage is a SourceError)."""
    if compression:
        return open_compressed(path, compression)
    return open(path, "rb")


def _blocks(f: IO[bytes], limit: int | None = None) -> Iterator[bytes]:
    """Reads of up to BLOCK bytes, `limit` bytes in all (decompressors may return short reads)."""
    while limit is None or limit > 0:
        block = f.read(BLOCK if limit is None else min(BLOCK, limit))
        if not block:
            return
        if limit is not None:
            limit -= len(block)
        yield block


# --- JSONL ---------------------------------------------------------------------------------


def _jsonl_shards(path: str, shard_bytes: int) -> list[Shard]:
    size = os.path.getsize(path)
    starts = _line_starts(path, size, shard_bytes) if size > shard_bytes else [(0, 0)]
    ends = [offset for offset, _ in starts[1:]] + [None]
    return [
        Shard(path, "jsonl", start=offset, end=end, first_row=row)
        for (offset, row), end in zip(starts, ends)
    ]


def _line_starts(path: str, size: int, every: int) -> list[tuple[int, int]]:
    """(byte offset, line index) of each shard start.

    A shard starts at the first line start at least `every` bytes after the previous
    one, so the cuts depend on the file alone, and finding one reads only the bytes
    up to the next b"\\n". Line indices count every b"\\n", as `read` does, blank lines
    included: the ranges between cuts are counted in threads (numpy's compare and
    count release the GIL), since counting is all of the plan's reading.
    """
    cuts = [0]
    with open(path, "rb", buffering=0) as f:
        while (target := cuts[-1] + every) < size:
            start = _line_after(f.fileno(), target - 1)
            if start is None or start >= size:
                break
            cuts.append(start)
    ranges = list(pairwise(cuts))
    with ThreadPoolExecutor(max(1, min(len(ranges), os.cpu_count() or 1))) as pool:
        counts = pool.map(lambda r: _newlines(path, *r), ranges)
        return list(zip(cuts, accumulate(counts, initial=0)))


def _line_after(fd: int, pos: int) -> int | None:
    """The offset just past the first b"\\n" at or after `pos` (None when there is none)."""
    while chunk := os.pread(fd, CUT_WINDOW, pos):
        nl = chunk.find(b"\n")
        if nl >= 0:
            return pos + nl + 1
        pos += len(chunk)
    return None


def _newlines(path: str, start: int, end: int) -> int:
    """How many b"\\n" bytes [start, end) of the file holds.

    The buffers are mapped for the call, not allocated: freed heap would stay in
    the thread's malloc arena, and every worker forked later would count it again.
    """
    total = 0
    with open(path, "rb", buffering=0) as f, mmap.mmap(-1, 2 * BLOCK) as buf:
        data = np.frombuffer(buf, np.uint8, BLOCK)
        flags = np.frombuffer(buf, np.bool_, BLOCK, BLOCK)
        f.seek(start)
        while start < end and (got := f.readinto(data[: min(BLOCK, end - start)])):
            total += int(np.count_nonzero(np.equal(data[:got], 10, out=flags[:got])))
            start += got
        del data, flags  # the map closes only once no array uses it
    return total


def _jsonl_rows(shard: Shard) -> Rows:
    with closing(jsonl_blocks(shard)) as blocks:  # closing the rows closes the file
        for block in blocks:
            yield from block


def jsonl_blocks(shard: Shard) -> Iterator[list[tuple[int, Any]]]:
    """(row, value) of the lines of the shard's byte range, one list per block read.

    The hot path is one list comprehension of orjson.loads per block; only a block
    holding a blank or bad line falls back to line-by-line parsing.
    """
    loads = orjson.loads
    row = shard.first_row
    pending: list[bytes] = []  # pieces of a line not yet ended by b"\n"
    with _open(shard.path, shard.compression) as f:
        if shard.start:
            f.seek(shard.start)
        limit = None if shard.end is None else shard.end - shard.start
        for block in _blocks(f, limit):
            lines = block.split(b"\n")
            if len(lines) == 1:
                pending.append(block)
                continue
            if pending:
                pending.append(lines[0])
                lines[0] = b"".join(pending)
            last = lines.pop()
            pending = [last] if last else []
            try:
                values = [loads(line) for line in lines]
            except orjson.JSONDecodeError:
                yield list(_parse_each(lines, row))
            else:
                yield list(zip(range(row, row + len(lines)), values))
            row += len(lines)
    if pending:
        yield list(_parse_each([b"".join(pending)], row))


def _parse_each(lines: list[bytes], row: int) -> Rows:
    """Slow path: skip blank lines, tolerate a UTF-8 BOM, turn bad lines into InvalidRow."""
    for i, line in enumerate(lines, row):
        text = line.strip().removeprefix(_BOM)
        if not text:
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            yield i, invalid_row(f"invalid JSON line: {exc}", line)
            continue
        yield i, value


# --- JSON ----------------------------------------------------------------------------------


def _json_rows(shard: Shard) -> Rows:
    if shard.compression is None and os.path.getsize(shard.path) > JSON_WHOLE_LIMIT:
        yield from _json_stream(shard)
        return
    with _open(shard.path, shard.compression) as f:
        data = b"".join(_blocks(f, JSON_WHOLE_LIMIT + 1))
    if len(data) > JSON_WHOLE_LIMIT:
        del data
        yield from _json_stream(shard)
        return
    try:
        doc = orjson.loads(data.removeprefix(_BOM))
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"{shard.path}: not a valid JSON document ({exc})") from exc
    del data
    yield from enumerate(_document_rows(doc))


def _document_rows(doc: Any) -> Iterator[Any]:
    """Rows of a parsed JSON file: an array's items, a dict of split arrays, an object
    holding one list of row objects (`{"rows": [...]}`), or one object (a record)."""
    if isinstance(doc, list):
        return iter(doc)
    if (
        isinstance(doc, dict)
        and doc
        and all(isinstance(v, list) and _SPLIT_KEY.fullmatch(k) for k, v in doc.items())
    ):
        return chain.from_iterable(doc.values())
    if isinstance(doc, dict) and len(doc) == 1:
        (items,) = doc.values()
        if _is_row_list(items):
            return iter(items)
    return iter((doc,))


def _is_row_list(items: Any) -> bool:
    """A non-empty list of objects none of which is a chat turn (those make one record)."""
    return (
        isinstance(items, list)
        and bool(items)
        and all(isinstance(x, dict) and not _TURN_KEYS & x.keys() for x in items)
    )


def _json_stream(shard: Shard) -> Rows:
    """Items of a JSON array too big to parse at once, streamed with ijson."""
    size = f"over {JSON_WHOLE_LIMIT / 2**20:g} MiB"
    try:
        import ijson
    except ImportError as exc:
        raise SourceError(
            f"{shard.path} is {size}: install ijson to stream it, or convert it to JSONL"
        ) from exc
    with _open(shard.path, shard.compression) as f:
        head = f.read(64 << 10).lstrip()[:1]
    if head != b"[":
        raise SourceError(
            f"{shard.path} is {size} and not a top-level array, so it cannot be streamed: "
            "convert it to JSONL"
        )
    with _open(shard.path, shard.compression) as f:
        try:
            yield from enumerate(ijson.items(f, "item", use_float=True))
        except ijson.JSONError as exc:
            raise SourceError(f"{shard.path}: not a valid JSON document ({exc})") from exc


# --- CSV -----------------------------------------------------------------------------------


def _csv_rows(shard: Shard) -> Rows:
    """Records as dicts of strings keyed by the header; a record of another width, or with
    bytes that are not UTF-8, is invalid (the bad bytes read as U+FFFD in its raw text)."""
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    with (
        _open(shard.path, shard.compression) as raw,
        io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="") as text,
    ):
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return
        if _BAD_UTF8.search("".join(header)):
            raise SourceError(f"{shard.path}: the CSV header is not valid UTF-8")
        for row, values in enumerate(reader):
            if not values:
                continue
            record = ",".join(values)
            if _BAD_UTF8.search(record):
                shown = record.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                yield row, invalid_row("invalid UTF-8 in CSV record", shown)
            elif len(values) == len(header):
                yield row, dict(zip(header, values))
            else:
                why = f"CSV record has {len(values)} fields, the header has {len(header)}"
                yield row, invalid_row(why, record)


# --- Parquet -------------------------------------------------------------------------------


def _parquet_shards(path: str, shard_rows: int) -> list[Shard]:
    """Runs of whole row groups of at least `shard_rows` rows (the last may be smaller)."""
    import pyarrow.parquet as pq

    with _parquet_errors(path):
        meta = pq.read_metadata(path)
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    shards: list[Shard] = []
    start = first_row = rows = 0
    for i, n in enumerate(sizes):
        rows += n
        if rows >= shard_rows or i == len(sizes) - 1:
            shards.append(Shard(path, "parquet", start=start, end=i + 1, first_row=first_row))
            start, first_row, rows = i + 1, first_row + rows, 0
    return shards or [Shard(path, "parquet")]


def _parquet_rows(shard: Shard) -> Rows:
    with _parquet_errors(shard.path), _parquet_file(shard) as pf:
        end = pf.num_row_groups if shard.end is None else shard.end
        batches = pf.iter_batches(batch_size=PARQUET_BATCH, row_groups=range(shard.start, end))
        yield from zip(count(shard.first_row), chain.from_iterable(b.to_pylist() for b in batches))


@contextmanager
def _parquet_errors(path: str) -> Iterator[None]:
    """pyarrow's errors on a damaged file, as a SourceError that names the file."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(f"{path}: not a readable Parquet file ({exc})") from exc


@contextmanager
def _parquet_file(shard: Shard) -> Iterator[pq.ParquetFile]:
    """The shard's ParquetFile; a compressed one is first inflated to a temporary file
    (Parquet needs random access)."""
    import pyarrow.parquet as pq

    if shard.compression is None:
        with pq.ParquetFile(shard.path) as pf:
            yield pf
        return
    with _open(shard.path, shard.compression) as src, tempfile.TemporaryFile() as tmp:
        shutil.copyfileobj(src, tmp, BLOCK)
        tmp.seek(0)
        with pq.ParquetFile(tmp) as pf:
            yield pf


_READERS: dict[str, Callable[[Shard], Rows]] = {
    "jsonl": _jsonl_rows,
    "json": _json_rows,
    "csv": _csv_rows,
    "parquet": _parquet_rows,
}
