"""The near-dedup benchmark's data: real-looking bodies with planted near duplicates.

Deterministic from (rows, dup share, seed) and cached under benchmarks/_work/dedup/;
`dedup.py` runs postmix and datatrove on it and scores both against the planted truth.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import orjson

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work" / "dedup"
GENERATOR_VERSION = 1
SHARD_ROWS = 50_000
_FUNCTION = (
    "the of and to a in is that for it as with was on be by this are or at from an but not have "
    "you which can your all will if more their what one about has so when there do they how use "
    "each any we should may most some like into them than other its also these been would only"
)
FUNCTION_WORDS = _FUNCTION.split()
OPENERS = (
    "Write a short story about",
    "Explain why",
    "Summarize the following text:",
    "Give three examples of",
    "Translate the sentence below into French:",
    "What is the difference between",
    "Create a list of",
    "Describe how",
    "Rewrite this paragraph so that",
    "You are a helpful assistant. Answer the question:",
)


def word_pool(rng: random.Random, n: int = 30_000) -> list[str]:
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
    words: set[str] = set()
    while len(words) < n:
        size = rng.choice((1, 2, 2, 3, 3, 4))
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(size)))
    return sorted(words)


def bodies(rows: int, seed: int) -> list[str]:
    """Texts with realistic word-frequency overlap: function words plus Zipf-weighted content."""
    rng = np.random.default_rng(seed)
    pool = np.array(word_pool(random.Random(seed)) + FUNCTION_WORDS, dtype=object)
    content = len(pool) - len(FUNCTION_WORDS)
    weights = 1 / np.arange(1, content + 1) ** 1.07
    lengths = np.clip(rng.lognormal(np.log(40), 0.7, rows), 5, 400).astype(int)
    total = int(lengths.sum())
    ids = rng.choice(content, size=total, p=weights / weights.sum())
    function = rng.random(total) < 0.4
    ids[function] = content + rng.integers(0, len(FUNCTION_WORDS), function.sum())
    words = pool[ids]
    openers = rng.integers(0, len(OPENERS), rows)
    ends = np.cumsum(lengths)
    return [
        OPENERS[o] + " " + " ".join(words[e - n : e]) + "."
        for o, n, e in zip(openers, lengths, ends)
    ]


def planted_edit(text: str, rng: random.Random, pool: list[str]) -> str:
    """1-3 word edits plus surface noise that normalization removes."""
    words = text.split()
    for _ in range(rng.choice((1, 1, 2, 3))):
        i = rng.randrange(len(words))
        kind = rng.choice(("replace", "delete", "insert", "swap"))
        if kind == "replace":
            words[i] = rng.choice(pool)
        elif kind == "delete" and len(words) > 3:
            del words[i]
        elif kind == "insert":
            words.insert(i, rng.choice(pool))
        elif i + 1 < len(words):
            words[i], words[i + 1] = words[i + 1], words[i]
    out = " ".join(words)
    if rng.random() < 0.5:
        out = out.upper() if rng.random() < 0.2 else out.capitalize()
    return out.replace(" ", "  ", 1) + rng.choice(("", "!", " ?", "..."))


def generate(rows: int, dup_share: float, seed: int = 0) -> Path:
    """JSONL shards of `rows` records ({id, text, origin}); cached by parameters."""
    folder = WORK / f"v{GENERATOR_VERSION}-{rows}-{dup_share}-{seed}"
    if (folder / "done").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "shards").mkdir(parents=True)
    planted = int(rows * dup_share)
    texts = bodies(rows - planted, seed)
    rng = random.Random(seed)
    pool = word_pool(random.Random(seed))
    origin = list(range(len(texts)))
    for _ in range(planted):
        o = rng.randrange(rows - planted)
        texts.append(planted_edit(texts[o], rng, pool))
        origin.append(o)
    order = np.random.default_rng(seed).permutation(rows)
    position = np.empty(rows, dtype=np.int64)
    position[order] = np.arange(rows)
    for start in range(0, rows, SHARD_ROWS):
        lines = (
            orjson.dumps({"id": i, "text": texts[k], "origin": int(position[origin[k]])})
            for i, k in enumerate(order[start : start + SHARD_ROWS].tolist(), start)
        )
        (folder / "shards" / f"{start // SHARD_ROWS:05d}.jsonl").write_bytes(b"\n".join(lines))
    (folder / "done").touch()
    return folder


def read_shard(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().split(b"\n")]
