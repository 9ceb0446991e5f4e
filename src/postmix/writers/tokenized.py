"""The `tokenized` output: token ids and labels as Parquet (or `save_to_disk`), packed or not.

Workers spill each tokenized record as one binary entry — a JSON header line,
then its int32 arrays back to back — so the final write never parses token
lists as JSON. Columns follow what TRL consumes pre-tokenized:

- sft / text: `input_ids`, `labels` (-100 where not trained), `attention_mask`,
  `position_ids` (restarting at 0 at each packed record), `seq_lengths`, `ids`
  (record ids of the row: lineage into packing), `source`.
- preference: `prompt_ids`, `chosen_ids` and `rejected_ids` (the replies
  alone), the keys TRL 1.16's DPO collator reads, `id`, `source`.
- prompt: `prompt_ids` (ending with the generation prompt), `id`, `source`,
  and `solution` (what `trl.rewards.accuracy_reward` reads) and `answer`
  when the record has a reference answer.

`ALIASES` repeats the columns under their names of postmix 0.1
(`prompt_input_ids`, ..., the prompt sets' `input_ids`) for one release.

Packed rows are padding-free: feed them to a model without `attention_mask`
(position ids then give block-diagonal attention; see TOOLCHAIN.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from postmix.pack import pack, pack_stats
from postmix.tokenize import IGNORE, TokenizedRecord
from postmix.writers.files import atomic_path, file_sha256

ARRAYS = {
    "sft": ("input_ids", "labels"),
    "text": ("input_ids", "labels"),
    "prompt": ("input_ids",),
    "preference": ("prompt_ids", "chosen_ids", "rejected_ids"),
}
ROWS = 1024  # output rows built per Parquet write
ALIASES = {  # new name -> postmix 0.1's name, written too until the next release
    "prompt_ids": "prompt_input_ids",
    "chosen_ids": "chosen_input_ids",
    "rejected_ids": "rejected_input_ids",
}
PROMPT_IDS = "prompt_ids"  # the prompt sets' `input_ids`, under TRL's name


def encode(rec: dict[str, Any], variants: list[TokenizedRecord]) -> bytes:
    """One spill entry: a header line (id, source, kind, array lengths) + int32 arrays.

    A record rendered in several formats (`expand_formats`) keeps all its
    variants in one entry, so dedup, mixing and the split see one record.
    """
    arrays = [getattr(v, name) for v in variants for name in ARRAYS[rec["kind"]]]
    header: dict[str, Any] = {
        "id": rec["id"],
        "source": rec["source"],
        "kind": rec["kind"],
        "n": [len(a) for a in arrays],
    }
    if rec["meta"].get("answer") is not None:
        header["answer"] = rec["meta"]["answer"]
    body = b"".join(np.ascontiguousarray(a, dtype=np.int32).tobytes() for a in arrays)
    return orjson.dumps(header) + b"\n" + body


Entry = tuple[dict[str, Any], dict[str, np.ndarray]]


def decode(blob: bytes) -> list[Entry]:
    """The variants of one spill entry: (header, arrays by name) each."""
    cut = blob.index(b"\n")
    header = orjson.loads(blob[:cut])
    flat = np.frombuffer(blob, dtype=np.int32, offset=cut + 1)
    bounds = np.cumsum([0, *header["n"]])
    names = ARRAYS[header["kind"]]
    return [
        (header, {n: flat[bounds[v + i] : bounds[v + i + 1]] for i, n in enumerate(names)})
        for v in range(0, len(header["n"]), len(names))
    ]


def as_row(blob: bytes) -> dict[str, Any]:
    """A spill entry's first variant as a plain row (for examples.jsonl and the report)."""
    header, arrays = decode(blob)[0]
    row = {k: v for k, v in header.items() if k != "n"}
    row.update({k: v.tolist() for k, v in arrays.items()})
    return row


def _lists(arrays: list[np.ndarray]) -> Any:
    """A pyarrow list<int32> column from numpy arrays, without Python int lists."""
    import pyarrow as pa

    offsets = np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int32)
    values = np.concatenate(arrays) if arrays else np.zeros(0, np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values.astype(np.int32)))


