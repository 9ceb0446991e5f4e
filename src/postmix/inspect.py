"""`postmix inspect`: the report's main facts and a few records, in a terminal.

Rows are read and turned into chat turns by `report.rows` / `report.stats`, and
the funnel is the report's own table, so the terminal and the HTML report never
disagree about what a row holds.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from postmix.report import rows
from postmix.report.stats import iter_rows
from postmix.report.summary import funnel_table, in_recipe_order
from postmix.report.terminal import rich_table

ROLE_STYLE = {"system": "magenta", "user": "cyan", "assistant": "green", "tool": "yellow"}


def manifest_table(manifest: dict[str, Any]) -> Table:
    """Per-source funnel: read → invalid → dropped → duplicates → kept → mixed."""
    return rich_table(funnel_table(in_recipe_order(manifest)), "postmix: where every record went")


def render(row: dict[str, Any], width: int = 600) -> Panel:
    """A row of any output schema as a chat panel."""
    parts = []
    for turn in rows.turns(row):
        label = f"{turn.side}:{turn.role}" if turn.side else turn.role
        body = turn.content if len(turn.content) <= width else turn.content[:width] + " …"
        if turn.tool_calls:
            body += f"\n[tool call] {turn.tool_calls}"
        parts.append(
            Text.assemble((f"{label}: ", f"bold {ROLE_STYLE.get(turn.role, 'white')}"), body)
        )
    title = f"{row.get('source', '')} {row.get('id', '')}"
    return Panel(Group(*parts), title=title, title_align="left")


def file_summary(
    path: Path, source: str | None, keep: int = 50
) -> tuple[Table, list[dict[str, Any]]]:
    """Rows per source, characters per record, and the first `keep` rows (of `source`)."""
    counts: Counter[str] = Counter()
    lengths: list[int] = []
    samples: list[dict[str, Any]] = []
    for row in iter_rows(path):
        src = row.get("source", "?")
        if source and src != source:
            continue
        counts[src] += 1
        lengths.append(rows.chars(rows.turns(row)))
        if len(samples) < keep:
            samples.append(row)
    table = Table(title=f"{path.name}: {sum(counts.values()):,} rows")
    table.add_column("source")
    table.add_column("rows", justify="right")
    for name, n in counts.most_common():
        table.add_row(name, f"{n:,}")
    if lengths:
        lengths.sort()
        at = lambda q: lengths[min(len(lengths) - 1, int(q * len(lengths)))]  # noqa: E731
        table.caption = f"chars per record: p50 {at(0.5):,}  p90 {at(0.9):,}  max {lengths[-1]:,}"
    return table, samples


def inspect_path(path: Path, *, sample: int, source: str | None, console: Console) -> None:
    """Summary of an output dir (manifest + files) or of one output file."""
    if path.is_dir():
        manifest_path = path / "manifest.json"
        if not manifest_path.exists():
            raise SystemExit(f"{path} has no manifest.json: not a postmix output dir")
        manifest = orjson.loads(manifest_path.read_bytes())
        console.print(manifest_table(manifest))
        files = [path / o["path"] for o in manifest["outputs"] if (path / o["path"]).exists()]
    else:
        files = [path]
    for f in files:
        table, samples = file_summary(f, source)
        console.print(table)
        for row in itertools.islice(samples, sample):
            console.print(render(row))
