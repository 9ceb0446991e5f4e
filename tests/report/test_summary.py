"""The tables every renderer shares: token-mode mix columns and the terminal view."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from postmix.report.summary import fmt, funnel_table, in_recipe_order, mix_table
from postmix.report.terminal import rich_table


def source(achieved: int, **mix: Any) -> dict[str, Any]:
    return {
        "read": 1200,
        "invalid": 1,
        "dropped": {"length": 9},
        "duplicates": 40,
        "contaminated": 0,
        "kept": 1150,
        "mix": {"unique": 1000, "achieved": achieved, "train": achieved - 100, "validation": 100}
        | mix,
    }


def test_token_budget_mix_compares_tokens() -> None:
    manifest = {
        "sources": {
            "a": source(900, ratio=3, target=None, target_tokens=75_000, achieved_tokens=74_000),
            "b": source(300, ratio=1, target=None, target_tokens=25_000, achieved_tokens=26_000),
        }
    }
    table = mix_table(manifest)
    keys = [c.key for c in table.columns]
    assert "mix.target_tokens" in keys and "mix.target" not in keys
    cells = dict(table.rows)
    assert cells["a"]["planned_share"] == pytest.approx(0.75)
    assert cells["a"]["achieved_share"] == pytest.approx(0.75)
    assert cells["b"]["token_share"] == pytest.approx(0.26)
    assert table.totals and table.totals["mix.achieved_tokens"] == 100_000


def test_sources_follow_the_recipe_order() -> None:
    manifest = {
        "recipe": {"datasets": [{"name": "zeta"}, {"name": "alpha"}]},
        "sources": {"alpha": source(1), "zeta": source(2)},
    }
    assert list(in_recipe_order(manifest)["sources"]) == ["zeta", "alpha"]


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [
        (1234567, "count", "1,234,567"),
        (0.256, "share", "25.6%"),
        (1.5826, "factor", "×1.58"),
        (0.25, "plain", "0.25"),
        (None, "count", "–"),
    ],
)
def test_fmt(value: Any, kind: Any, text: str) -> None:
    assert fmt(value, kind) == text


def test_rich_table_matches_the_report_table() -> None:
    table = rich_table(funnel_table({"sources": {"s": source(1500, upsampling=1.5)}}), "funnel")
    console = Console(width=200, record=True)
    console.print(table)
    text = console.export_text()
    assert "1,200" in text and "×1.50" in text and "length" in text and "total" in text
