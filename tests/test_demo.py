"""`postmix prepare recipes/demo.yaml` through the real CLI, offline: every record accounted for."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "demo.yaml"
PACKAGE_RECIPE = REPO / "src" / "postmix" / "demo" / "recipe.yaml"
DATA = REPO / "src" / "postmix" / "demo" / "data"
SPLIT_FILES = ("demo_train.jsonl", "demo_validation.jsonl")
SIDE_FILES = ("removed.jsonl", "quarantine.jsonl", "examples.jsonl")
DUPLICATE_PROMPT = "Name the largest planet in our solar system."


def prepare(recipe: Path, out: Path, *args: str) -> dict:
    """Run the CLI in a fresh process with the hub unreachable by configuration."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "postmix", "prepare", str(recipe), "-o", str(out), *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    """The demo built four times: with defaults, again, then with one and with two workers
    (the repeats skip the HTML/Markdown report, which takes most of a run's time)."""
    base = tmp_path_factory.mktemp("demo")
    variants = {
        "default": (),
        "again": ("--no-report",),
        "one": ("--num-proc", "1", "--no-report"),
        "two": ("--num-proc", "2", "--no-report"),
    }
    return {
        name: (base / name, prepare(RECIPE, base / name, *args)) for name, args in variants.items()
    }


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def rows_in_file(path: Path) -> int:
    """Rows of a demo file counted without postmix, one reader per format."""
    name = path.name
    if name.endswith(".jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return sum(1 for line in fh if line.strip())
    if name.endswith(".jsonl"):
        return sum(1 for line in path.read_text(encoding="utf-8").split("\n") if line.strip())
    if name.endswith(".json"):
        return len(json.loads(path.read_text(encoding="utf-8")))
    if name.endswith(".csv"):
        with open(path, newline="", encoding="utf-8") as fh:
            return sum(1 for _ in csv.DictReader(fh))
    return pq.read_metadata(path).num_rows


def test_every_format_is_shipped() -> None:
    names = {p.name for p in DATA.iterdir()}
    assert {
        "alpaca.json",
        "dolly.jsonl",
        "sharegpt_tools.jsonl",
        "messages.jsonl",
        "oasst_trees.jsonl",
        "hh_rlhf.jsonl",
        "gsm8k.jsonl",
        "everyday.jsonl.gz",
        "openorca.parquet",
        "faq.csv",
    } <= names
    tools = [r for r in jsonl(DATA / "sharegpt_tools.jsonl") if r.get("tools")]
    assert any(t["from"] == "function_call" for r in tools for t in r["conversations"])


def test_manifest_accounts_for_every_row(runs: dict) -> None:
    out, manifest = runs["default"]
    sources = manifest["sources"]
    recipe_sources = {d["name"]: Path(d["source"]) for d in manifest["recipe"]["datasets"]}
    quarantined = Counter(q["source"] for q in jsonl(out / "quarantine.jsonl"))
    removed = Counter(r["source"] for r in jsonl(out / "removed.jsonl"))
    for name, s in sources.items():
        assert s["read"] == rows_in_file(recipe_sources[name]), name
        assert s["invalid"] == quarantined[name], name
        assert sum(s["dropped"].values()) + s["duplicates"] == removed[name], name
        assert s["kept"] > 0, name
        assert s["read"] == (
            s["kept"]
            + sum(s["dropped"].values())
            + s["duplicates"]
            + s["contaminated"]
            + s["invalid"]
        ), name
    assert manifest["totals"]["read"] == sum(s["read"] for s in sources.values()) == 406


def test_drops_are_the_planted_problems(runs: dict) -> None:
    out, manifest = runs["default"]
    s = manifest["sources"]
    assert s["dolly"]["dropped"] == {"language": 1}
    assert s["alpaca"]["dropped"] == {"quality:placeholder": 1}
    assert s["sharegpt_tools"]["dropped"] == {"structure:empty_turn": 1}
    assert s["oasst"]["dropped"] == {"lang": 1}
    clean = {"gsm8k", "tutor_chats", "hh_rlhf", "everyday", "openorca", "app_faq"}
    for name in clean:
        assert (s[name]["dropped"], s[name]["invalid"], s[name]["duplicates"]) == ({}, 0, 0)
    removed = {(r["source"], r["row"]): r for r in jsonl(out / "removed.jsonl")}
    assert removed[("dolly", 21)]["detail"] == "es not allowed"
    assert removed[("sharegpt_tools", 9)]["reason"] == "structure:empty_turn"
    assert removed[("oasst", 6)]["reason"] == "lang"


def test_malformed_rows_are_quarantined_with_file_and_row(runs: dict) -> None:
    out, _ = runs["default"]
    entries = {
        (q["source"], Path(q["file"]).name, q["row"]): q for q in jsonl(out / "quarantine.jsonl")
    }
    assert set(entries) == {("dolly", "dolly.jsonl", 40), ("alpaca", "alpaca.json", 33)}
    bad_line = (DATA / "dolly.jsonl").read_text(encoding="utf-8").split("\n")[40]
    assert entries[("dolly", "dolly.jsonl", 40)]["raw"] == bad_line
    assert "JSON" in entries[("dolly", "dolly.jsonl", 40)]["error"]
    assert "output" in entries[("alpaca", "alpaca.json", 33)]["error"]


def test_cross_source_duplicate_is_removed_with_its_original(runs: dict) -> None:
    out, manifest = runs["default"]
    dups = [r for r in jsonl(out / "removed.jsonl") if r["reason"] == "duplicate"]
    assert len(dups) == 1
    dup = dups[0]
    assert (dup["source"], Path(dup["file"]).name, dup["row"]) == ("alpaca", "alpaca.json", 17)
    assert dup["of_source"] == "dolly"  # higher priority keeps the record
    assert json.loads((DATA / "alpaca.json").read_text())[17]["instruction"] == DUPLICATE_PROMPT
    written = [r for f in SPLIT_FILES for r in jsonl(out / f)]
    holders = [r for r in written if r["messages"][0]["content"] == DUPLICATE_PROMPT]
    assert [(r["source"], r["id"]) for r in holders] == [("dolly", dup["of"])]
    assert dup["id"] not in {r["id"] for r in written}
    assert manifest["sources"]["alpaca"]["duplicates"] == 1


def test_outputs_match_the_manifest(runs: dict) -> None:
    out, manifest = runs["default"]
    by_split = {o["split"]: o for o in manifest["outputs"]}
    assert set(by_split) == {"train", "validation"}
    written: dict[str, list[dict]] = {}
    for split, entry in by_split.items():
        path = out / entry["path"]
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        written[split] = jsonl(path)
        assert len(written[split]) == entry["rows"] == manifest["totals"][split]
    for name, s in manifest["sources"].items():
        mine = {split: [r for r in rows if r["source"] == name] for split, rows in written.items()}
        assert len(mine["train"]) == s["mix"]["train"], name
        assert len(mine["validation"]) == s["mix"]["validation"], name
        assert len(mine["train"]) + len(mine["validation"]) == s["mix"]["achieved"], name
        distinct = {r["id"] for rows in mine.values() for r in rows}
        assert len(distinct) == s["mix"]["unique"] == min(s["kept"], s["mix"]["target"]), name
        # Leak-free split: no validation record (or a copy of it) is in train.
        assert not {r["id"] for r in mine["validation"]} & {r["id"] for r in mine["train"]}, name
    assert manifest["sources"]["oasst"]["mix"]["upsampling"] > 1
    assert manifest["sources"]["gsm8k"]["mix"]["achieved"] < manifest["sources"]["gsm8k"]["kept"]


def test_rows_are_trainable_conversations(runs: dict) -> None:
    out, _ = runs["default"]
    rows = jsonl(out / SPLIT_FILES[0])
    assert len(rows) >= 300
    for row in rows:
        roles = [m["role"] for m in row["messages"] if m["role"] != "system"]
        assert roles[0] == "user" and roles[-1] == "assistant", row["id"]
    orca = [r for r in rows if r["source"] == "openorca"]
    assert orca and all(r["messages"][0]["role"] == "user" for r in orca)  # system merged
    assert any(m.get("tool_calls") for r in rows for m in r["messages"])


def test_runs_are_byte_identical(runs: dict) -> None:
    first, manifest = runs["default"]
    for other in ("again", "one", "two"):
        path, other_manifest = runs[other]
        for name in (*SPLIT_FILES, *SIDE_FILES):
            assert (first / name).read_bytes() == (path / name).read_bytes(), (other, name)
        assert other_manifest["outputs"] == manifest["outputs"]
        assert other_manifest["sources"] == manifest["sources"]


def test_package_recipe_builds_the_same_dataset(runs: dict, tmp_path: Path) -> None:
    first, manifest = runs["default"]
    package = prepare(PACKAGE_RECIPE, tmp_path / "pkg", "--no-report")
    assert package["outputs"] == manifest["outputs"]
    for name in SPLIT_FILES:
        assert (tmp_path / "pkg" / name).read_bytes() == (first / name).read_bytes()
