"""`postmix prepare` throughput and memory on 100k and 1M mixed rows, against a floor and convmerge.

For each size, `prepare_data.py` writes (and caches under `_work/`) Alpaca,
ShareGPT and hh-rlhf JSONL files; then each of these runs as a subprocess
whose whole process tree is sampled every 20 ms:

- floor: a bare orjson read + parse of the same files, one process;
- postmix: `postmix prepare` (convert, filter, exact dedup, mix, split, write)
  with its fast path (`engine/fast.py`);
- postmix general: the same with the fast path off (`POSTMIX_FAST_PATH=0`),
  the before/after of the fast path in one run;
- postmix ray: the same job on a local Ray instance (`--executor ray`);
- convmerge: `convmerge run` on the equivalent recipe (convert each source,
  dedupe, mix with the same weights to the same total, split).

Each postmix variant's outputs are checked against the first's (same bytes, the
manifest's timings aside). It prints wall time, CPU time, peak memory (summed over
the process tree and of its largest process), the share of `prepare()` itself in the wall time
(the rest is interpreter start, imports and the dataset card) and the ratios,
as a Markdown table to paste into RESULTS.md; `--profile` then breaks one run
at the largest size down by phase and by function (`prepare_phases.py`). Not a test.

    python benchmarks/prepare_throughput.py --rows 100000 1000000 --repeat 3 --profile
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
from prepare_data import SHARES, WORK, generate, postmix_recipe

HERE = Path(__file__).resolve().parent
SAMPLE_S = 0.02
LABELS = ("floor", "postmix", "postmix general", "postmix ray", "convmerge")

# ---------------------------------------------------------------- measuring


@dataclass
class Run:
    label: str
    seconds: float
    cpu_seconds: float  # user + system of the whole tree: less sensitive to other load
    peak_rss: int  # summed over the process tree
    peak_pss: int
    peak_largest: int  # RSS of the largest single process
    returncode: int
    rows: int
    load: float  # 1-minute load average when the run ended
    inner: float | None = None  # `prepare()` seconds from the manifest (postmix runs)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


@dataclass
class Sample:
    rss: int = 0
    pss: int = 0
    largest: int = 0


def tree_sample(proc: psutil.Process, cpu: dict[int, float]) -> Sample:
    """Memory of a process and all its descendants; records each one's CPU seconds in `cpu`.

    RSS counts a page shared by forked workers in each process that maps it; PSS
    splits shared pages between them, so summed over the tree it is the memory
    the job really holds. CPU is sampled too because Ray's daemons are not
    waited for, so `getrusage` misses them.
    """
    out = Sample()
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return out
    for p in procs:
        try:
            with p.oneshot():
                info = p.memory_full_info()
                times = p.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        out.rss += info.rss
        out.pss += info.pss
        out.largest = max(out.largest, info.rss)
        cpu[p.pid] = times.user + times.system
    return out


def measure(label: str, cmd: list[str], rows: int, cwd: Path, env: dict[str, str]) -> Run:
    """Wall time, CPU time and peak memory (sampled every SAMPLE_S s) of a command."""
    peak = Sample()
    cpu: dict[int, float] = {}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = psutil.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    reader.start()
    while proc.poll() is None:
        now = tree_sample(proc, cpu)
        peak = Sample(
            max(peak.rss, now.rss), max(peak.pss, now.pss), max(peak.largest, now.largest)
        )
        time.sleep(SAMPLE_S)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    waited = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    reader.join()
    if proc.returncode:
        print(f"{label} failed ({proc.returncode}):\n{''.join(err)[-3000:]}", file=sys.stderr)
    return Run(
        label,
        seconds,
        max(waited, sum(cpu.values())),
        peak.rss,
        peak.pss,
        peak.largest,
        proc.returncode,
        rows,
        os.getloadavg()[0],
    )


FLOOR = """
import sys, orjson
rows = bad = 0
for path in sys.argv[1:]:
    with open(path, "rb", buffering=1 << 20) as fh:
        for line in fh:
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:
                bad += 1
            rows += 1
