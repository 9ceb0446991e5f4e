"""Deterministic mixed post-training rows for the `prepare` benchmarks (cached under `_work/`).

Alpaca, ShareGPT and hh-rlhf JSONL files with realistic lengths (~1.2 KB a
row), about 2% exact repeats within and across sources, and a few truncated
lines: what `prepare_throughput.py` and `prepare_phases.py` run on.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"
GENERATOR_VERSION = 2  # bump when the generated data changes, to regenerate cached files
SHARES = {"alpaca": 0.40, "sharegpt": 0.35, "hh_rlhf": 0.25}
CONVERTERS = {"alpaca": "alpaca", "sharegpt": "sharegpt", "hh_rlhf": "hh_rlhf"}
DUP_RATE = 0.02
CROSS_DUP_RATE = 0.005
MALFORMED_PER_100K = 5
WORDS_PER_SENTENCE = 11.5  # mean of the pool's 5..18-word sentences


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


def postmix_recipe(paths: dict[str, Path], out: Path, executor: str = "local") -> str:
    """The benchmark's job: converters, a length filter, exact dedup, mix, 1% validation."""
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
        "executor": executor,
        "datasets": datasets,
        "dedup": {"exact": True},
        "validation": {"ratio": 0.01, "seed": 42},
        "output": {"dir": str(out), "schema": "messages", "file_format": "jsonl"},
    }
    return json.dumps(recipe, indent=2)  # JSON is YAML
