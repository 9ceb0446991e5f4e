"""Where the wall time of one `prepare` goes: its phases, measured in one process.

Runs `prepare` in this process on the benchmark data (`prepare_data.py`) with
the phase functions wrapped by timers, then verifies the output's sha256s as
a trainer does. Prints one Markdown table: each phase's wall seconds, the CPU
seconds of the driver and of the processes that ended in it (the write phase's
gather processes), and its share of the whole; shard work runs in the workers,
whose CPU seconds are given on its row. Issue 10's questions are
rows of it: the staged commit (`OutputCommit.commit`), the sha256s computed
while writing (estimated from this machine's sha256 speed on the output
bytes) and a full sha256 verification afterwards (`writers.verify`).

    python benchmarks/prepare_phases.py --rows 1000000 [--executor ray] [--py-spy]

`--py-spy` adds the functions with the most self time over all processes.

`POSTMIX_FAST_PATH=0` in the environment measures the general path.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prepare_data import WORK, generate, postmix_recipe

from postmix import prepare as driver
from postmix.engine import fingerprint, index, outputs, plan, select
from postmix.recipe import parse
from postmix.writers import commit, verify

Phase = tuple[str, float, float, float]  # name, start, wall seconds, CPU seconds
CHILDREN: dict[str, float] = {}  # CPU seconds of child processes ended within each phase
PHASES: list[tuple[Any, str, str]] = [
    (plan, "resolve", "plan (converters, shard cuts)"),
    (fingerprint, "fingerprint", "fingerprint (source digests)"),
    (index, "build", "index (join the workers' columns)"),
    (select, "duplicates", "exact dedup"),
    (select, "select", "mix and split"),
    (outputs, "write_splits", "write the splits (gather spill lines, sha256)"),
    (outputs, "write_side_files", "removed.jsonl, quarantine.jsonl"),
    (outputs, "write_examples", "examples.jsonl"),
    (outputs, "write_json", "manifest.json"),
    (driver, "write_glue", "trainer glue (dataset_info.json, axolotl.yaml)"),
    (commit.OutputCommit, "commit", "staged commit (swap the output dir in)"),
]


def timed(phases: list[Phase], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        start, cpu, child = time.perf_counter(), time.process_time(), _children_cpu()
        try:
            return fn(*args, **kwargs)
        finally:
            wall = time.perf_counter() - start
            children = _children_cpu() - child
            CHILDREN[name] = CHILDREN.get(name, 0.0) + children
            phases.append((name, start, wall, time.process_time() - cpu + children))

    return run


def _children_cpu() -> float:
    """CPU seconds of this process's ended children (shard workers, gather processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sha256_speed() -> float:
    """Bytes per second of hashlib's sha256 on this machine (64 MiB, best of 3)."""
    data = os.urandom(1 << 20) * 64
    best = min(_time(lambda: hashlib.sha256(data).digest()) for _ in range(3))
    return len(data) / best


def _time(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(rows: int, executor: str, num_proc: int | None) -> tuple[list[Phase], float, float]:
    """(phases, total wall, workers' CPU) of one prepare on `rows` benchmark rows."""
    paths = generate(rows)
    out = WORK / f"phases_{rows}" / "out"
    shutil.rmtree(out.parent, ignore_errors=True)
    recipe = parse(postmix_recipe(paths, out, executor))
    phases: list[Phase] = []
    for owner, attr, label in PHASES:
        setattr(owner, attr, timed(phases, label, getattr(owner, attr)))
    import postmix.report as report

    report.write_card = timed(phases, "dataset card (README.md)", report.write_card)
    children = _children_cpu()
    start = time.perf_counter()
    manifest = driver.prepare(
        recipe, out, num_proc=num_proc, progress=False, report=False, force=True
    )
    total = time.perf_counter() - start
    # Children's CPU outside the timed phases is the shard workers' (the gather
    # processes of the write phase are counted on its row).
    workers = _children_cpu() - children - sum(CHILDREN.values())
    ends = {name: s + w for name, s, w, _ in phases}
    begins = {name: s for name, s, _, _ in phases}
    shard_start = ends["fingerprint (source digests)"]
    shard_wall = begins["index (join the workers' columns)"] - shard_start
    phases.append(("shard work (read, convert, chain, spill)", shard_start, shard_wall, 0.0))
    size = sum((out / o["path"]).stat().st_size for o in manifest["outputs"])
    inline = size / sha256_speed()
    phases.append(("of which: sha256 while writing (estimated)", float("inf"), inline, inline))
    check = timed(phases, "sha256 verification (a trainer, after)", verify.verify)
    check(out)
    phases[-1] = (phases[-1][0], float("inf"), *phases[-1][2:])  # listed last
    return phases, total, workers


def py_spy_top(rows: int, top: int = 15) -> str:
    """The functions with the most self time over the driver and its workers (py-spy at
    100 Hz on `postmix prepare` as the CLI runs it), as a Markdown table."""
    folder = WORK / f"phases_{rows}"
    recipe, raw = folder / "spy.yaml", folder / "spy.txt"
    recipe.write_text(postmix_recipe(generate(rows), folder / "spy"))
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    cli = [sys.executable, "-m", "postmix", "prepare", str(recipe), "--no-progress", "--no-report"]
    cmd = [spy, "record", "--subprocesses", "-r", "100", "-f", "raw", "-o", str(raw), "--", *cli]
    subprocess.run(cmd, check=True, capture_output=True)
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frame = stack.rsplit(";", 1)[-1]
        if frame and not frame.startswith("process "):  # a sample with no Python frame
            counts[_function(frame)] += int(n)
    total = sum(counts.values())
    lines = ["| share of samples | function (self time) |", "|---:|---|"]
    lines += [f"| {n / total:.1%} | `{name}` |" for name, n in counts.most_common(top)]
    return "\n".join(lines)


def _function(frame: str) -> str:
    """A py-spy frame as `name (package/module.py)`: no line number, no install prefix."""
    frame = re.sub(r":\d+\)$", ")", frame)
    return re.sub(r"\(.*/(site-packages|src)/", "(", frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--num-proc", type=int, default=None)
    parser.add_argument("--py-spy", action="store_true", help="also profile a CLI run")
    args = parser.parse_args()
    phases, total, workers = measure(args.rows, args.executor, args.num_proc)
    fast = os.environ.get("POSTMIX_FAST_PATH", "1") != "0"
    print(
        f"{args.rows:,} rows, {args.executor}, fast path {'on' if fast else 'off'}: "
        f"prepare {total:.2f} s wall, workers {workers:.1f} CPU-s, "
        f"load {os.getloadavg()[0]:.1f}\n"
    )
    print("| phase | wall s | share of prepare | CPU s (driver and its processes) |")
    print("|---|---:|---:|---:|")
    for name, _, wall, cpu in sorted(phases, key=lambda p: p[1]):
        cpu_text = f"{workers:.1f} (workers)" if name.startswith("shard work") else f"{cpu:.2f}"
        print(f"| {name} | {wall:.2f} | {wall / total:.1%} | {cpu_text} |")
    if args.py_spy:
        print(f"\nSelf time over all processes (py-spy, 100 Hz):\n\n{py_spy_top(args.rows)}")


if __name__ == "__main__":
    main()
