"""The output commit (issue 10, items 3, 5, 7, 10): one run at a time, written aside,
swapped in whole; a kill at any step leaves the previous result or the new one, never
a mixture, and the next run cleans up what the killed one left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from postmix.writers.commit import OutputCommit, OutputError, tidy
from postmix.writers.files import file_sha256
from postmix.writers.verify import verify

REPO = Path(__file__).resolve().parents[2]

# A writer in its own process: stages two splits and a manifest for generation `gen`,
# calling the hook between writes, so a test can SIGKILL it at any step.
WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from postmix.writers.commit import OutputCommit
    from tests.reliability.test_commit import stage_generation
    target, gen, kill_at, exchange = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
    def hook(step):
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if step == "locked" and kill_at == "wait":
            sys.stdout.write("locked\\n"); sys.stdout.flush(); sys.stdin.readline()
    with OutputCommit(target, hook=hook, exchange=exchange) as stage:
        stage_generation(stage, gen, hook)
        stage.commit()
    """
)
STEPS = ["locked", "write:train", "write:validation", "staged", "retired", "swapped"]


def stage_generation(stage: OutputCommit, gen: str, hook: object = None) -> None:
    """Everything a run writes, each file tagged with `gen`; a spill dir as the engine has."""
    spill = stage.work_dir()
    (spill / "spill.bin").write_bytes(b"x" * 1000)
    outputs = []
    for split in ("train", "validation"):
        fh, tmp = stage.temp_file(".jsonl")
        with fh:
            fh.write(b"".join(orjson.dumps({"gen": gen, "i": i}) + b"\n" for i in range(50)))
        os.replace(tmp, stage.path(f"sft_{split}.jsonl"))
        path = stage.path(f"sft_{split}.jsonl")
        outputs.append(
            {
                "path": path.name,
                "split": split,
                "bytes": path.stat().st_size,
                "sha256": file_sha256(path),
            }
        )
        if callable(hook):
            hook(f"write:{split}")
    tok = stage.path("tokenizer")
    tok.mkdir()
    (tok / "tokenizer.json").write_text(gen)
    manifest = {"postmix": "test", "gen": gen, "outputs": outputs}
    stage.path("manifest.json").write_bytes(orjson.dumps(manifest))
    stage.path("README.md").write_text(f"card of {gen}")


def run_writer(target: Path, gen: str, kill_at: str = "", exchange: bool = True) -> int:
    cmd = [sys.executable, "-c", WRITER, str(target), gen, kill_at, "1" if exchange else "0"]
    return subprocess.run(cmd, cwd=REPO, check=False).returncode


def generation(target: Path) -> str:
    """The one generation every file of the dir belongs to (asserts there is one)."""
    verify(target)
    manifest = orjson.loads((target / "manifest.json").read_bytes())
    gens = {
        orjson.loads(line)["gen"]
        for f in ("sft_train.jsonl", "sft_validation.jsonl")
        for line in (target / f).read_bytes().splitlines()
    }
    gens |= {(target / "tokenizer" / "tokenizer.json").read_text(), manifest["gen"]}
    gens.add((target / "README.md").read_text().removeprefix("card of "))
    assert len(gens) == 1, gens
    return gens.pop()


def leftovers(target: Path) -> list[str]:
    beside = [p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]
    inside = [p.name for p in target.iterdir() if p.name.startswith(".")] if target.exists() else []
    return sorted(beside + inside)


def test_commit_swaps_in_a_whole_run(tmp_path: Path) -> None:
    target = tmp_path / "out"
    assert run_writer(target, "one") == 0
    assert generation(target) == "one" and leftovers(target) == []
    assert run_writer(target, "two") == 0
    assert generation(target) == "two" and leftovers(target) == []


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
@pytest.mark.parametrize("step", STEPS)
def test_kill_at_every_step_leaves_one_whole_run(tmp_path: Path, step: str, exchange: bool) -> None:
    target = tmp_path / "out"
    assert run_writer(target, "old") == 0
    rc = run_writer(target, "new", kill_at=step, exchange=exchange)
    killed = rc == -signal.SIGKILL
    assert killed or (step == "retired" and exchange)  # renameat2 has no "retired" step
    if step == "retired" and killed:  # between the two renames: the old run is set aside
        assert not target.exists()
        with OutputCommit(target):  # the next run puts it back before anything else
            assert generation(target) == "old"
    assert generation(target) == ("new" if step == "swapped" or not killed else "old")
    assert run_writer(target, "next") == 0  # the next run cleans up and commits
    assert generation(target) == "next" and leftovers(target) == []


