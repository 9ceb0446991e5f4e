"""`postmix inspect`: the manifest's main facts and a few records, in a terminal."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

ROLE_STYLE = {"system": "magenta", "user": "cyan", "assistant": "green", "tool": "yellow"}


def manifest_table(manifest: dict[str, Any]) -> Table:
    """Per-source funnel: read → invalid → dropped → duplicates → kept → mixed."""
    table = Table(title="postmix: where every record went", show_lines=False)
    for col in (
        "source",
        "converter",
        "read",
        "invalid",
        "dropped",
        "dup",
        "contam",
        "kept",
        "train",
        "val",
        "x",
    ):
        table.add_column(col, justify="left" if col in ("source", "converter") else "right")
    for name, s in manifest["sources"].items():
        mix = s.get("mix", {})
        table.add_row(
            name,
            s["converter"]
            + (
                ""
                if s.get("converter_chosen_by") == "recipe"
                else f" ({s.get('converter_chosen_by')})"
            ),
            f"{s['read']:,}",
            f"{s['invalid']:,}",
            f"{sum(s['dropped'].values()):,}",
            f"{s['duplicates']:,}",
            f"{s['contaminated']:,}",
            f"{s['kept']:,}",
            f"{mix.get('train', 0):,}",
            f"{mix.get('validation', 0):,}",
            f"{mix.get('upsampling', 0):.2f}",
        )
    return table


def iter_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of an output file (JSONL or Parquet)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            yield from batch.to_pylist()
        return
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                yield orjson.loads(line)


def conversation_of(row: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) turns of an output row of any schema, for display."""
    for key in ("messages", "conversations", "prompt"):
        value = row.get(key)
        if isinstance(value, list):
            turns = [
                (m.get("role") or m.get("from", "?"), m.get("content") or m.get("value") or "")
                for m in value
            ]
            for side in ("chosen", "rejected"):
                extra = row.get(side)
                if isinstance(extra, list):
                    turns += [(f"{side}:{m.get('role', '?')}", m.get("content", "")) for m in extra]
                elif isinstance(extra, dict):
                    turns.append((side, extra.get("value", "")))
            return turns
    if "instruction" in row:
        return [
            ("user", row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")),
            ("assistant", row["output"]),
        ]
    if "prompt" in row and "response" in row:
        return [("user", row["prompt"]), ("assistant", row["response"])]
    return [("text", str(row.get("text", row)))]


def render(row: dict[str, Any], width: int = 600) -> Panel:
    parts = []
    for role, text in conversation_of(row):
        style = ROLE_STYLE.get(role.split(":")[-1], "white")
        body = text if len(text) <= width else text[:width] + f" … (+{len(text) - width} chars)"
        parts.append(Text.assemble((f"{role}: ", f"bold {style}"), body))
    return Panel(
        Group(*parts), title=f"{row.get('source', '')} {row.get('id', '')}", title_align="left"
    )


def file_summary(path: Path, source: str | None) -> tuple[Table, list[dict[str, Any]]]:
    counts: Counter[str] = Counter()
    lengths: list[int] = []
    samples: list[dict[str, Any]] = []
    for row in iter_rows(path):
        src = row.get("source", "?")
        if source and src != source:
            continue
        counts[src] += 1
        lengths.append(sum(len(t) for _, t in conversation_of(row)))
        if len(samples) < 50:
            samples.append(row)
    table = Table(title=f"{path.name}: {sum(counts.values()):,} rows")
    table.add_column("source")
    table.add_column("rows", justify="right")
    for name, n in counts.most_common():
        table.add_row(name, f"{n:,}")
    if lengths:
        lengths.sort()
        pick = lambda q: lengths[min(len(lengths) - 1, int(q * len(lengths)))]  # noqa: E731
        table.caption = (
            f"chars per record: p50 {pick(0.5):,}  p90 {pick(0.9):,}  max {lengths[-1]:,}"
        )
    return table, samples


def inspect_path(path: Path, *, sample: int, source: str | None, console: Console) -> None:
    """Summary of an output dir (manifest + files) or of one output file."""
    if path.is_dir():
        manifest_path = path / "manifest.json"
        if not manifest_path.exists():
            raise SystemExit(f"{path} has no manifest.json: not a postmix output dir")
        manifest = orjson.loads(manifest_path.read_bytes())
        console.print(manifest_table(manifest))
        files = [path / o["path"] for o in manifest["outputs"] if (path / o["path"]).is_file()]
    else:
        files = [path]
    for f in files:
        table, samples = file_summary(f, source)
        console.print(table)
        for row in itertools.islice(samples, sample):
            console.print(render(row))
