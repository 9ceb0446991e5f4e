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
from postmix.report.summary import in_recipe_order
from postmix.report.terminal import summary
from postmix.report.tokens import records_of, runs
from postmix.writers.tokenized import ALIASES

PAIR_IDS = tuple(ALIASES)  # prompt_ids, chosen_ids, rejected_ids
ROLE_STYLE = {"system": "magenta", "user": "cyan", "assistant": "green", "tool": "yellow"}


def manifest_table(manifest: dict[str, Any]) -> Group:
    """Per-source funnel (read → removed → kept → mixed → train / validation) and the
    removals by reason, narrow enough for an 80-column terminal."""
    return summary(in_recipe_order(manifest))


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


TRAINED = "bold black on green"


def token_view(tok: Any, ids: list[int], labels: list[int] | None) -> Text:
    """A tokenized row as text, trained runs (label != -100) highlighted.

    Runs are decoded whole, so multi-byte characters split across tokens show intact.
    """
    flags = [True] * len(ids) if labels is None else [x != -100 for x in labels]
    out = Text()
    for run in runs(tok.decode, ids, flags):
        out.append(run.text, style=TRAINED if run.trained else "")
    return out


def render_tokens(row: dict[str, Any], tok: Any) -> Panel:
    """A tokenized row (packed or not; pairs show each side) with trained tokens coloured."""
    if "input_ids" in row:
        body = token_view(tok, row["input_ids"], row.get("labels"))
    else:
        parts = []
        for key in PAIR_IDS:
            ids = row[key] if key in row else row[ALIASES[key]]
            labels = [-100] * len(ids) if key == "prompt_ids" else None
            parts.append(Text.assemble((f"{key}: ", "bold"), token_view(tok, ids, labels)))
        body = Group(*parts)
    ids = row.get("ids") or row.get("id")
    return Panel(body, title=f"{row.get('source', '')} {ids}", title_align="left")


def file_summary(
    path: Path, source: str | None, keep: int = 50
) -> tuple[Table, list[dict[str, Any]]]:
    """Rows and records per source, length per record (tokens for tokenized rows, else
    characters) and the first `keep` rows (of `source`). A packed row counts each record."""
    rows_of: Counter[str] = Counter()
    records: Counter[str] = Counter()
    lengths: list[int] = []
    unit = "chars"
    samples: list[dict[str, Any]] = []
    for row in iter_rows(path):
        recs = [r for r in records_of(row) if not source or r.get("source", "?") == source]
        if not recs:
            continue
        for rec in recs:
            records[str(rec.get("source", "?"))] += 1
            counts = rows.token_counts(rec)
            unit = "tokens" if counts is not None else unit
            lengths.append(counts[0] if counts is not None else rows.chars(rows.turns(rec)))
        rows_of[str(recs[0].get("source", "?"))] += 1
        if len(samples) < keep:
            samples.append(row)
    table = Table(title=f"{path.name}: {sum(rows_of.values()):,} rows", min_width=72)
    table.add_column("source")
    table.add_column("records", justify="right")
    for name, n in records.most_common():
        table.add_row(name, f"{n:,}")
    if lengths:
        lengths.sort()
        at = lambda q: lengths[min(len(lengths) - 1, int(q * len(lengths)))]  # noqa: E731
        table.caption = f"{unit} per record: p50 {at(0.5):,}  p90 {at(0.9):,}  max {lengths[-1]:,}"
    return table, samples


def inspect_path(
    path: Path,
    *,
    sample: int,
    source: str | None,
    console: Console,
    tokens: bool = False,
    tokenizer: str | None = None,
    verify: bool = True,
) -> None:
    """Summary of an output dir (manifest + files) or of one output file.

    `tokens` shows tokenized rows with trained tokens coloured, decoded by `tokenizer`
    (default: the `tokenizer/` saved beside the data). `verify` first checks the dir's
    files against the manifest's sizes and sha256s, so a summary never describes files
    the manifest does not.
    """
    if path.is_dir():
        manifest_path = path / "manifest.json"
        if not manifest_path.exists():
            raise SystemExit(f"{path} has no manifest.json: not a postmix output dir")
        if verify:
            from postmix.writers.verify import VerifyError
            from postmix.writers.verify import verify as check

            try:
                check(path)
            except VerifyError as exc:
                raise SystemExit(str(exc)) from exc
        manifest = orjson.loads(manifest_path.read_bytes())
        console.print(manifest_table(manifest))
        files = [path / o["path"] for o in manifest["outputs"] if (path / o["path"]).exists()]
    else:
        files = [path]
    tok = None
    if tokens:
        from postmix.tokenizer import load_tokenizer

        base = path if path.is_dir() else path.parent
        spec = tokenizer or str(base / "tokenizer")
        if not tokenizer and not (base / "tokenizer").is_dir():
            raise SystemExit(f"--tokens: no tokenizer/ beside {path}; pass --tokenizer")
        tok = load_tokenizer(spec)
    for f in files:
        table, samples = file_summary(f, source)
        console.print(table)
        for row in itertools.islice(samples, sample):
            tokenized = any(k in row for k in ("input_ids", "prompt_ids", "prompt_input_ids"))
            console.print(render_tokens(row, tok) if tok is not None and tokenized else render(row))
