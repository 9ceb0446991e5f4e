"""`prepare` gives the same bytes with the fast lane on and off (`POSTMIX_FAST_PATH=0`):
every output file, across process counts, batch sizes, real files and Ray."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from postmix.engine import direct, fast, plan, shard
from postmix.formats.fast import FAST
from postmix.prepare import prepare
from postmix.recipe import parse
from tests.conftest import shared_file
from tests.engine.test_fast import BAD_LINE, LENGTH, REAL, ROWS
from tests.test_pipeline import assert_accounted, write_jsonl


def mixed_recipe(root: Path) -> dict[str, Any]:
    """Every accelerated converter, with drops, duplicates and malformed lines."""
    datasets = []
    for i, (name, rows) in enumerate(ROWS.items()):
        valid = [r for r in rows if isinstance(r, dict)]
        dup = valid[0]
        write_jsonl(root / f"{name}.jsonl", [*valid, dup, *valid[:2]], extra_lines=[BAD_LINE])
        datasets.append(
            {
                "name": name,
                "source": str(root / f"{name}.jsonl"),
                "format_converter": name,
                "mix_ratio": 1,
                "priority": i,
                "filters": [LENGTH],
            }
        )
    return {
        "seed": 3,
        "datasets": datasets,
        "dedup": {"exact": True},
        "validation": {"ratio": 0.2},
    }


def outputs(out: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    manifest = json.loads(files.pop("manifest.json"))
    manifest.pop("seconds", None)
    files["manifest.json"] = json.dumps(manifest, sort_keys=True).encode()
    return files


def build(root: Path, **kwargs: Any) -> dict[str, bytes]:
    """Every output file of the mixed recipe, prepared into `root/out` (the card names it)."""
    recipe = parse(yaml.safe_dump(mixed_recipe(root)))
    manifest = prepare(recipe, root / "out", force=True, progress=False, report=False, **kwargs)
    assert_accounted(manifest)
    return outputs(root / "out")


def test_prepare_same_bytes_with_and_without_the_lane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan, "SHARD_BYTES", 512)  # several shard tasks per source
    got = {}
    for switch in ("1", "0"):
        monkeypatch.setenv(fast.SWITCH, switch)
        for num_proc in (1, 2):
            got[switch, num_proc] = build(tmp_path, num_proc=num_proc)
    first = got["1", 1]
    assert all(files == first for files in got.values())
    removed = first["removed.jsonl"].decode()
    assert "structure:empty_turn" in removed and "duplicate" in removed and "length" in removed
    assert first["quarantine.jsonl"].count(b"\n") >= len(ROWS)


@pytest.mark.parametrize("batch", [1, 3, 1000])
def test_direct_path_gives_the_general_bytes_across_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """The direct path (engine/direct.py) hands drops and survivors over where the general
    path flushes its batches: small batches put skips, drops and invalid lines on both
    sides of a boundary, and every output byte must still match."""
    monkeypatch.setattr(shard, "BATCH", batch)
    ran: list[str] = []
    run = direct.Direct.run
    monkeypatch.setattr(
        direct.Direct, "run", lambda self, task: ran.append(task.plan.name) or run(self, task)
    )
    got = {}
    for switch in ("1", "0"):
        monkeypatch.setenv(fast.SWITCH, switch)
        got[switch] = build(tmp_path, num_proc=1)
    assert sorted(set(ran)) == sorted(FAST)  # every fast converter's source took it
    assert got["1"] == got["0"]


def test_prepare_same_bytes_on_real_files(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets = [
        {"name": f"{name}{i}", "source": str(shared_file(shared_data, rel)), "mix_ratio": 1}
        | {"format_converter": name, "filters": [LENGTH]}
        for name, files in REAL.items()
        for i, rel in enumerate(files)
    ]
    recipe = parse(yaml.safe_dump({"seed": 5, "datasets": datasets, "validation": {"ratio": 0.1}}))
    got = {}
    for switch in ("1", "0"):
        monkeypatch.setenv(fast.SWITCH, switch)
        manifest = prepare(recipe, tmp_path / "out", force=True, progress=False, report=False)
        assert_accounted(manifest)
        got[switch] = outputs(tmp_path / "out")
    assert got["1"] == got["0"]
    sources = manifest["sources"].values()
    assert sum(s["duplicates"] for s in sources) > 0  # alpaca_en_demo repeats rows
    assert sum(s["dropped"].get("length", 0) for s in sources) > 0


def test_prepare_same_bytes_on_ray(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray", reason="the ray extra is not installed")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a local test cluster
    monkeypatch.setattr(plan, "SHARD_BYTES", 512)
    on_ray = build(tmp_path, executor="ray")
    monkeypatch.setenv(fast.SWITCH, "0")
    assert on_ray == build(tmp_path, num_proc=1)


def test_a_shard_with_no_survivor_has_no_offset(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", [{"instruction": "q", "input": "", "output": ""}] * 3)
    recipe = {"datasets": [{"name": "a", "source": str(tmp_path / "a.jsonl")}]}
    infos = plan.resolve(parse(yaml.safe_dump(recipe)))
    (task,) = plan.tasks(infos, str(tmp_path / "spill"), None)
    res = shard.run(task)
    assert res.tally.spilled == 0
    assert len(res.offset) == len(res.keys) == 0
