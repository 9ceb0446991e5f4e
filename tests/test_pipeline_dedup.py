"""Near dedup, one-sided cleaning, split leaks and decontamination inside `prepare`."""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from tests.test_pipeline import assert_accounted, read_rows, run, write_jsonl

WORDS = (
    "river mountain quickly engine silver garden theory patient window market violin "
    "harbor crystal lantern orbit meadow canyon signal ribbon falcon timber velvet "
    "compass glacier pepper saddle thunder marble copper island puzzle rocket"
).split()


def question(rng: random.Random, n: int = 40) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def edit(text: str, word: str = "zebra") -> str:
    """A light edit: the last word swapped (Jaccard of 3-shingles stays high)."""
    words = text.split()
    return " ".join([*words[:-1], word])


def rows(questions: list[str]) -> list[dict]:
    return [
        {"instruction": q, "input": "", "output": f"answer {i}"} for i, q in enumerate(questions)
    ]


def test_near_duplicates_resolve_by_priority(tmp_path: Path) -> None:
    rng = random.Random(0)
    base = [question(rng) for _ in range(60)]
    write_jsonl(tmp_path / "a.jsonl", rows(base))
    write_jsonl(tmp_path / "b.jsonl", rows([edit(q) for q in base[:10]]))
    recipe = {
        "datasets": [
            {"name": "a", "source": str(tmp_path / "a.jsonl")},
            {"name": "b", "source": str(tmp_path / "b.jsonl"), "priority": 1},
        ],
        "dedup": {"near": {"threshold": 0.8}},
    }
    manifest, out = run(tmp_path, recipe, num_proc=2)
    assert_accounted(manifest)
    a, b = manifest["sources"]["a"], manifest["sources"]["b"]
    assert (a["near_duplicates"], b["near_duplicates"]) == (10, 0)
    assert a["duplicates"] == 10 and a["kept"] == 50 and b["kept"] == 10
    removed = [r for r in read_rows(out / "removed.jsonl") if r["reason"] == "near_duplicate"]
    assert sorted(r["row"] for r in removed) == list(range(10))
    assert {r["of_source"] for r in removed} == {"b"}


def test_one_sided_mode_keeps_the_trusted_source_whole(tmp_path: Path) -> None:
    rng = random.Random(1)
    base = [question(rng) for _ in range(30)]
    trusted = [*base, edit(base[0])]  # a near duplicate inside the trusted set stays
    write_jsonl(tmp_path / "trusted.jsonl", rows(trusted))
    web = [edit(q, "okapi") for q in base[:5]]
    write_jsonl(tmp_path / "web.jsonl", rows([*web, question(rng)]))
    recipe = {
        "datasets": [
            {"name": "web", "source": str(tmp_path / "web.jsonl"), "priority": 9},
            {"name": "trusted", "source": str(tmp_path / "trusted.jsonl")},
        ],
        "dedup": {"near": {"against": ["trusted"]}},
    }
    manifest, _ = run(tmp_path, recipe, num_proc=1)
    assert manifest["sources"]["trusted"]["kept"] == 31
    assert manifest["sources"]["web"]["near_duplicates"] == 5
    assert manifest["sources"]["web"]["kept"] == 1


