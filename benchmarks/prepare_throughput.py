"""`postmix prepare` throughput and memory on 100k and 1M mixed rows, against a floor and convmerge.

For each size, the script writes deterministic Alpaca, ShareGPT and hh-rlhf
JSONL files (realistic lengths, about 2% exact duplicates within and across
sources, a few truncated lines) under `benchmarks/_work/`, then runs, each as
a subprocess whose whole process tree is sampled every 20 ms:

- floor: a bare orjson read + parse of the same files, one process;
- postmix: `postmix prepare` (convert, filter, exact dedup, mix, split, write);
- convmerge: `convmerge run` on the equivalent recipe (convert each source,
  dedupe, mix with the same weights to the same total, split).

It prints wall time, records/s, peak RSS (summed over the process tree) and
the ratios, as a Markdown table to paste into RESULTS.md. Not a test.

    python benchmarks/prepare_throughput.py --rows 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import orjson
import psutil

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"
GENERATOR_VERSION = 2  # bump when the generated data changes, to regenerate cached files
SHARES = {"alpaca": 0.40, "sharegpt": 0.35, "hh_rlhf": 0.25}
CONVERTERS = {"alpaca": "alpaca", "sharegpt": "sharegpt", "hh_rlhf": "hh_rlhf"}
DUP_RATE = 0.02
CROSS_DUP_RATE = 0.005
MALFORMED_PER_100K = 5
SAMPLE_S = 0.02
WORDS_PER_SENTENCE = 11.5  # mean of the pool's 5..18-word sentences

# ---------------------------------------------------------------- data


def word_pool(rng: random.Random, n: int = 6000) -> list[str]:
    """Pronounceable fake words; drawn with Zipf-like weights, so text repeats like prose."""
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
    words = set()
    while len(words) < n:
        size = rng.choice((1, 1, 2, 2, 2, 3, 3, 4))
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(size)))
    return sorted(words)


class Text:
    """Sentences and paragraphs drawn from a fixed pool of sentences (fast, deterministic)."""

    def __init__(self, rng: random.Random) -> None:
        words = word_pool(rng)
        cum = list(accumulate(1 / (i + 10) for i in range(len(words))))
        self.rng = rng
        self.sentences = []
        for _ in range(30000):
            picked = rng.choices(words, cum_weights=cum, k=rng.randint(5, 18))
            self.sentences.append(" ".join(picked).capitalize() + rng.choice(".....?!"))

    def words(self, lo: int, hi: int) -> str:
        """About lo..hi words of prose, with a number so prompts stay distinct."""
        k = max(1, round(self.rng.randint(lo, hi) / WORDS_PER_SENTENCE))
        return " ".join(self.rng.choices(self.sentences, k=k)) + f" {self.rng.randrange(10**6)}"

    def reply(self, lo: int, hi: int) -> str:
        """A reply in paragraphs, sometimes with a list, like assistant text."""
        paras = [self.words(lo // 3 + 1, hi // 3 + 1) for _ in range(self.rng.randint(1, 3))]
        if self.rng.random() < 0.3:
            paras.append("\n".join(f"{i}. {self.words(4, 10)}" for i in range(1, 4)))
        return "\n\n".join(paras)


def alpaca_row(t: Text) -> dict:
    has_input = t.rng.random() < 0.4
    return {
        "instruction": t.words(6, 25),
        "input": t.words(8, 40) if has_input else "",
        "output": t.reply(20, 140),
    }


def sharegpt_row(t: Text) -> dict:
    turns = []
    if t.rng.random() < 0.2:
        turns.append({"from": "system", "value": t.words(6, 20)})
    for _ in range(t.rng.choice((1, 1, 1, 2, 2, 3, 4))):
        turns.append({"from": "human", "value": t.words(8, 50)})
        turns.append({"from": "gpt", "value": t.reply(30, 160)})
    return {"conversations": turns}


def hh_row(t: Text) -> dict:
    head = ""
    for _ in range(t.rng.choice((0, 0, 1, 1, 2))):
        head += f"\n\nHuman: {t.words(6, 30)}\n\nAssistant: {t.reply(15, 80)}"
    head += f"\n\nHuman: {t.words(6, 30)}\n\nAssistant: "
    return {"chosen": head + t.reply(15, 90), "rejected": head + t.reply(10, 60)}


ROWS = {"alpaca": alpaca_row, "sharegpt": sharegpt_row, "hh_rlhf": hh_row}


def prompt_of(name: str, row: dict) -> str:
    """The first user text of a row, to plant cross-source duplicates."""
    if name == "alpaca":
        return row["instruction"]
    if name == "sharegpt":
        return next(t["value"] for t in row["conversations"] if t["from"] == "human")
    return row["chosen"].split("\n\nHuman: ", 2)[1].split("\n\nAssistant:")[0]


def source_lines(name: str, n: int, seed: int, shared: list[str]) -> Iterator[bytes]:
    """`n` JSONL lines of one source: fresh rows, exact repeats, cross-source copies, bad lines."""
    rng = random.Random(f"{seed}:{name}")
    text = Text(rng)
    make = ROWS[name]
    recent: list[bytes] = []
    bad = set(rng.sample(range(n), max(1, n * MALFORMED_PER_100K // 100_000)))
    for i in range(n):
        roll = rng.random()
        if i in bad:
            line = orjson.dumps(make(text))
            yield line[: len(line) // 2] + b"\n"  # a truncated line
            continue
        if roll < DUP_RATE and recent:
            yield recent[rng.randrange(len(recent))]
            continue
        row = make(text)
        if name == "sharegpt" and roll < DUP_RATE + CROSS_DUP_RATE and shared:
            row["conversations"] = [
                {"from": "human", "value": shared[rng.randrange(len(shared))]},
                {"from": "gpt", "value": text.reply(30, 160)},
            ]
        elif name == "alpaca" and roll > 1 - CROSS_DUP_RATE and not row["input"]:
            shared.append(row["instruction"])
        line = orjson.dumps(row) + b"\n"
        if len(recent) < 50_000 and rng.random() < 0.1:
            recent.append(line)
        yield line


def generate(rows: int, seed: int = 1234) -> dict[str, Path]:
    """The data files for `rows` input rows (cached by size and generator version)."""
    folder = WORK / f"data_{rows}"
    stamp = folder / "stamp.json"
    paths = {name: folder / f"{name}.jsonl" for name in SHARES}
    want = {"version": GENERATOR_VERSION, "rows": rows, "seed": seed}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return paths
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    counts = {name: round(rows * share) for name, share in SHARES.items()}
    counts["hh_rlhf"] += rows - sum(counts.values())
    shared: list[str] = []
    for name, path in paths.items():
        with open(path, "wb", buffering=1 << 20) as fh:
            fh.writelines(source_lines(name, counts[name], seed, shared))
    stamp.write_text(json.dumps(want))
    return paths


# ---------------------------------------------------------------- measuring


@dataclass
class Run:
    label: str
    seconds: float
    cpu_seconds: float  # user + system of the whole tree: less sensitive to other load
    peak_rss: int
    peak_pss: int
    returncode: int
    rows: int
    load: float  # 1-minute load average when the run ended

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def tree_memory(proc: psutil.Process) -> tuple[int, int]:
    """(RSS, PSS) of a process and all its descendants.

    RSS counts a page shared by forked workers in each process that maps it; PSS
    splits shared pages between them, so summed over the tree it is the memory
    the job really holds.
    """
    rss = pss = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0, 0
    for p in procs:
        try:
            info = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
        pss += info.pss
    return rss, pss


def measure(label: str, cmd: list[str], rows: int, cwd: Path, env: dict[str, str]) -> Run:
    """Wall time, CPU time and peak whole-tree RSS (sampled every SAMPLE_S s) of a command."""
    peak = peak_pss = 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = psutil.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    reader.start()
    while proc.poll() is None:
        rss, pss = tree_memory(proc)
        peak, peak_pss = max(peak, rss), max(peak_pss, pss)
        time.sleep(SAMPLE_S)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    reader.join()
    if proc.returncode:
        print(f"{label} failed ({proc.returncode}):\n{''.join(err)[-3000:]}", file=sys.stderr)
    return Run(label, seconds, cpu, peak, peak_pss, proc.returncode, rows, os.getloadavg()[0])


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


def postmix_recipe(paths: dict[str, Path], out: Path) -> str:
    datasets = [
        {
            "name": name,
            "source": str(path),
            "format_converter": CONVERTERS[name],
            "mix_ratio": SHARES[name],
            "priority": len(SHARES) - i,
            "filters": [{"type": "length", "min_length": 10, "max_length": 20000}],
        }
        for i, (name, path) in enumerate(paths.items())
    ]
    recipe = {
        "metadata": {"phase": "bench", "kind": "sft"},
        "seed": 42,
        "datasets": datasets,
        "dedup": {"exact": True},
        "validation": {"ratio": 0.01, "seed": 42},
        "output": {"dir": str(out), "schema": "messages", "file_format": "jsonl"},
    }
    return json.dumps(recipe, indent=2)  # JSON is YAML


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
    label: str, cmd: list[str], rows: int, cwd: Path, repeat: int, fresh: Callable[[], None]
) -> Run:
    """`repeat` runs of a command from a clean state; the median one."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    runs = []
    for _ in range(repeat):
        fresh()
        runs.append(measure(label, cmd, rows, cwd, env))
    return median_run(runs)