def test_error_inside_the_block_keeps_the_previous_result(tmp_path: Path) -> None:
    target = tmp_path / "out"
    assert run_writer(target, "old") == 0
    with pytest.raises(RuntimeError), OutputCommit(target) as stage:
        stage_generation(stage, "new")
        raise RuntimeError("a late error, e.g. at the manifest")
    assert generation(target) == "old" and leftovers(target) == []


def test_second_run_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    target = tmp_path / "out"
    cmd = [sys.executable, "-c", WRITER, str(target), "first", "wait", "1"]
    holder = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        with pytest.raises(OutputError, match=rf"another postmix run \(pid {holder.pid}\)"):
            OutputCommit(target).__enter__()
    finally:
        assert holder.stdin is not None
        holder.stdin.write(b"\n")
        holder.stdin.close()
        assert holder.wait(timeout=60) == 0
    assert generation(target) == "first" and leftovers(target) == []


def test_lock_of_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    target = tmp_path / "out"
    assert run_writer(target, "old") == 0
    assert run_writer(target, "new", kill_at="write:validation") == -signal.SIGKILL
    assert (tmp_path / ".out.postmix-lock").exists()  # the dead run's pid is still in it
    assert run_writer(target, "after") == 0
    assert generation(target) == "after" and leftovers(target) == []


def test_spill_dirs_of_dead_runs_inside_the_output_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "out"
    assert run_writer(target, "old") == 0
    (target / ".postmix-abc123").mkdir()
    (target / ".postmix-abc123" / "spill-0.bin").write_bytes(b"x" * 4096)
    with OutputCommit(target) as stage:
        assert not (target / ".postmix-abc123").exists()  # cleaned before any work
        stage_generation(stage, "new")
        stage.commit()
    assert generation(target) == "new" and leftovers(target) == []


def test_planted_symlinks_are_never_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep")
    target = tmp_path / "out"
    assert run_writer(target, "old") == 0
    # a symlinked tokenizer/ in the previous output, and a link at our staging name
    os.rename(target / "tokenizer", tmp_path / "old-tokenizer")
    (target / "tokenizer").symlink_to(victim)
    stage_name = tmp_path / f".out.postmix-staging-{os.getpid()}"
    stage_name.symlink_to(victim)
    with OutputCommit(target) as stage:
        assert not stage.dir.is_symlink() and stage.dir.is_dir()
        stage_generation(stage, "new")
        stage.commit()
    assert generation(target) == "new" and not (target / "tokenizer").is_symlink()
    assert sorted(p.name for p in victim.iterdir()) == ["precious.txt"]
    assert (victim / "precious.txt").read_text() == "keep"


def test_temp_files_are_fresh_and_inside_the_staging_dir(tmp_path: Path) -> None:
    with OutputCommit(tmp_path / "out") as stage:
        fh, path = stage.temp_file(".jsonl")
        fh.close()
        assert path.parent == stage.dir and path.stat().st_size == 0
        for bad in ("../x", "/tmp/x", ""):
            with pytest.raises(OutputError):
                stage.path(bad)


def test_a_dir_that_is_not_a_postmix_output_is_not_replaced(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputError, match="not a postmix output"):
        OutputCommit(home).__enter__()
    assert (home / "thesis.tex").read_text() == "years of work"
    assert leftovers(home) == []
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        OutputCommit(afile).__enter__()


def test_symlinked_output_dir_is_replaced_at_its_real_place(tmp_path: Path) -> None:
    real = tmp_path / "disk" / "out"
    assert run_writer(real, "old") == 0
    link = tmp_path / "out"
    link.symlink_to(real)
    assert run_writer(link, "new") == 0
    assert link.is_symlink() and generation(real) == "new" and leftovers(real) == []


def test_tidy_cleans_up_for_a_run_that_reuses_the_output(tmp_path: Path) -> None:
    target = tmp_path / "out"
    assert run_writer(target, "old") == 0
    assert run_writer(target, "new", kill_at="write:train") == -signal.SIGKILL
    (target / ".postmix-spill").mkdir()
    assert leftovers(target) != []
    tidy(target)
    assert generation(target) == "old" and leftovers(target) == []
    tidy(tmp_path / "never" / "made")  # nothing there: nothing to do