print(rows, bad)
"""


def convmerge_recipe(paths: dict[str, Path], total: int, out: Path) -> str:
    """The same job in convmerge's recipe format: convert each source, mix, dedupe, split."""
    sources = {
        name: {
            "path": str(path),
            "normalize": False,
            "convert": {
                "from": "auto" if name == "hh_rlhf" else name,
                "format": "messages",
                "workers": os.cpu_count() or 1,
                **({"preference": "chosen"} if name == "hh_rlhf" else {}),
            },
        }
        for name, path in paths.items()
    }
    recipe = {
        "version": 1,
        "workdir": str(out / "build"),
        "output": str(out / "train.jsonl"),
        "sources": sources,
        "mix": {"total": total, "seed": 42, "weights": dict(SHARES)},
        "dedupe": True,
        "split": {"val": 0.01},
    }
    return json.dumps(recipe, indent=2)


def median_run(runs: list[Run]) -> Run:
    """The median run by wall time (timings here vary between identical runs)."""
    ok = sorted((r for r in runs if r.returncode == 0), key=lambda r: r.seconds)
    return ok[len(ok) // 2] if ok else runs[0]


def repeated(
    label: str,
    cmd: list[str],
    rows: int,
    cwd: Path,
    repeat: int,
    fresh: Callable[[], None],
    env: dict[str, str] | None = None,
    manifest: Path | None = None,
) -> Run:
    """`repeat` runs of a command from a clean state; the median one."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **(env or {})}
    runs = []
    for _ in range(repeat):
        fresh()
        run = measure(label, cmd, rows, cwd, env)
        if manifest is not None and manifest.exists():
            run.inner = json.loads(manifest.read_text()).get("seconds")
        runs.append(run)
    return median_run(runs)


def output_digest(out: Path) -> str:
    """sha256 over every output file (the manifest without its timings)."""
    h = hashlib.sha256()
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "manifest.json":
            doc = json.loads(data)
            doc.pop("seconds", None)
            data = json.dumps(doc, sort_keys=True).encode()
        h.update(str(path.relative_to(out)).encode() + b"\0")
        h.update(hashlib.sha256(data).digest())
    return h.hexdigest()


def clean(path: Path) -> Callable[[], None]:
    return lambda: shutil.rmtree(path, ignore_errors=True)


def bench(rows: int, args: argparse.Namespace) -> list[Run]:
    t0 = time.perf_counter()
    paths = generate(rows)
    size = sum(p.stat().st_size for p in paths.values())
    print(
        f"\n{rows:,} rows, {size / 2**20:.0f} MiB (data ready in {time.perf_counter() - t0:.0f} s)"
    )
    run_dir = WORK / f"run_{rows}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    floor = [sys.executable, "-c", FLOOR, *map(str, paths.values())]
    results = [repeated("floor", floor, rows, run_dir, args.repeat, lambda: None)]

    out = run_dir / "postmix_out"
    recipe = run_dir / "postmix.yaml"
    recipe.write_text(postmix_recipe(paths, out))
    # No HTML/Markdown report: convmerge writes none, and it is not part of the data job.
    cmd = [sys.executable, "-m", "postmix", "prepare", str(recipe), "--no-progress", "--no-report"]
    cmd += ["--num-proc", str(args.num_proc)] if args.num_proc else []
    variants = [("postmix", [], {}, args.repeat)]
    if not args.no_general:
        variants.append(("postmix general", [], {"POSTMIX_FAST_PATH": "0"}, 1))
    if not args.no_ray:
        variants.append(("postmix ray", ["--executor", "ray"], {"RAY_AUTH_MODE": "disabled"}, 1))
    manifest = out / "manifest.json"
    digests: dict[str, str] = {}
    for label, extra, env, times in variants:
        results.append(
            repeated(label, cmd + extra, rows, run_dir, times, clean(out), env, manifest)
        )
        digests[label] = output_digest(out)
        if label == "postmix":
            totals = json.loads(manifest.read_text())["totals"]
            print(f"postmix kept {totals['kept']:,} of {totals['read']:,} rows")
        else:
            same = "yes" if digests[label] == digests["postmix"] else "NO"
            print(f"{label}: same output bytes as postmix: {same}")

    if not args.no_convmerge:
        cm_out = run_dir / "convmerge_out"
        cm_recipe = run_dir / "convmerge.yaml"
        cm_recipe.write_text(
            convmerge_recipe(paths, totals["train"] + totals["validation"], cm_out)
        )

        def fresh() -> None:
            shutil.rmtree(cm_out, ignore_errors=True)
            (run_dir / "convmerge.lock.json").unlink(missing_ok=True)

        cmd = [sys.executable, "-m", "convmerge", "run", str(cm_recipe)]
        results.append(repeated("convmerge", cmd, rows, run_dir, args.convmerge_repeat, fresh))
    for r in results:
        status = "" if r.returncode == 0 else f" (exit {r.returncode})"
        inner = f"  prepare() {r.inner:6.2f} s" if r.inner is not None else ""
        print(
            f"  {r.label:16s} {r.seconds:7.2f} s  {r.rate:9,.0f} rows/s  "
            f"CPU {r.cpu_seconds:7.2f} s  peak RSS {r.peak_rss / 2**20:5.0f} MiB  "
            f"PSS {r.peak_pss / 2**20:5.0f} MiB  largest {r.peak_largest / 2**20:5.0f} MiB"
            f"{inner}  load {r.load:.1f}{status}"
        )
    return results


def table(all_runs: dict[int, list[Run]]) -> str:
    lines = [
        "| rows | tool | wall s | prepare() s | rows/s | CPU s | peak RSS MiB (tree / largest) "
        "| peak PSS MiB | wall vs floor | wall vs postmix | CPU vs postmix | load |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows, runs in all_runs.items():
        by = {r.label: r for r in runs}
        for r in runs:
            inner = f"{r.inner:.2f}" if r.inner is not None else ""
            lines.append(
                f"| {rows:,} | {r.label} | {r.seconds:.2f} | {inner} | {r.rate:,.0f} | "
                f"{r.cpu_seconds:.1f} | {r.peak_rss / 2**20:.0f} / {r.peak_largest / 2**20:.0f} | "
                f"{r.peak_pss / 2**20:.0f} | {r.seconds / by['floor'].seconds:.1f}x | "
                f"{r.seconds / by['postmix'].seconds:.2f}x | "
                f"{r.cpu_seconds / by['postmix'].cpu_seconds:.2f}x | {r.load:.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=1, help="floor and postmix runs (median)")
    parser.add_argument("--convmerge-repeat", type=int, default=1, help="convmerge runs (median)")
    parser.add_argument("--num-proc", type=int, default=None, help="postmix workers")
    parser.add_argument("--no-convmerge", action="store_true", help="skip the convmerge run")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray run")
    parser.add_argument("--no-general", action="store_true", help="skip the fast-path-off run")
    parser.add_argument(
        "--profile", action="store_true", help="then where the time goes at the largest size"
    )
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"{platform.processor() or platform.machine()}, {cores} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}"
    )
    all_runs = {rows: bench(rows, args) for rows in args.rows}
    print("\n" + table(all_runs))
    if len(all_runs) > 1:
        first, last = args.rows[0], args.rows[-1]
        a, b = (next(r for r in all_runs[n] if r.label == "postmix") for n in (first, last))
        print(
            f"\npostmix peak RSS grows {b.peak_rss / a.peak_rss:.2f}x (PSS "
            f"{b.peak_pss / a.peak_pss:.2f}x, largest process "
            f"{b.peak_largest / a.peak_largest:.2f}x) from {first:,} to {last:,} rows"
        )
    if args.profile:  # phases and py-spy's top functions (prepare_phases.py), load sampled there
        phases = [sys.executable, str(HERE / "prepare_phases.py"), "--rows", str(args.rows[-1])]
        print(
            "\n"
            + subprocess.run(
                [*phases, "--py-spy"], check=True, capture_output=True, text=True
            ).stdout
        )


if __name__ == "__main__":
    main()
