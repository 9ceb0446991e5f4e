"""The prepare / inspect summary in an 80-column terminal: nothing cut, nothing off-screen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from postmix.inspect import manifest_table

REASONS = [
    "structure:empty_assistant_turn",
    "structure:roles_do_not_alternate",
    "structure:no_assistant_reply",
    "quality:placeholder_output",
    "quality:repeated_ngrams",
    "language",
    "length:too_short",
    "length:too_long",
    "turns:max_turns",
    "code_ratio",
    "reasoning:unclosed_think",
    "tokens:over_length",
]


def source(i: int) -> dict[str, Any]:
    dropped = {r: (i + k) % 4 for k, r in enumerate(REASONS)}
    return {
        "read": 1_000_000 + i,
        "invalid": i,
        "dropped": dropped,
        "duplicates": 12_345,
        "contaminated": 7,
        "kept": 900_000,
        "mix": {"unique": 900_000, "achieved": 1_234_567, "train": 1_200_000, "validation": 34_567},
    }


def render(manifest: dict[str, Any]) -> str:
    console = Console(width=80, record=True, color_system=None)
    console.print(manifest_table(manifest))
    return console.export_text()


def test_many_long_reasons_fit_80_columns_uncut() -> None:
    names = ["ultrafeedback_binarized_preferences_cleaned", "dolly", "oasst2_top_english_threads"]
    text = render({"sources": {n: source(i) for i, n in enumerate(names)}})
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text
    header = next(line for line in lines if "kept" in line)
    assert all(word in header for word in ("read", "removed", "kept", "train", "validation"))
    assert lines.index(header) < min(i for i, line in enumerate(lines) if "dolly" in line)
    total = next(line for line in lines if line.lstrip("│ ").startswith("total"))
    assert "3,000,003" in total and lines.index(total) < lines.index(
        next(line for line in lines if "dolly" in line)
    )  # totals first
    flat = "".join(text.split())  # folded names wrap; their letters are all there
    for name in names + [r for r in REASONS]:
        assert "".join(name.split()) in flat.replace("│", "").replace("┃", "") or name in text


def test_the_demo_summary_fits(tmp_path: Path) -> None:
    from postmix.prepare import prepare
    from postmix.recipe import load

    repo = Path(__file__).resolve().parents[2]
    manifest = prepare(load(repo / "recipes" / "demo.yaml"), tmp_path, progress=False, report=False)
    text = render(json.loads(json.dumps(manifest)))
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    for reason in manifest["sources"]["dolly"]["dropped"]:
        assert reason in text
