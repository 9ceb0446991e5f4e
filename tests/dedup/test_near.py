"""Near dedup: real GPTeacher threshold ladder, planted edits, priority, one-sided, leaks."""

from __future__ import annotations

import multiprocessing as mp
import random
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from postmix.dedup import config, near, shingle
from tests.filters.records import load, pref, sft

TOOLFORMER = "teknium1__GPTeacher/toolformer-{}-dataset.json"
GSM8K_TRAIN = "openai__grade-school-math/train.jsonl"


def run(texts: list[str], cfg: near.NearConfig, rank: np.ndarray | None = None) -> np.ndarray:
    sig = near.signatures(texts, cfg)
    rank = np.arange(len(texts)) if rank is None else rank
    return near.resolve(near.band_keys(sig, cfg), rank, sig, cfg.threshold)


def jaccard(a: str, b: str, n: int = 3) -> float:
    def grams(t: str) -> set[tuple[str, ...]]:
        w = shingle.words_of(t)
        return {tuple(w[i : i + n]) for i in range(max(1, len(w) - n + 1))}

    sa, sb = grams(a), grams(b)
    return len(sa & sb) / len(sa | sb)


def edit(text: str, rng: random.Random) -> str:
    """A small edit: one word replaced, casing, spacing and punctuation changed."""
    words = text.split()
    words[rng.randrange(len(words))] = "zebra"
    return "  ".join(words).upper().replace(".", " !")


def test_band_shape_favours_recall() -> None:
    assert near.NearConfig().bands == (21, 6)
    for threshold in (0.5, 0.7, 0.8, 0.9, 0.95):
        bands, rows = config.lsh_params(threshold, 128)
        assert bands * rows <= 128
        assert 1 - (1 - threshold**rows) ** bands >= config.CANDIDATE_RECALL
        # one more row per band would drop below the wanted candidate recall
        more = 128 // (rows + 1)
        assert 1 - (1 - threshold ** (rows + 1)) ** more < config.CANDIDATE_RECALL


def test_config_rejects_unknown_and_inconsistent_options() -> None:
    with pytest.raises(ValidationError):
        near.NearConfig(treshold=0.8)
    with pytest.raises(ValidationError, match="needs `against`"):
        near.NearConfig(sources=["a"])
    with pytest.raises(ValidationError, match="both in"):
        near.NearConfig(against=["a", "b"], sources=["b"])


def test_normalization_ignores_case_punctuation_and_spacing() -> None:
    cfg = near.NearConfig()
    texts = [
        "Write a poem about the sea, please.",
        "WRITE a poem -- about the sea please!!",
        "write\ta poem about\n\nthe sea please",
        "Write a poem about the sea, please\u3002",  # ideographic full stop
        "Write a poem about the sky, please.",
    ]
    sig = near.signatures(texts, cfg)
    assert (sig[1:4] == sig[0]).all()
    assert not (sig[4] == sig[0]).all()
    assert shingle.words_of("你好, 世界") == ["你", "好", "世", "界"]


def test_signatures_do_not_depend_on_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = near.NearConfig()
    rng = random.Random(0)
    texts = [
        " ".join(f"w{rng.randrange(500)}" for _ in range(rng.randrange(1, 80))) for _ in range(300)
    ]
    whole = near.signatures(texts, cfg)
    monkeypatch.setattr(shingle, "BATCH_BYTES", 1000)  # many numpy chunks
    chunked = near.signatures(texts, cfg)
    one_by_one = np.concatenate([near.signatures([t], cfg) for t in texts[:20]])
    assert (whole == chunked).all()
    assert (whole[:20] == one_by_one).all()


def test_empty_texts_are_never_near_duplicates() -> None:
    cfg = near.NearConfig()
    texts = ["", "...", "  ", "a real prompt about something"]
    sig = near.signatures(texts, cfg)
    keys = near.band_keys(sig, cfg)
    assert (keys[:3] == 0).all() and (keys[3] != 0).all()
    assert (run(texts, cfg) == -1).all()