def test_paraphrase_leaks_across_the_split_are_dropped_from_train(tmp_path: Path) -> None:
    rng = random.Random(2)
    base = [question(rng) for _ in range(200)]
    # Each question twice, lightly edited, in another source: exact dedup misses them and
    # near dedup is only one-sided (against `a`), so the pair can straddle the split.
    write_jsonl(tmp_path / "a.jsonl", rows(base))
    write_jsonl(tmp_path / "b.jsonl", rows([edit(q) for q in base]))
    recipe = {
        "datasets": [
            {"name": "a", "source": str(tmp_path / "a.jsonl")},
            {"name": "b", "source": str(tmp_path / "b.jsonl")},
        ],
        "dedup": {"near": {}},
        "validation": {"ratio": 0.2},
    }
    manifest, out = run(tmp_path, recipe, num_proc=1)
    # Near dedup already removed b's copies, so nothing can leak: the check finds nothing.
    assert manifest["sources"]["b"]["near_duplicates"] == 200
    assert "validation_leak" not in manifest["sources"]["a"]["dropped"]

    # Without near dedup among sources (one-sided against an unrelated source), pairs
    # straddle the split and the leak check must catch them.
    write_jsonl(tmp_path / "c.jsonl", rows([question(rng) for _ in range(5)]))
    recipe["datasets"].append({"name": "c", "source": str(tmp_path / "c.jsonl")})
    recipe["dedup"] = {"near": {"against": ["c"], "sources": ["a"]}}
    manifest, out = run(tmp_path, recipe, "leaky", num_proc=1)
    assert_accounted(manifest)
    leaks = [r for r in read_rows(out / "removed.jsonl") if r["reason"] == "validation_leak"]
    assert leaks, "paraphrases straddling the split were not found"
    dropped = sum(s["dropped"].get("validation_leak", 0) for s in manifest["sources"].values())
    assert dropped == len(leaks)
    train_ids = {r["id"] for r in read_rows(out / "train.jsonl")}
    assert not train_ids & {r["id"] for r in leaks}
    val_ids = {r["id"] for r in read_rows(out / "validation.jsonl")}
    assert {r["of"] for r in leaks} <= val_ids


def test_decontamination_names_the_benchmark_item(tmp_path: Path) -> None:
    rng = random.Random(3)
    bench = [{"task_id": f"B/{i}", "question": question(rng, 30)} for i in range(20)]
    write_jsonl(tmp_path / "bench.jsonl", bench)
    train = [question(rng) for _ in range(40)] + [b["question"] for b in bench[:4]]
    write_jsonl(tmp_path / "train.jsonl", rows(train))
    recipe = {
        "datasets": [{"name": "t", "source": str(tmp_path / "train.jsonl")}],
        "decontaminate": {
            "against": [
                {
                    "name": "mybench",
                    "source": str(tmp_path / "bench.jsonl"),
                    "field": "question",
                    "id_field": "task_id",
                }
            ]
        },
    }
    manifest, out = run(tmp_path, recipe, num_proc=2)
    assert_accounted(manifest)
    s = manifest["sources"]["t"]
    assert s["contaminated"] == 4 and s["contamination"] == {"mybench": 4}
    assert manifest["decontamination"]["benchmarks"]["mybench"] == {"items": 20, "removed": 4}
    hits = [r for r in read_rows(out / "removed.jsonl") if r["reason"] == "contaminated:mybench"]
    assert sorted(r["row"] for r in hits) == [40, 41, 42, 43]
    assert {h["detail"].split()[2] for h in hits} == {"B/0", "B/1", "B/2", "B/3"}
    examples = [orjson.loads(x) for x in (out / "examples.jsonl").read_bytes().splitlines()]
    shown = [e for e in examples if e["bucket"] == "contaminated:mybench"]
    assert shown and shown[0]["match"]["text"] in {b["question"] for b in bench}


def test_decontamination_against_real_gsm8k_test(tmp_path: Path, shared_data: Path) -> None:
    test_file = shared_data / "openai__grade-school-math/test.jsonl"
    test_rows = [orjson.loads(x) for x in test_file.read_bytes().splitlines()]
    planted = [{"question": r["question"], "answer": r["answer"]} for r in test_rows[:25]]
    write_jsonl(tmp_path / "planted.jsonl", planted)
    recipe = {
        "datasets": [
            {"name": "train", "source": str(shared_data / "openai__grade-school-math/train.jsonl")},
            {"name": "planted", "source": str(tmp_path / "planted.jsonl")},
        ],
        "decontaminate": {
            "against": [
                {
                    "name": "gsm8k",
                    "source": str(shared_data / "openai__grade-school-math/test.jsonl"),
                    "field": "question",
                }
            ]
        },
    }
    manifest, _ = run(tmp_path, recipe, num_proc=2)
    assert manifest["sources"]["planted"]["contaminated"] == 25
    # GSM8K train and test share no question (the corpus README's ground truth); a shared
    # 13-gram of templated phrasing flags a handful (4 of 7473 measured): bound the rate at 0.1%.
    assert manifest["sources"]["train"]["contaminated"] <= 7
