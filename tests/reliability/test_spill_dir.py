"""A `--spill-dir` outside the output: a killed run's spills there are removed by the next
run that uses it, and a live run's are never touched (`engine/workdir.py`)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from postmix.engine.workdir import LOCK, remove_dead, work_dir
from postmix.writers.verify import verify
from tests.outputs import sft_rows, write_jsonl
from tests.reliability.test_prepare_commit import REPO, recipe_for, run


def spill_dirs(parent: Path) -> list[Path]:
    return sorted(parent.glob(".postmix-*"))


def test_a_killed_runs_spills_are_removed_by_the_next_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = write_jsonl(tmp_path / "chats.jsonl", sft_rows(20_000))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe_for(str(source), tmp_path / "killed"))
    spills = tmp_path / "spills"
    cmd = [sys.executable, "-m", "postmix", "prepare", str(recipe), "--spill-dir", str(spills)]
    cmd += ["--num-proc", "1", "--no-progress", "--no-report"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not any((d / LOCK).exists() for d in spill_dirs(spills)):
            assert proc.poll() is None, "the run ended before it made its spill dir"
            assert time.monotonic() < deadline, "no spill dir after 120 s"
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    left = spill_dirs(spills)
    assert len(left) == 1, "the killed run left its spill dir (what the next run must remove)"

    with caplog.at_level(logging.INFO, logger="postmix"):
        doc = prepare_into(source, tmp_path / "out", spills)
    assert spill_dirs(spills) == []
    assert f"removed {left[0]}: the spills of a run that was killed" in caplog.text
    assert doc["totals"]["kept"] > 0
    verify(tmp_path / "out")


def prepare_into(source: Path, out: Path, spills: Path) -> dict:
    from postmix.prepare import prepare
    from postmix.recipe import parse

    recipe = parse(recipe_for(str(source), out))
    return prepare(recipe, out, num_proc=1, spill_dir=spills, progress=False, report=False)


def test_a_live_runs_spills_are_kept(tmp_path: Path) -> None:
    with work_dir(tmp_path) as live:
        (live / "spill.bin").write_bytes(b"x" * 100)
        assert remove_dead(tmp_path) == []
        assert (live / "spill.bin").exists()
    assert not live.exists()


def test_a_dir_that_is_no_work_dir_is_kept(tmp_path: Path) -> None:
    other = tmp_path / ".postmix-notes"
    other.mkdir()
    (other / "keep.txt").write_text("not a spill dir: no lock file")
    dead = tmp_path / ".postmix-dead"
    dead.mkdir()
    (dead / LOCK).touch()
    assert remove_dead(tmp_path) == [dead]
    assert (other / "keep.txt").exists()


def test_spills_under_the_default_dir_go_with_the_run(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "chats.jsonl", sft_rows(200))
    run(str(source), tmp_path / "out")
    assert spill_dirs(tmp_path / "out") == []
