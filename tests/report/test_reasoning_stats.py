"""Reasoning stats: per-record length and share, and the per-source summary for the manifest."""

from __future__ import annotations

from typing import Any

from postmix.formats.reasoning import reasoning_length, reasoning_share
from postmix.report.stats import ReasoningTally, reasoning_summary
from postmix.schema import message, record


def sft(source: str, *replies: tuple[str | None, str]) -> dict[str, Any]:
    msgs = []
    for i, (thought, answer) in enumerate(replies):
        msgs += [message("user", f"q{i}"), message("assistant", answer, reasoning_content=thought)]
    rec = record("sft", msgs)
    rec["source"] = source
    return rec


RECORDS = [
    sft("r1", ("x" * 30, "y" * 10)),  # share 0.75
    sft("r1", ("x" * 10, "y" * 30)),  # share 0.25
    sft("r1", ("", "plain")),  # an empty block only
    sft("r1", (None, "no reasoning")),
    sft("r1", ("x" * 4, "ab"), (None, "not counted in the answer chars")),
    sft("chat", (None, "hi")),
]


def test_per_record_length_and_share() -> None:
    assert reasoning_length(RECORDS[0]) == (30, 10)
    assert reasoning_length(RECORDS[4]) == (4, 2)
    assert reasoning_share(*reasoning_length(RECORDS[0])) == 0.75
    assert reasoning_length(RECORDS[3]) == (0, 0) and reasoning_share(0, 0) is None


def test_summary_per_source() -> None:
    summary = reasoning_summary(RECORDS)
    assert list(summary) == ["chat", "r1"]
    assert summary["chat"] == {
        "records": 1,
        "with_reasoning": 0,
        "empty_blocks": 0,
        "chars": {"mean": 0, "p50_at_most": 0, "p90_at_most": 0, "max": 0},
        "share": {"mean": None, "pooled": None},
    }
    r1 = summary["r1"]
    assert (r1["records"], r1["with_reasoning"], r1["empty_blocks"]) == (5, 3, 1)
    assert r1["chars"]["mean"] == round(44 / 3, 1) and r1["chars"]["max"] == 30
    assert r1["share"]["mean"] == round((0.75 + 0.25 + 4 / 6) / 3, 4)
    assert r1["share"]["pooled"] == round(44 / (44 + 42), 4)
    # Quantiles are bucket bounds: at least the true value, never above the maximum.
    assert 10 <= r1["chars"]["p50_at_most"] <= 15 and r1["chars"]["p90_at_most"] == 30


def test_tallies_merge_like_one_pass() -> None:
    whole, left, right = ReasoningTally(), ReasoningTally(), ReasoningTally()
    for i, rec in enumerate(RECORDS[:5]):
        whole.add(rec)
        (left if i % 2 else right).add(rec)
    left.merge(right)
    assert left.summary() == whole.summary()
