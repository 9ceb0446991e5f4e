"""`prepare` end to end through the output commit (issue 10, items 2, 3, 7): outputs never
overwrite or re-read inputs, a second run into the same dir fails at once, and a killed
run leaves the previous result whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest
import yaml

from postmix.prepare import prepare
from postmix.recipe import parse
from postmix.writers.commit import OutputError
from postmix.writers.overlap import OverlapError
from postmix.writers.verify import verify
from tests.outputs import sft_rows, write_jsonl

REPO = Path(__file__).resolve().parents[2]


def recipe_for(source: str, out: Path) -> str:
    return yaml.safe_dump(
        {
            "metadata": {"phase": "sft"},
            "datasets": [{"name": "chats", "source": source, "format_converter": "messages"}],
            "validation": {"ratio": 0.2, "seed": 1},
            "output": {"dir": str(out)},
        }
    )


def run(source: str, out: Path) -> dict:
    return prepare(parse(recipe_for(source, out)), out, num_proc=1, progress=False, report=False)


def test_a_source_named_like_an_output_is_refused_and_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = write_jsonl(tmp_path / "chats.jsonl", sft_rows(200))
    run(str(first), out)
    reread = out / "sft_train.jsonl"
    before = reread.read_bytes()
    with pytest.raises(OverlapError, match="inside the output dir"):
        run(str(reread), out)
    assert reread.read_bytes() == before
    verify(out)


def test_a_glob_over_the_outputs_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl(data / "chats.jsonl", sft_rows(100))
    with pytest.raises(OverlapError, match=r"sft_train\.jsonl"):
        run(str(data / "**" / "*.jsonl"), data / "out")
    assert not (data / "out").exists()


HOLDER = textwrap.dedent(
    """
    import sys
    from postmix.writers.commit import OutputCommit
    def hook(step):
        if step == "locked":
            print("locked", flush=True)
            sys.stdin.readline()
    with OutputCommit(sys.argv[1], hook=hook):
        pass
    """
)


def test_a_second_run_into_a_busy_dir_fails_at_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    source = str(write_jsonl(tmp_path / "chats.jsonl", sft_rows(50)))
    run(source, out)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        started = time.perf_counter()
        with pytest.raises(OutputError, match=rf"pid {holder.pid}"):
            prepare(
                parse(recipe_for(source, out)).model_copy(update={"seed": 7}),
                out,
                num_proc=1,
                progress=False,
                report=False,
            )
        assert time.perf_counter() - started < 30
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)
    verify(out)


PREPARE = textwrap.dedent(
    """
    import sys
    from postmix.prepare import prepare
    from postmix.recipe import parse
    from tests.reliability.test_prepare_commit import recipe_for
    from pathlib import Path
    out = Path(sys.argv[2])
    prepare(parse(recipe_for(sys.argv[1], out)), out, num_proc=1, progress=False)
    """
)


def test_a_killed_run_leaves_the_previous_output_whole(tmp_path: Path) -> None:
    out = tmp_path / "out"
    small = str(write_jsonl(tmp_path / "small.jsonl", sft_rows(40)))
    run(small, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    big = str(write_jsonl(tmp_path / "big.jsonl", sft_rows(30_000)))
    proc = subprocess.Popen([sys.executable, "-c", PREPARE, big, str(out)], cwd=REPO)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.postmix-staging-*")) and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    verify(out)  # whichever run it is, it is one whole run
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    if manifest["totals"]["read"] == 40:
        assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    recipe = parse(recipe_for(small, out)).model_copy(update={"seed": 5})  # not a reuse
    prepare(recipe, out, num_proc=1, progress=False, report=False)  # removes the leftovers
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert not [p for p in out.iterdir() if p.name.startswith(".postmix-")]


def test_a_symlinked_tokenizer_dir_in_the_output_is_not_written_through(tmp_path: Path) -> None:
    from tests.tiny import bpe_tokenizer

    tok = tmp_path / "tok"
    bpe_tokenizer(tok)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep")
    out = tmp_path / "out"
    source = str(write_jsonl(tmp_path / "chats.jsonl", sft_rows(30)))
    text = yaml.safe_load(recipe_for(source, out))
    text.update(tokenizer=str(tok), template="chatml", special_tokens="add")
    text["output"].update(schema="tokenized", file_format="parquet")  # saves tokenizer/
    run_with_tok = parse(yaml.safe_dump(text))
    prepare(run_with_tok, out, num_proc=1, progress=False, report=False)
    assert (out / "tokenizer").is_dir()
    os.rename(out / "tokenizer", tmp_path / "saved-tokenizer")
    (out / "tokenizer").symlink_to(victim)
    again = run_with_tok.model_copy(update={"seed": 3})
    prepare(again, out, num_proc=1, progress=False, report=False)
    assert sorted(p.name for p in victim.iterdir()) == ["precious.txt"]
    assert not (out / "tokenizer").is_symlink() and (out / "tokenizer").is_dir()
