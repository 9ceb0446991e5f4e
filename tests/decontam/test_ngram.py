"""N-gram decontamination against the real GSM8K test set, HumanEval and AlpacaEval."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from postmix.decontam import DecontamConfig, Index, Match, build
from postmix.decontam.benchmarks import Item
from postmix.dedup.shingle import words_of
from tests.decontam.data import (
    ALPACA_EVAL,
    ARENA_HARD,
    CODE_ALPACA,
    GSM8K_TEST,
    GSM8K_TRAIN,
    USER_ORIENTED,
    VICUNA,
    gsm8k_and_humaneval,
    paraphrase,
    spec,
)
from tests.filters.records import load, pref, sft


@pytest.fixture(scope="module")
def index(shared_data: Path) -> Index:
    return build(DecontamConfig(against=gsm8k_and_humaneval(shared_data)))


def found(matches: list[Match | None]) -> int:
    return sum(m is not None for m in matches)


def test_planted_benchmark_items_are_found(shared_data: Path, index: Index) -> None:
    assert index.items_per_benchmark == {"gsm8k": 1319, "humaneval": 164}
    questions = [r["question"] for r in load(shared_data, GSM8K_TEST)]
    planted = [sft(f"Here is a problem.\n{q}\nAnswer briefly.", "42") for q in questions[:300]]
    matches = index.check(planted)
    assert found(matches) == 300
    first = matches[0]
    assert first is not None and (first.benchmark, first.item_id, first.score) == (
        "gsm8k",
        "0",
        1.0,
    )
    assert first.ngram is not None and first.ngram in " ".join(words_of(questions[0]))


def test_planted_humaneval_prompts_are_found(index: Index) -> None:
    prompt = index.text("humaneval", "HumanEval/0")
    assert prompt.startswith("from typing import List")
    matches = index.check([sft("Complete this code:\n" + prompt, "pass")])
    assert matches[0] is not None and matches[0].item_id == "HumanEval/0"


def test_light_paraphrases_partly_escape_ngrams(shared_data: Path, index: Index) -> None:
    """Synonym swaps every few words break most 13-grams: why the embedding method exists."""
    questions = [r["question"] for r in load(shared_data, GSM8K_TEST)]
    sample = random.Random(0).sample(range(len(questions)), 200)
    matches = index.check([sft(paraphrase(questions[i]), "x") for i in sample])
    share = found(matches) / len(sample)
    assert 0.4 < share < 0.9  # measured 0.68
    # GSM8K test has near-twins (item 761 is 488 without its first sentence): the best match
    # may be the twin
    right = sum(m.item_id == str(i) for m, i in zip(matches, sample) if m is not None)
    assert right >= 0.97 * found(matches)


def test_clean_training_rows_mostly_pass(shared_data: Path, index: Index) -> None:
    """GSM8K train and test share no question; 4 of 7473 train questions share a 13-gram with a
    test question written from the same template (e.g. the same stamps problem with other
    names and numbers): a 0.05% false-positive rate. Code Alpaca: none."""
    train = [sft(r["question"], r["answer"]) for r in load(shared_data, GSM8K_TRAIN)]
    hits = found(index.check(train))
    assert hits / len(train) <= 0.002
    code = [
        sft(r["instruction"] + "\n" + r["input"], r["output"])
        for r in load(shared_data, CODE_ALPACA)
    ]
    assert found(index.check(code)) / len(code) <= 0.002


def test_alpaca_eval_ground_truth(shared_data: Path) -> None:
    """vicuna_question_80 is inside AlpacaEval, so is Self-Instruct's user-oriented set
    (instruction + input); arena-hard shares nothing with it."""
    idx = build(
        DecontamConfig(against=[spec(shared_data, "alpaca_eval", ALPACA_EVAL, "instruction")])
    )
    vicuna = idx.check([sft(r["text"], "ok") for r in load(shared_data, VICUNA)])
    assert found(vicuna) == 80
    assert {m.benchmark for m in vicuna if m} == {"alpaca_eval"}
    user = load(shared_data, USER_ORIENTED)
    first = [r["instances"][0] for r in user]
    recs = [
        sft(r["instruction"] + "\n" + i["input"], i["output"] or "x") for r, i in zip(user, first)
    ]
    assert found(idx.check(recs)) == 252
    arena = [sft(r["prompt"], "x") for r in load(shared_data, ARENA_HARD)]
    assert found(idx.check(arena)) == 0


def _index(*texts: str, **cfg: object) -> Index:
    items = [Item("bench", str(i), (t,)) for i, t in enumerate(texts)]
    return Index(
        DecontamConfig(against=[{"name": "bench", "source": "x.jsonl", "field": "q"}], **cfg), items
    )


LONG = (
    "a farmer has seventeen sheep and all but nine run away so how many sheep does the farmer have"
    " left"
)


def test_short_items_match_as_a_run_or_exactly() -> None:
    idx = _index(
        "Which planet in our solar system has the most moons today?",  # 11 words: a run
        "What is Atlantis?",  # 3 words: only the exact text
        "",
    )
    assert idx.unmatchable == 1
    run = idx.check(
        [sft("Quick quiz. Which planet in our solar system has the MOST moons today? Go", "x")]
    )
    assert run[0] is not None and (run[0].item_id, run[0].score) == ("0", 1.0)
    assert idx.check([sft("which planet in our solar system has the most moons", "x")]) == [None]
    exact = idx.check([sft("what is atlantis", "x"), sft("Tell me: what is Atlantis?", "x")])
    assert exact[0] is not None and exact[0].item_id == "1"
    assert exact[1] is None


def test_min_overlap_needs_a_share_of_the_item() -> None:
    words = LONG.split()
    half = " ".join(words[:14])  # two of the item's eight 13-grams
    assert _index(LONG).check([sft(half, "x")])[0] is not None
    strict = _index(LONG, min_overlap=0.5)
    assert strict.check([sft(half, "x")]) == [None]
    whole = strict.check([sft(LONG.upper() + "!", "x")])[0]
    assert whole is not None and whole.score == 1.0


def test_fields_choose_what_is_checked() -> None:
    rec = pref("Tell me a riddle please", chosen=LONG, rejected="no")
    assert _index(LONG).check([rec]) == [None]  # prompt only by default
    assert _index(LONG, fields=["chosen"]).check([rec])[0] is not None
    assert _index(LONG, fields=["rejected"]).check([rec]) == [None]
    assert _index(LONG, fields=["prompt", "responses"]).check([rec])[0] is not None
    assert _index(LONG, fields=["responses"]).check([sft("riddle", LONG)])[0] is not None


def test_best_match_wins_and_batches_do_not_matter() -> None:
    other = (
        "completely different words about a spaceship landing on the moon at night with crew aboard"
    )
    idx = _index(other, LONG)
    recs = [sft(LONG + " " + " ".join(other.split()[:13]), "x"), sft("nothing here", "x")]
    both = idx.check(recs)
    assert both[0] is not None and both[0].item_id == "1"  # all of LONG beats 1/3 of other
    assert [idx.check([r])[0] for r in recs] == both
