"""The report's tables for a terminal (`postmix inspect`), from the same `summary.Table`s."""

from __future__ import annotations

from rich.table import Table as RichTable

from postmix.report.summary import Table, fmt


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