def _rows_table(entries: list[Entry]) -> Any:
    """Unpacked rows: one record per row."""
    import pyarrow as pa

    kind = entries[0][0]["kind"]
    cols: dict[str, Any] = {}
    for name in ARRAYS[kind]:
        cols[name] = _lists([arrays[name] for _, arrays in entries])
        if name in ALIASES:
            cols[ALIASES[name]] = cols[name]
    if kind == "prompt":
        cols[PROMPT_IDS] = cols["input_ids"]
    if kind in ("sft", "text", "prompt"):
        ids = [arrays["input_ids"] for _, arrays in entries]
        cols["attention_mask"] = _lists([np.ones(len(a), np.int32) for a in ids])
        cols["position_ids"] = _lists([np.arange(len(a), dtype=np.int32) for a in ids])
    cols["id"] = pa.array([h["id"] for h, _ in entries])
    cols["source"] = pa.array([h["source"] for h, _ in entries])
    if kind == "prompt":
        cols["answer"] = pa.array([h.get("answer") for h, _ in entries], pa.string())
        cols["solution"] = cols["answer"]
    return pa.table(cols)


def _packed_table(bins: list[list[Entry]]) -> Any:
    """Packed rows: the records of each bin back to back, positions restarting per record."""
    import pyarrow as pa

    ids, labels, positions, lengths = [], [], [], []
    for entries in bins:
        seq = [arrays["input_ids"] for _, arrays in entries]
        lab = [arrays["labels"].copy() for _, arrays in entries]
        for one in lab[1:]:
            one[0] = IGNORE  # never predict a record's first token from the previous record
        ids.append(np.concatenate(seq))
        labels.append(np.concatenate(lab))
        positions.append(np.concatenate([np.arange(len(a), dtype=np.int32) for a in seq]))
        lengths.append(np.array([len(a) for a in seq], dtype=np.int32))
    return pa.table(
        {
            "input_ids": _lists(ids),
            "labels": _lists(labels),
            "attention_mask": _lists([np.ones(len(a), np.int32) for a in ids]),
            "position_ids": _lists(positions),
            "seq_lengths": _lists(lengths),
            "ids": pa.array(
                [[h["id"] for h, _ in entries] for entries in bins], pa.list_(pa.string())
            ),
            "source": pa.array(
                [[h["source"] for h, _ in entries] for entries in bins], pa.list_(pa.string())
            ),
        }
    )


def write(
    path: Path,
    fetch: Callable[[np.ndarray], list[bytes]],
    count: int,
    *,
    lengths: np.ndarray | None = None,
    max_length: int | None = None,
) -> tuple[int, str, dict[str, Any] | None]:
    """Rows, sha256 and packing stats of a tokenized Parquet file of `count` records.

    `fetch(positions)` returns the spill entries of those record positions. With
    `lengths` (tokens of every variant of every record, record-major) and
    `max_length`, sequences are packed best-fit decreasing into rows, read a
    group of rows at a time.
    """
    import pyarrow.parquet as pq

    tables: Iterator[Any]
    stats = None
    if lengths is not None and max_length is not None:
        bins = pack(lengths, max_length)
        stats = pack_stats(lengths, bins, max_length)
        variants = len(lengths) // count if count else 1
        tables = (
            _packed_group(fetch, bins[start : start + ROWS], variants)
            for start in range(0, len(bins), ROWS)
        )
    else:
        tables = (
            _rows_table(
                [e for b in fetch(np.arange(start, min(start + ROWS, count))) for e in decode(b)]
            )
            for start in range(0, count, ROWS)
        )
    rows = 0
    with atomic_path(path) as tmp:
        writer = None
        for table in tables:
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
            rows += table.num_rows
        if writer is None:
            pq.write_table(_empty(), tmp)
        else:
            writer.close()
        sha = file_sha256(tmp)
    return rows, sha, stats


def _packed_group(
    fetch: Callable[[np.ndarray], list[bytes]], bins: list[np.ndarray], variants: int
) -> Any:
    """Rows of a group of bins; bin items index (record position * variants + variant)."""
    items = np.concatenate(bins)
    records = np.unique(items // variants)
    decoded = dict(zip(records.tolist(), (decode(b) for b in fetch(records))))
    return _packed_table([[decoded[i // variants][i % variants] for i in b.tolist()] for b in bins])


def _empty() -> Any:
    import pyarrow as pa

    return pa.table({"input_ids": pa.array([], pa.list_(pa.int32()))})
