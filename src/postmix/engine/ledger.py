"""The ledger: the one place that counts where records go.

Every record of a shard ends in exactly one place: quarantined (invalid),
dropped by a step (with its bucket), contaminated, or spilled alive; every
removal is one line of `removed.jsonl` and the first few of each bucket are
examples for the report. The second stage (duplicates, near duplicates,
validation leaks) reports through `removal_line` the same way. At the end,
`check_identity` compares the counted `kept` (records actually present after
the last decision) with `read - everything removed`; a mismatch means a
record was lost or invented, and the run fails instead of writing a manifest
that hides it.
"""

from __future__ import annotations

from typing import IO, Any

import orjson

from postmix.engine.contracts import Tally, split_pos
from postmix.schema import InvalidRow, Skip
from postmix.steps import Drop

EXAMPLES = 3  # records kept per source and bucket in examples.jsonl, for the report
LINE_FORMATS = ("jsonl", "csv")  # files whose rows are lines: entries also give a 1-based `line`


class LedgerError(RuntimeError):
    """An internal accounting error: a step or stage lost or invented records."""


def example_line(source: str, bucket: str, rec: Any, **extra: Any) -> bytes:
    """One line of examples.jsonl: a record shown in the report under its bucket."""
    return orjson.dumps({"source": source, "bucket": bucket, "record": rec, **extra}) + b"\n"


def _where(label: str, fmt: str, row: int) -> dict[str, Any]:
    out: dict[str, Any] = {"file": label, "row": row}
    if fmt in LINE_FORMATS:
        out["line"] = row + 1  # editors and `grep -n` count from 1
    return out


def removal_line(
    source: str,
    label: str,
    fmt: str,
    row: int,
    rid: str | None,
    reason: str,
    detail: str = "",
    **extra: Any,
) -> bytes:
    """One line of `removed.jsonl`: where a record came from and why it left."""
    entry = {"source": source, **_where(label, fmt, row), "id": rid, "reason": reason}
    if detail:
        entry["detail"] = detail
    entry.update(extra)
    return orjson.dumps(entry) + b"\n"


class Ledger:
    """Counts, removal lines and examples of one shard task.

    `labels`/`formats` name the task's input files, indexed by shard number.
    """

    def __init__(self, source: str, labels: list[str], formats: list[str], removed: IO[bytes]):
        self.source = source
        self.labels = labels
        self.formats = formats
        self.removed = removed
        self.tally = Tally()
        self.quarantine: list[bytes] = []
        self.examples: list[bytes] = []

    def row_read(self) -> None:
        self.tally.rows += 1

    def record_read(self) -> None:
        self.tally.read += 1

    def converted(self, pos: int, outcome: Any) -> tuple[int, int, dict[str, Any] | None]:
        """A converter's outcome at position `pos`, counted as read: (shard, row, the record),
        the record None when the outcome was an invalid row or a skip, recorded here."""
        shard, row = split_pos(pos)
        self.tally.read += 1
        if isinstance(outcome, InvalidRow):
            self.invalid(shard, row, outcome)
            return shard, row, None
        if isinstance(outcome, Skip):
            self.skipped(shard, row, outcome)
            return shard, row, None
        return shard, row, outcome

    def invalid(self, shard: int, row: int, exc: InvalidRow) -> None:
        """A malformed row or record: counted as read and invalid, quarantined with its position."""
        self.tally.invalid += 1
        raw = getattr(exc, "raw", None)
        entry = {
            "source": self.source,
            **_where(self.labels[shard], self.formats[shard], row),
            "error": str(exc),
            "raw": raw if isinstance(raw, str) else None,
        }
        self.quarantine.append(orjson.dumps(entry) + b"\n")

    def skipped(self, shard: int, row: int, skip: Skip) -> None:
        """A converter's deliberate drop (no record id yet)."""
        self.tally.dropped[skip.reason] += 1
        self.removed.write(self._line(shard, row, None, skip.reason, skip.detail))

    def drop(self, rec: dict[str, Any], shard: int, row: int, verdict: Drop) -> None:
        """A step's drop: counted in its bucket, one removal line, an example for the first few."""
        if verdict.contaminated is not None:
            counter, seen = self.tally.contaminated, verdict.contaminated
            bucket = verdict.bucket
        else:
            counter, seen = self.tally.dropped, verdict.bucket
            bucket = f"dropped:{verdict.bucket}"
        counter[seen] += 1
        self.removed.write(self._line(shard, row, rec["id"], verdict.bucket, verdict.detail))
        if counter[seen] <= EXAMPLES:
            extra = verdict.example or {}
            self.examples.append(
                example_line(self.source, bucket, rec, detail=verdict.detail, **extra)
            )

    def spilled(self, count: int, metas: list[dict[str, Any]]) -> None:
        """`count` records left the chain alive (the shard's share of `kept`, before stage
        two); `metas` holds their non-empty `meta`s, where categories and languages are."""
        self.tally.spilled += count
        self.tally.categories.update(c for m in metas if isinstance(c := m.get("category"), str))
        self.tally.langs.update(lang for m in metas if isinstance(lang := m.get("lang"), str))

    def note(self, rec: dict[str, Any], what: str, *, example: bool = True) -> None:
        """A fact about a kept record worth counting (e.g. `round_trip:newlines`, `cut_reply`):
        counted in `notes`, with the first few records as examples."""
        self.tally.notes[what] += 1
        if example and self.tally.notes[what] <= EXAMPLES:
            self.examples.append(example_line(self.source, f"note:{what}", rec))

    def check(self) -> None:
        """Shard identity: every record read was quarantined, dropped or spilled."""
        t = self.tally
        gone = t.invalid + sum(t.dropped.values()) + sum(t.contaminated.values())
        if t.read != gone + t.spilled:
            raise LedgerError(
                f"{self.source}: shard read {t.read} records but accounts for {gone + t.spilled} "
                f"({t.invalid} invalid, {gone - t.invalid} dropped, {t.spilled} kept): "
                "a step lost or invented records"
            )

    def _line(self, shard: int, row: int, rid: str | None, reason: str, detail: str) -> bytes:
        return removal_line(
            self.source, self.labels[shard], self.formats[shard], row, rid, reason, detail
        )


def check_identity(sources: dict[str, dict[str, Any]]) -> None:
    """Per source, `read == kept + dropped + duplicates + contaminated + invalid`, where
    `kept` was counted from the records present after the last decision."""
    for name, s in sources.items():
        gone = sum(s["dropped"].values()) + s["duplicates"] + s["contaminated"] + s["invalid"]
        if s["read"] != s["kept"] + gone:
            raise LedgerError(
                f"{name}: read {s['read']} but kept {s['kept']} + removed {gone}: "
                "records were lost or invented between stages"
            )
