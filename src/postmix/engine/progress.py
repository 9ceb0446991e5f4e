"""Progress bars for shard work (rows read per source), the same for every executor, and a
status row for the driver's phases after it."""

from __future__ import annotations

from typing import Any

from postmix.engine.plan import SourceInfo


class Progress:
    """Rich progress bars per source; silent when disabled."""

    def __init__(self, enabled: bool, infos: list[SourceInfo]) -> None:
        self.enabled = enabled
        self.infos = infos
        self.rows = [0] * len(infos)

    def __enter__(self) -> Progress:
        if not self.enabled:
            return self
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as Bars

        self.bar: Any = Bars(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("shards"),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            transient=False,
        )
        self.bar.__enter__()
        self.ids = [
            self.bar.add_task(info.plan.name, total=1 if info.whole else len(info.shards), rows=0)
            for info in self.infos
        ]
        return self

    def phase(self, text: str) -> None:
        """What the driver does once shard work is over (dedup, mix, writing): one status row."""
        if not self.enabled:
            return
        if not hasattr(self, "status"):
            self.status = self.bar.add_task(text, total=None, rows=0)
        self.bar.update(self.status, description=text)

    def advance(self, source: int, rows: int) -> None:
        if not self.enabled:
            return
        self.rows[source] += rows
        self.bar.update(self.ids[source], advance=1, rows=self.rows[source])

    def __exit__(self, *exc: object) -> None:
        if self.enabled and hasattr(self, "status"):
            self.bar.update(self.status, description="done", total=1, completed=1)
        if self.enabled:
            self.bar.__exit__(*exc)
