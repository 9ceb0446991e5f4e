"""`prepare` on judged pairs: pairs keyed by their responses, contradictory judgments resolved.

Before, exact dedup keyed pairs by prompt (every pair after a question's first
was a "duplicate") and several judges of one battle gave the pair in both
directions.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.formats.test_mt_bench import judgment
from tests.test_pipeline import assert_accounted, run, write_jsonl


def battles() -> list[dict]:
    models = [
        ("alpaca-13b", "gpt-3.5-turbo"),
        ("alpaca-13b", "vicuna-13b"),
        ("gpt-3.5-turbo", "vicuna-13b"),
    ]
    rows = [
        # battle 0: three judges, 2-1 for gpt on turn 1 → one pair, the dissent conflicts
        judgment("model_b", 1, "j1", models[0]),
        judgment("model_b", 1, "j2", models[0]),
        judgment("model_a", 1, "j3", models[0]),
        # battle 1: an even split → the whole group is dropped
        judgment("model_a", 1, "j1", models[1]),
        judgment("model_b", 1, "j2", models[1]),
        # battle 2: one judge → one pair (same prompt as the others, other responses)
        judgment("model_b", 1, "j1", models[2]),
    ]
    return rows


def mt_recipe(tmp_path: Path) -> dict:
    """The battles above as one arena source of pairs."""
    write_jsonl(tmp_path / "mt.jsonl", battles())
    return {
        "metadata": {"kind": "preference"},
        "datasets": [
            {"name": "mt", "source": str(tmp_path / "mt.jsonl"), "format_converter": "arena"}
        ],
    }


def test_pairs_sharing_a_prompt_survive_and_judgments_are_resolved(tmp_path: Path) -> None:
    recipe = mt_recipe(tmp_path)
    manifest, out = run(tmp_path, recipe, num_proc=1)
    assert_accounted(manifest)
    s = manifest["sources"]["mt"]
    assert s["kept"] == 2
    assert s["duplicates"] == 1  # j2 agrees with j1 on battle 0
    assert s["dropped"]["conflicting_judgments"] == 3  # j3 on battle 0, both of battle 1
    assert s["pairs"]["conflicts_resolved"] == 1
    assert manifest["dedup"]["exact"].startswith("auto")
    removed = [orjson.loads(x) for x in (out / "removed.jsonl").read_bytes().splitlines()]
    reasons = sorted(r["reason"] for r in removed)
    assert reasons == ["conflicting_judgments"] * 3 + ["duplicate_judgment"]
    rows = [orjson.loads(x) for x in (out / "train.jsonl").read_bytes().splitlines()]
    chosen = sorted(r["chosen"][0]["content"][:12] for r in rows)
    assert chosen == ["Aloha! My tr", "Hawaii offer"]


def test_keep_all_keeps_every_judgment(tmp_path: Path) -> None:
    recipe = {**mt_recipe(tmp_path), "dedup": {"judgments": "keep_all", "exact": False}}
    manifest, _ = run(tmp_path, recipe, num_proc=1)
    assert manifest["sources"]["mt"]["kept"] == 6


def test_the_summary_names_the_key_and_shows_the_judgments_in_80_columns(tmp_path: Path) -> None:
    from rich.console import Console

    from postmix.report.terminal import summary

    recipe = mt_recipe(tmp_path)
    manifest, _ = run(tmp_path, recipe, num_proc=1)
    console = Console(width=80, record=True, color_system=None)
    console.print(summary(manifest))
    text = console.export_text()
    assert "exact dedup key: auto (preference: pair)" in text
    assert "resolved" in text and "conflicts" in text
    assert max(len(line) for line in text.splitlines()) <= 80