def test_real_gpteacher_ladder_agrees_with_upstream(shared_data: Path) -> None:
    """Upstream removed near duplicates by an unpublished similarity at 0.9 ... 0.6.

    Their measure is looser than word overlap (it also removes rephrasings
    sharing few words), so we remove fewer records; what we do remove, upstream
    removed too. Measured with shingle 3 on the whole conversation over seeds
    0-4: 89.1-91.3% of our removals at 0.9 are also removed upstream at 0.9
    (81.2-83.3% at 0.8), and 96.7-99.8% by their loosest level (0.6); 98.2-100%
    of our removals have a true Jaccard within 0.1 of the threshold. The
    bounds leave ~2 points under the worst seed: MinHash noise at 128
    permutations, on a set dense with pairs just under the threshold.
    """
    base = load(shared_data, TOOLFORMER.format("dedupe-only"))
    assert len(base) == 7673
    index = {(r["instruction"], r["input"], r["response"]): i for i, r in enumerate(base)}

    def kept_upstream(level: str) -> np.ndarray:
        kept = np.zeros(len(base), dtype=bool)
        for r in load(shared_data, TOOLFORMER.format(level)):
            i = index.get((r["instruction"], r["input"], r["response"]))
            if i is not None:  # 17 rows differ slightly in encoding upstream
                kept[i] = True
        return kept

    records = [sft(r["instruction"] + "\n" + r["input"], r["response"]) for r in base]
    loosest = kept_upstream("similarity-0.6")
    previous = len(base)
    for threshold, same_level, at_loosest in ((0.9, 0.87, 0.98), (0.8, 0.79, 0.95)):
        cfg = near.NearConfig(threshold=threshold, field="conversation")
        sk = near.sketch(records, cfg)
        dup_of = near.resolve(sk.keys, np.arange(len(base)), sk.signatures, threshold)
        removed = dup_of >= 0
        upstream = kept_upstream(f"similarity-{threshold}")
        assert (~upstream[removed]).mean() >= same_level
        assert (~loosest[removed]).mean() >= at_loosest
        assert removed.sum() < (~upstream).sum()
        assert (~removed).sum() < previous
        previous = (~removed).sum()
        texts = [near.text_of(r, "conversation") for r in records]
        # a removal names a record whose true Jaccard is within MinHash error of the threshold
        true = np.array([jaccard(texts[i], texts[dup_of[i]]) for i in np.flatnonzero(removed)])
        assert (true >= threshold - 0.1).mean() >= 0.97 and true.min() >= threshold - 0.2


def test_planted_edits_found_and_distinct_records_untouched(shared_data: Path) -> None:
    """Real GSM8K train questions: distinct but for one real pair (6691 is 2483, name swapped)."""
    questions = [r["question"] for r in load(shared_data, GSM8K_TRAIN)]
    rng = random.Random(7)
    long_ones = [i for i, q in enumerate(questions) if len(q.split()) >= 50]
    origins = rng.sample(long_ones, 300)
    texts = questions + [edit(questions[i], rng) for i in origins]
    dup_of = run(texts, near.NearConfig())
    planted = dup_of[len(questions) :]
    similar = [jaccard(questions[o], texts[len(questions) + k]) for k, o in enumerate(origins)]
    above = np.array(similar) >= 0.85
    assert above.mean() > 0.9  # the edits are small
    assert (planted[above] == np.array(origins)[above]).mean() >= 0.97
    real = np.flatnonzero(dup_of[: len(questions)] >= 0)
    assert real.tolist() == [6691] and dup_of[6691] == 2483
    assert jaccard(questions[6691], questions[2483]) > 0.9
    assert set(dup_of[len(questions) :][planted >= 0]) <= set(origins)


def test_priority_decides_which_copy_survives() -> None:
    cfg = near.NearConfig()
    text = "Explain how photosynthesis turns light, water and carbon dioxide into sugar and oxygen"
    texts = [
        text,
        text.upper() + "!",
        "An unrelated question about the history of Rome and its emperors",
    ]
    assert run(texts, cfg, rank=np.array([0, 1, 2])).tolist() == [-1, 0, -1]
    # the second record comes from a higher-priority source: it wins whatever the order
    assert run(texts, cfg, rank=np.array([5, 1, 0])).tolist() == [1, -1, -1]
    # equal ranks fall back to position
    assert run(texts, cfg, rank=np.zeros(3, np.int64)).tolist() == [-1, 0, -1]


def test_removed_records_do_not_remove_others() -> None:
    words = [f"word{i}" for i in range(100)]
    a = " ".join(words)
    b_words = list(words)
    for i in (10, 25, 40):
        b_words[i] = f"b{i}"
    c_words = list(b_words)
    for i in (60, 75, 90):
        c_words[i] = f"c{i}"
    b, c = " ".join(b_words), " ".join(c_words)
    assert jaccard(a, b) > 0.8 and jaccard(b, c) > 0.8 and jaccard(a, c) < 0.7
    cfg = near.NearConfig(threshold=0.8, num_perm=256)
    assert run([a, b, c], cfg).tolist() == [-1, 0, -1]
    assert run([b, a, c], cfg).tolist() == [-1, 0, 0]


