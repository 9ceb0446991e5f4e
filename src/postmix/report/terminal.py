"""The report's tables for a terminal (`postmix prepare` / `inspect`), from the same manifest.

A funnel with one column per drop reason does not fit a terminal: at 80
columns reasons are cut ("structur…") and kept / train / validation fall off
the right edge. The terminal gets two narrow tables instead: totals first,
then one source per row with what it kept and where that went; removals get a
table of their own, one reason per row (names wrap, never truncate).
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table as RichTable
from rich.text import Text

from postmix.report.summary import Table, drop_reasons, facts_table, fmt, lookup

FLOW = (
    ("read", "read"),
    ("removed", "removed"),
    ("kept", "kept"),
    ("mix.train", "train"),  # train + validation: what the mix made of `kept`
    ("mix.validation", "validation"),
)
REMOVED = ("invalid", "duplicates", "contaminated")


def rich_table(table: Table, title: str | None = None) -> RichTable:
    """A rich table with the report's columns, formatting and totals row."""
    out = RichTable(title=title, show_footer=table.totals is not None)
    totals = table.totals or {}
    out.add_column("source", footer="total" if table.totals else "")
    for c in table.columns:
        footer = fmt(totals[c.key], c.fmt) if c.key in totals else ""
        out.add_column(c.label, justify="left" if c.fmt == "text" else "right", footer=footer)
    for name, cells in table.rows:
        out.add_row(name, *(fmt(cells[c.key], c.fmt) for c in table.columns))
    return out


def removed(source: dict[str, Any]) -> int:
    """Records of a source that did not reach the kept set, whatever the reason."""
    dropped = sum(int(n) for n in (source.get("dropped") or {}).values())
    return dropped + sum(int(source.get(k) or 0) for k in REMOVED)


def _cell(source: dict[str, Any], key: str) -> Any:
    return removed(source) if key == "removed" else lookup(source, key)


def flow_table(manifest: dict[str, Any]) -> RichTable:
    """Totals first, then each source: read, removed, kept, train, validation."""
    sources = manifest["sources"]
    out = RichTable(title="postmix: where every record went", title_justify="left")
    out.add_column("source", overflow="fold", ratio=1)
    for _, label in FLOW:
        out.add_column(label, justify="right", no_wrap=True)
    totals = [sum(int(_cell(s, k) or 0) for s in sources.values()) for k, _ in FLOW]
    out.add_row("[bold]total[/bold]", *(f"[bold]{fmt(v, 'count')}[/bold]" for v in totals))
    out.add_section()
    for name, s in sources.items():
        out.add_row(name, *(fmt(_cell(s, k), "count") for k, _ in FLOW))
    return out


def removal_table(manifest: dict[str, Any]) -> RichTable | None:
    """One row per reason a record was removed: the count and the sources it came from."""
    sources = manifest["sources"]
    reasons = [*REMOVED[:1], *(f"dropped:{r}" for r in drop_reasons(manifest)), *REMOVED[1:]]
    rows = []
    for reason in reasons:
        per = {n: int(lookup(s, reason) or 0) for n, s in sources.items()}
        if sum(per.values()):
            detail = ", ".join(f"{n} {v:,}" for n, v in per.items() if v)
            rows.append((reason.removeprefix("dropped:"), sum(per.values()), detail))
    if not rows:
        return None
    out = RichTable(title="removed, by reason", title_justify="left")
    out.add_column("reason", overflow="fold")
    out.add_column("records", justify="right", no_wrap=True)
    out.add_column("sources", overflow="fold", ratio=1)
    for reason, n, detail in rows:
        out.add_row(reason, fmt(n, "count"), detail)
    return out


def notes(manifest: dict[str, Any]) -> list[Text]:
    """The exact-dedup key used and the warnings of the run, one line each."""
    out = []
    key = (manifest.get("dedup") or {}).get("exact")
    if key:
        out.append(Text(f"exact dedup key: {key}", style="dim"))
    out.extend(Text(f"warning: {w}", style="yellow") for w in manifest.get("warnings") or [])
    return out


def summary(manifest: dict[str, Any]) -> Group:
    """The tables, the dedup key and the warnings, for `postmix prepare` and `postmix inspect`."""
    facts = facts_table(manifest)
    tables = [
        flow_table(manifest),
        removal_table(manifest),
        rich_table(facts, "pairs, reasoning, tokenizer") if facts else None,
    ]
    return Group(*(t for t in tables if t is not None), *notes(manifest))
