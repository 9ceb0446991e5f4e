"""Decontamination: recall of planted benchmark items and false positives, n-gram vs embedding.

Benchmarks: the real GSM8K test set (1319) and HumanEval (164) from
`../shared/data`. Training set: real clean rows (GSM8K train, which shares no
question with test; Code Alpaca; the LLaMA-Factory Alpaca demo) plus planted
items, each inside a prompt with text around it:

- exact: the benchmark item verbatim;
- paraphrase: common words swapped for synonyms (`tests/decontam/data.py`),
  which breaks most 13-grams while keeping the meaning.

For each method: index build time, check throughput, recall per planted
kind, false-positive rate on the clean rows. The embedding model runs on a
subset (`--embedding-clean`), being ~100x slower. Not a test.

    python benchmarks/decontam.py
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from postmix.decontam import DecontamConfig, build  # noqa: E402
from postmix.decontam.benchmarks import load as load_items  # noqa: E402
from postmix.decontam.benchmarks import spec_of  # noqa: E402
from postmix.decontam.embedding import load_model  # noqa: E402
from tests.conftest import SHARED_DATA  # noqa: E402
from tests.decontam.data import (  # noqa: E402
    CODE_ALPACA,
    GSM8K_TRAIN,
    gsm8k_and_humaneval,
    paraphrase,
)
from tests.filters.records import load, sft  # noqa: E402

ALPACA_DEMO = "hiyouga__LLaMA-Factory/alpaca_en_demo.json"
WRAP = ("Here is a task for you.\n{}\nPlease answer carefully.", "Solve:\n{}", "{}\nThanks!")


def clean_rows(root: Path) -> list[dict[str, Any]]:
    rows = [sft(r["question"], r["answer"]) for r in load(root, GSM8K_TRAIN)]
    for rel in (CODE_ALPACA, ALPACA_DEMO):
        rows += [sft(r["instruction"] + "\n" + r["input"], r["output"]) for r in load(root, rel)]
    return rows


def planted(index_texts: list[tuple[str, str]], per_kind: int, seed: int) -> dict[str, list]:
    """Planted records per kind, each with the benchmark item id it must match."""
    rng = random.Random(seed)
    sample = rng.sample(index_texts, per_kind)
    out: dict[str, list] = {"exact": [], "paraphrase": []}
    for item_id, text in sample:
        wrap = rng.choice(WRAP)
        out["exact"].append((item_id, sft(wrap.format(text), "ok")))
        out["paraphrase"].append((item_id, sft(wrap.format(paraphrase(text)), "ok")))
    return out


def evaluate(method: str, cfg: DecontamConfig, clean: list, plants: dict, model: Any) -> dict:
    t = time.perf_counter()
    index = build(cfg, model)
    built = time.perf_counter() - t
    t = time.perf_counter()
    false = sum(m is not None for m in index.check(clean))
    records = len(clean)
    row = {"method": method, "build_s": built, "fp": false / len(clean), "clean": len(clean)}
    for kind, pairs in plants.items():
        matches = index.check([rec for _, rec in pairs])
        records += len(pairs)
        row[kind] = sum(
            m is not None and f"{m.benchmark}/{m.item_id}" == want
            for (want, _), m in zip(pairs, matches)
        ) / len(pairs)
    row["records_s"] = records / (time.perf_counter() - t)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-kind", type=int, default=300, help="planted records per kind")
    ap.add_argument("--embedding-clean", type=int, default=2000)
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    specs = gsm8k_and_humaneval(SHARED_DATA)
    items = [item for s in specs for item in load_items(spec_of(s))]
    texts = [(f"{it.benchmark}/{it.item_id}", "\n".join(it.texts)) for it in items]
    plants = planted(texts, args.per_kind, args.seed)
    clean = clean_rows(SHARED_DATA)
    subset = random.Random(args.seed).sample(clean, min(args.embedding_clean, len(clean)))
    rows = [evaluate("ngram (13)", DecontamConfig(against=specs), clean, plants, None)]
    t = time.perf_counter()
    model = load_model()
    print(f"embedding model loaded in {time.perf_counter() - t:.1f}s")
    emb = DecontamConfig(against=specs, method="embedding", threshold=args.threshold)
    rows.append(evaluate(f"embedding ({args.threshold})", emb, subset, plants, model))
    columns = ["method", "index build s", "check records/s", "recall exact"]
    columns += ["recall paraphrase", "false positives (clean rows)"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print(
            f"| {r['method']} | {r['build_s']:.1f} | {r['records_s']:,.0f} | {r['exact']:.3f} | "
            f"{r['paraphrase']:.3f} | {r['fp']:.4%} of {r['clean']:,} |"
        )


if __name__ == "__main__":
    main()