def bench(rows: int, repeat: int, with_convmerge: bool, num_proc: int | None) -> list[Run]:
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
    results = [repeated("floor", floor, rows, run_dir, repeat, lambda: None)]

    out = run_dir / "postmix_out"
    recipe = run_dir / "postmix.yaml"
    recipe.write_text(postmix_recipe(paths, out))
    # No HTML/Markdown report: convmerge writes none, and it is not part of the data job.
    cmd = [sys.executable, "-m", "postmix", "prepare", str(recipe), "--no-progress", "--no-report"]
    cmd += ["--num-proc", str(num_proc)] if num_proc else []
    results.append(
        repeated("postmix", cmd, rows, run_dir, repeat, lambda: shutil.rmtree(out, True))
    )
    manifest = json.loads((out / "manifest.json").read_text())
    totals = manifest["totals"]
    print(f"postmix kept {totals['kept']:,} of {totals['read']:,} rows")

    if with_convmerge:
        cm_out = run_dir / "convmerge_out"
        cm_recipe = run_dir / "convmerge.yaml"
        cm_recipe.write_text(
            convmerge_recipe(paths, totals["train"] + totals["validation"], cm_out)
        )

        def fresh() -> None:
            shutil.rmtree(cm_out, ignore_errors=True)
            (run_dir / "convmerge.lock.json").unlink(missing_ok=True)

        cmd = [sys.executable, "-m", "convmerge", "run", str(cm_recipe)]
        results.append(repeated("convmerge", cmd, rows, run_dir, repeat, fresh))
    for r in results:
        status = "" if r.returncode == 0 else f" (exit {r.returncode})"
        print(
            f"  {r.label:10s} {r.seconds:7.2f} s  {r.rate:11,.0f} rows/s  "
            f"CPU {r.cpu_seconds:7.2f} s  peak RSS {r.peak_rss / 2**20:5.0f} MiB  "
            f"PSS {r.peak_pss / 2**20:5.0f} MiB  "
            f"load {r.load:.1f}{status}"
        )
    return results


