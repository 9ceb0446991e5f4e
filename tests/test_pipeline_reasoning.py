"""`prepare` end to end on reasoning data: traces read, controlled by the recipe, written back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import yaml

from postmix.formats.reasoning import split_inline
from postmix.prepare import prepare
from postmix.recipe import parse


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def chat(i: int, first: str, last: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": f"Question {i}, part one?"},
            {"role": "assistant", "content": f"{first}Part one of {i}."},
            {"role": "user", "content": f"Question {i}, part two?"},
            {"role": "assistant", "content": f"{last}Part two of {i}."},
        ]
    }


def run(tmp_path: Path, recipe: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out = tmp_path / "out"
    manifest = prepare(parse(yaml.safe_dump(recipe)), out, progress=False, report=False)
    rows = [
        orjson.loads(line)
        for o in manifest["outputs"]
        for line in (out / o["path"]).read_bytes().splitlines()
    ]
    return manifest, rows


def test_reasoning_recipe_end_to_end(tmp_path: Path) -> None:
    rows = [
        chat(i, f"<think>\nEarly {i}.\n</think>\n\n", f"<think>\nLate {i}.\n</think>\n\n")
        for i in range(6)
    ]
    rows += [chat(6 + i, "", "<think>\n\n</think>\n\n") for i in range(2)]  # empty block: dropped
    rows += [chat(8 + i, "", "") for i in range(3)]  # no reasoning: dropped by presence
    src = write_jsonl(tmp_path / "r1.jsonl", rows)
    recipe = {
        "metadata": {"phase": "t", "kind": "sft"},
        "datasets": [
            {
                "name": "r1",
                "source": str(src),
                "format_converter": "messages",
                "transforms": [{"type": "reasoning", "keep": "last"}],
                "filters": [{"type": "reasoning", "empty": "drop", "presence": "required"}],
            }
        ],
        "output": {"dir": str(tmp_path / "out"), "schema": "messages", "file_format": "jsonl"},
    }
    manifest, out = run(tmp_path, recipe)
    source = manifest["sources"]["r1"]
    assert source["kept"] == 6
    assert source["dropped"] == {"reasoning:empty_think": 2, "reasoning:missing": 3}
    for row in out:
        first, last = row["messages"][1], row["messages"][3]
        assert "reasoning_content" not in first and "<think>" not in first["content"]
        assert last["reasoning_content"].startswith("Late ") and last["content"].startswith(
            "Part two"
        )

    recipe["output"]["schema"] = "sharegpt"
    _, inline = run(tmp_path, recipe)
    assert {split_inline(r["conversations"][-1]["value"])[0] for r in inline} == {
        f"Late {i}." for i in range(6)
    }


def test_prompt_set_answers_from_solutions(tmp_path: Path) -> None:
    rows = [
        {"problem": "Half of one?", "solution": "It is $\\boxed{\\frac{1}{2}}$."},
        {"problem": "Two and two?", "solution": "So we get \\boxed{4}."},
        {"problem": "Prove it.", "solution": "By induction."},
    ]
    src = write_jsonl(tmp_path / "math.jsonl", rows)
    recipe = {
        "metadata": {"phase": "t", "kind": "prompt"},
        "datasets": [
            {
                "name": "math",
                "source": str(src),
                "format_converter": "columns",
                "options": {"prompt": "problem", "solution": "solution", "answer_from": "boxed"},
            }
        ],
        "output": {"dir": str(tmp_path / "out"), "schema": "messages", "file_format": "jsonl"},
    }
    manifest, out = run(tmp_path, recipe)
    assert manifest["sources"]["math"]["dropped"] == {"no_reference_answer": 1}
    assert sorted((r["answer"], r["solution"]) for r in out) == [
        ("4", "4"),
        ("\\frac{1}{2}", "\\frac{1}{2}"),
    ]
