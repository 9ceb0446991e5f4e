"""A few records per source and bucket (kept, each drop reason, duplicate, contaminated, invalid).

`examples.jsonl` carries records with their content. Where it is absent, or
misses a bucket (converter skips have no record), kept rows come from the
output sample and the others from `removed.jsonl` / `quarantine.jsonl`, which
say where the record was and why it left, without its content.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from postmix.report import rows
from postmix.report.stats import Sample
from postmix.report.tokens import Decode, TokenView, is_tokenized, view

PER_BUCKET = 3
MAX_CHARS = 1500  # per shown turn; longer text is cut with a note of how much is left


@dataclass(frozen=True)
class Example:
    """One shown record. `turns` is empty when only its location is known."""

    bucket: str  # kept | dropped:<reason> | duplicate | contaminated:<benchmark> | invalid
    turns: list[rows.Turn]
    record_id: str | None = None
    detail: str | None = None
    where: str | None = None  # file and row, when the content is not available
    of: list[rows.Turn] | None = None  # the kept record a duplicate repeats
    of_label: str | None = None
    match: dict[str, Any] | None = None  # benchmark item a contaminated record overlaps
    tokens: TokenView | None = None  # a tokenized record: decoded runs, trained ones marked


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                yield orjson.loads(line)


def _bucket_of_reason(reason: str) -> str:
    if reason == "duplicate" or reason.startswith("contaminated"):
        return reason
    return f"dropped:{reason}"


def _family(bucket: str) -> str:
    """Contaminated buckets (one per benchmark) count as one when looking for examples."""
    return "contaminated" if bucket.startswith("contaminated") else bucket


def _where(entry: dict[str, Any]) -> str:
    return f"{Path(str(entry.get('file', '?'))).name}, row {entry.get('row', '?')}"


def _content(record: dict[str, Any], decode: Decode | None) -> tuple[list[rows.Turn], Any]:
    """(turns, token view) of a record: a tokenized one decoded (its text as one turn, for
    the Markdown report) when a tokenizer is at hand."""
    if decode is None or not is_tokenized(record):
        return rows.turns(record), None
    tv = view(record, decode)
    if tv is None:
        return [], None
    text = "\n\n".join("".join(r.text for r in runs) for _, runs in tv.parts)
    return [rows.Turn("tokens", text)], tv


def _from_examples(line: dict[str, Any], decode: Decode | None = None) -> Example:
    record = line.get("record") or {}
    of = line.get("of")
    turns, tv = _content(record, decode)
    return Example(
        bucket=line["bucket"],
        turns=turns,
        record_id=record.get("id"),
        detail=line.get("detail"),
        of=rows.turns(of) if isinstance(of, dict) else None,
        of_label=of.get("id") if isinstance(of, dict) else None,
        match=line.get("match"),
        tokens=tv,
    )


def _from_removed(entry: dict[str, Any]) -> Example:
    of = entry.get("of")
    return Example(
        bucket=_bucket_of_reason(str(entry.get("reason"))),
        turns=[],
        record_id=entry.get("id"),
        detail=entry.get("detail"),
        where=_where(entry),
        of_label=f"{of} ({entry.get('of_source')})" if of else None,
    )


def _from_quarantine(entry: dict[str, Any]) -> Example:
    raw = entry.get("raw")
    return Example(
        bucket="invalid",
        turns=[rows.Turn("raw", raw)] if isinstance(raw, str) else [],
        detail=entry.get("error"),
        where=_where(entry),
    )


Collected = dict[str, dict[str, list[Example]]]


def _take(
    entries: Iterator[dict[str, Any]], need: dict[Any, int], key: Callable[[dict[str, Any]], Any]
) -> Iterator[dict[str, Any]]:
    """The first `need[k]` entries of each key k, reading no further than that takes.

    removed.jsonl and quarantine.jsonl can hold millions of lines; a few are shown.
    """
    if not any(need.values()):
        return
    for entry in entries:
        k = key(entry)
        if need.get(k):
            need[k] -= 1
            yield entry
            if not any(need.values()):
                return


def _add(out: Collected, source: str, ex: Example, per_bucket: int) -> None:
    shown = out.setdefault(source, {}).setdefault(ex.bucket, [])
    if len(shown) < per_bucket:
        shown.append(ex)


def collect(
    out_dir: Path,
    manifest: dict[str, Any],
    sample: Sample,
    per_bucket: int = PER_BUCKET,
    decode: Decode | None = None,
) -> Collected:
    """source → bucket → examples, buckets ordered kept, drops, duplicate, contaminated, invalid.

    `decode` (the output's tokenizer) shows tokenized records as text with their
    trained tokens marked."""
    side = manifest.get("side_files", {})
    found: Collected = {}
    for line in _jsonl(out_dir / side.get("examples", "examples.jsonl")):
        _add(found, line["source"], _from_examples(line, decode), per_bucket)
    for name, first in sample.first.items():
        if "kept" not in found.get(name, {}):
            for row in first[:per_bucket]:
                turns, tv = _content(row, decode)
                _add(found, name, Example("kept", turns, row.get("id"), tokens=tv), per_bucket)
    need = {
        (name, bucket): min(per_bucket, bucket_count(s, bucket))
        for name, s in manifest["sources"].items()
        for bucket in [*(f"dropped:{r}" for r in s.get("dropped", {})), "duplicate", "contaminated"]
        if not any(_family(b) == bucket for b in found.get(name, {}))
    }
    removed = _jsonl(out_dir / side.get("removed", "removed.jsonl"))
    key = lambda e: (e.get("source"), _family(_bucket_of_reason(e["reason"])))  # noqa: E731
    for entry in _take(removed, need, key):
        _add(found, entry["source"], _from_removed(entry), per_bucket)
    invalid = {
        n: min(per_bucket, bucket_count(s, "invalid")) for n, s in manifest["sources"].items()
    }
    quarantine = _jsonl(out_dir / side.get("quarantine", "quarantine.jsonl"))
    for entry in _take(quarantine, invalid, lambda e: e.get("source")):
        _add(found, entry["source"], _from_quarantine(entry), per_bucket)
    return {name: _ordered(found.get(name, {}), s) for name, s in manifest["sources"].items()}


def _ordered(buckets: dict[str, list[Example]], source: dict[str, Any]) -> dict[str, list[Example]]:
    """kept, drops in the manifest's order, duplicate, contaminated, invalid."""
    drops = [f"dropped:{r}" for r in source.get("dropped", {})]

    def rank(bucket: str) -> tuple[int, int, str]:
        if bucket in drops:
            return 1, drops.index(bucket), ""
        family = bucket_kind(bucket)
        order = ("kept", "dropped", "duplicate", "contaminated", "invalid")
        return (order.index(family) if family in order else len(order)), 0, bucket

    return dict(sorted(buckets.items(), key=lambda kv: rank(kv[0])))


def clip(text: str, limit: int = MAX_CHARS) -> tuple[str, int]:
    """Text cut to `limit` characters, and how many were cut."""
    return (text, 0) if len(text) <= limit else (text[:limit], len(text) - limit)


def bucket_kind(bucket: str) -> str:
    """kept, dropped, duplicate, contaminated or invalid: the bucket's family, for styling."""
    return bucket.split(":", 1)[0]


def bucket_count(source: dict[str, Any], bucket: str) -> int:
    """How many records of the source the manifest puts in the bucket."""
    kind = bucket_kind(bucket)
    if kind == "dropped":
        return int(source.get("dropped", {}).get(bucket.removeprefix("dropped:"), 0))
    value = source.get({"duplicate": "duplicates"}.get(kind, kind))
    if isinstance(value, dict):  # per-benchmark counts
        benchmark = bucket.partition(":")[2]
        value = value.get(benchmark, 0) if benchmark else sum(value.values())
    return int(value or 0)