def table(all_runs: dict[int, list[Run]]) -> str:
    lines = [
        "| rows | tool | wall s | rows/s | CPU s | peak RSS MiB | peak PSS MiB | wall vs floor "
        "| wall vs postmix | CPU vs postmix | load |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows, runs in all_runs.items():
        by = {r.label: r for r in runs}
        for r in runs:
            lines.append(
                f"| {rows:,} | {r.label} | {r.seconds:.2f} | {r.rate:,.0f} | {r.cpu_seconds:.1f} | "
                f"{r.peak_rss / 2**20:.0f} | {r.peak_pss / 2**20:.0f} | "
                f"{r.seconds / by['floor'].seconds:.1f}x | "
                f"{r.seconds / by['postmix'].seconds:.2f}x | "
                f"{r.cpu_seconds / by['postmix'].cpu_seconds:.2f}x | {r.load:.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; the median is kept")
    parser.add_argument("--num-proc", type=int, default=None, help="postmix workers")
    parser.add_argument("--no-convmerge", action="store_true", help="skip the convmerge run")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"{platform.processor() or platform.machine()}, {cores} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}"
    )
    all_runs = {
        rows: bench(rows, args.repeat, not args.no_convmerge, args.num_proc) for rows in args.rows
    }
    print("\n" + table(all_runs))
    if len(all_runs) > 1:
        postmix = [next(r for r in runs if r.label == "postmix") for runs in all_runs.values()]
        growth = postmix[-1].peak_rss / postmix[0].peak_rss
        pss_growth = postmix[-1].peak_pss / postmix[0].peak_pss
        first, last = args.rows[0], args.rows[-1]
        print(
            f"\npostmix peak RSS grows {growth:.2f}x (PSS {pss_growth:.2f}x) "
            f"from {first:,} to {last:,} rows"
        )


if __name__ == "__main__":
    main()