def test_one_sided_keeps_the_trusted_set_whole() -> None:
    cfg = near.NearConfig(against=["trusted"], sources=["scraped"])
    base = [
        f"Describe the life cycle of a {x} in five clear and simple steps"
        for x in ("frog", "moth", "salmon")
    ]
    texts = [
        base[0],  # 0 trusted
        base[0] + ".",  # 1 trusted: a copy of 0, kept (the trusted set is never cleaned)
        base[1],  # 2 scraped
        base[0].upper(),  # 3 scraped, already in the trusted set: dropped
        base[1] + "!",  # 4 scraped, a copy of 2: scraped records are not compared together
        base[0] + " now",  # 5 another source, neither side: left alone
    ]
    reference = np.array([1, 1, 0, 0, 0, 0], bool)
    target = np.array([0, 0, 1, 1, 1, 0], bool)
    sig = near.signatures(texts, cfg)
    dup_of = near.resolve_against(
        near.band_keys(sig, cfg),
        np.arange(6),
        sig,
        cfg.threshold,
        reference=reference,
        target=target,
    )
    assert dup_of.tolist() == [-1, -1, -1, 0, -1, -1]


def test_leak_check_pairs_train_rows_with_validation_rows(shared_data: Path) -> None:
    cfg = near.NearConfig()
    questions = [r["question"] for r in load(shared_data, GSM8K_TRAIN)][:2000]
    rng = random.Random(3)
    texts = questions + [edit(questions[i], rng) for i in (5, 17, 1500)]
    sk = near.sketch([sft(t, "answer") for t in texts], cfg)
    validation = np.array([1500, 5, 17, 100])
    train = np.setdiff1d(np.arange(len(texts)), validation)
    train_rows, val_rows = near.leaks(sk.keys, sk.signatures, train, validation, cfg.threshold)
    assert dict(zip(train_rows.tolist(), val_rows.tolist())) == {2000: 5, 2001: 17, 2002: 1500}


def test_fields_and_store_on_disk(tmp_path: Path) -> None:
    cfg = near.NearConfig(field="prompt")
    recs = [
        pref("Name three prime numbers below twenty please", chosen="2, 3, 5", rejected="4, 6, 8"),
        pref("Name three prime numbers below twenty, please!", chosen="7 11 13", rejected="1"),
        sft("Name three prime numbers below twenty please", "2, 3 and 5"),
    ]
    first, second = near.sketch(recs[:2], cfg), near.sketch(recs[2:], cfg)
    paths = [tmp_path / "a.sig", tmp_path / "b.sig"]
    for path, part in zip(paths, (first, second)):
        path.write_bytes(part.signatures.tobytes())
    keys = np.concatenate([first.keys, second.keys])
    store = near.SignatureStore(paths, cfg.num_perm)
    assert len(store) == 3
    assert near.resolve(keys, np.arange(3), store, cfg.threshold).tolist() == [-1, 0, 0]
    # records reordered in the main process: the store follows the same order
    perm = np.array([2, 0, 1])
    reordered = near.SignatureStore(paths, cfg.num_perm, order=perm)
    assert near.resolve(keys[perm], np.arange(3), reordered, cfg.threshold).tolist() == [-1, 0, 0]
    whole = near.NearConfig(field="conversation")
    assert (near.resolve(*_sk(recs, whole), whole.threshold) == -1).all()


def _sk(recs: list[dict], cfg: near.NearConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sk = near.sketch(recs, cfg)
    return sk.keys, np.arange(len(recs)), sk.signatures


def test_deterministic_and_independent_of_input_order() -> None:
    rng = random.Random(1)
    base = [" ".join(f"t{rng.randrange(3000)}" for _ in range(40)) for _ in range(400)]
    texts = base + [b.replace(b.split()[3], "x", 1) for b in base[:100]]
    # a total order (the pipeline's rank: priority, recipe order, stable id) fixes the outcome
    rank = np.random.default_rng(1).permutation(len(texts))
    cfg = near.NearConfig()
    first = run(texts, cfg, rank)
    assert (run(texts, cfg, rank) == first).all()
    perm = np.random.default_rng(0).permutation(len(texts))
    shuffled = run([texts[i] for i in perm], cfg, rank[perm])
    mapped = np.where(shuffled >= 0, perm[np.maximum(shuffled, 0)], -1)
    assert (mapped == first[perm]).all()
    assert (first >= 0).sum() >= 95


def _child_signatures(texts: list[str]) -> np.ndarray:
    return near.signatures(texts, near.NearConfig())


def test_signatures_work_in_forked_workers() -> None:
    """rensa's thread pool would deadlock a child forked after the parent used it."""
    texts = [f"prompt number {i} about topic {i % 7} and more words" for i in range(5000)]
    here = near.signatures(texts, near.NearConfig())
    with mp.get_context("fork").Pool(2) as pool:
        there = pool.apply_async(_child_signatures, (texts,)).get(timeout=60)
    assert (here == there).all()
