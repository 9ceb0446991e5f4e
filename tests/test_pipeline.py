"""`prepare` end to end on data the tests write: accounting, priority, mixing, split, outputs."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from postmix.prepare import StrictError, prepare
from postmix.recipe import parse


def write_jsonl(path: Path, rows: list, *, extra_lines: list[bytes] = ()) -> Path:
    with open(path, "wb") as fh:
        for row in rows:
            fh.write(orjson.dumps(row) + b"\n")
        for line in extra_lines:
            fh.write(line + b"\n")
    return path


def alpaca_rows(n: int, prefix: str = "q") -> list[dict]:
    return [
        {"instruction": f"{prefix} question number {i}?", "input": "", "output": f"answer {i} " * 3}
        for i in range(n)
    ]


def run(tmp_path: Path, recipe: dict, name: str = "out", **kwargs) -> tuple[dict, Path]:
    out = tmp_path / name
    manifest = prepare(parse(yaml.safe_dump(recipe)), out, progress=False, report=False, **kwargs)
    return manifest, out


def read_rows(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def assert_accounted(manifest: dict) -> None:
    for name, s in manifest["sources"].items():
        total = (
            s["kept"]
            + sum(s["dropped"].values())
            + s["duplicates"]
            + s["contaminated"]
            + s["invalid"]
        )
        assert s["read"] == total, name


@pytest.fixture
def two_sources(tmp_path: Path) -> dict:
    a = alpaca_rows(40, "a")
    a[5]["output"] = ""  # empty reply → dropped by the structure check
    b = [*alpaca_rows(20, "b"), dict(alpaca_rows(40, "a")[7])]  # repeats a's prompt 7
    write_jsonl(tmp_path / "a.jsonl", a, extra_lines=[b'{"instruction": "broken', b'{"nope": 1}'])
    write_jsonl(tmp_path / "b.jsonl", b)
    return {
        "metadata": {"phase": "t", "kind": "sft"},
        "seed": 3,
        "datasets": [
            {"name": "a", "source": str(tmp_path / "a.jsonl"), "format_converter": "alpaca"},
            {"name": "b", "source": str(tmp_path / "b.jsonl"), "priority": 5},
        ],
        "validation": {"ratio": 0.1},
    }


def test_every_record_is_accounted_for(tmp_path: Path, two_sources: dict) -> None:
    manifest, out = run(tmp_path, two_sources, num_proc=1)
    assert_accounted(manifest)
    a, b = manifest["sources"]["a"], manifest["sources"]["b"]
    assert a["read"] == 42 and a["invalid"] == 2
    assert a["dropped"] == {"structure:empty_turn": 1}
    # b has the higher priority, so the shared prompt stays in b and leaves a.
    assert (a["duplicates"], b["duplicates"]) == (1, 0)
    assert a["kept"] == 38 and b["kept"] == 21
    assert b["converter"] == "alpaca" and b["converter_chosen_by"] == "columns"

    quarantine = read_rows(out / "quarantine.jsonl")
    assert [(q["row"], q["file"].endswith("a.jsonl")) for q in quarantine] == [
        (40, True),
        (41, True),
    ]
    assert "JSON" in quarantine[0]["error"] or "json" in quarantine[0]["error"].lower()
    assert quarantine[0]["raw"].startswith('{"instruction": "broken')

    removed = read_rows(out / "removed.jsonl")
    dup = [r for r in removed if r["reason"] == "duplicate"]
    assert (
        len(dup) == 1
        and dup[0]["source"] == "a"
        and dup[0]["row"] == 7
        and dup[0]["of_source"] == "b"
    )
    drop = [r for r in removed if r["reason"] == "structure:empty_turn"]
    assert drop[0]["row"] == 5

    rows = {o["split"]: o["rows"] for o in manifest["outputs"]}
    assert rows == {"train": 53, "validation": 6}
    train = read_rows(out / "t_train.jsonl")
    assert len(train) == 53 and {r["source"] for r in train} == {"a", "b"}
    assert train[0]["messages"][0]["role"] == "user"


def test_same_recipe_same_bytes_any_process_count(tmp_path: Path, two_sources: dict) -> None:
    m1, o1 = run(tmp_path, two_sources, "one", num_proc=1)
    m2, o2 = run(tmp_path, two_sources, "two", num_proc=2)
    for name in ("t_train.jsonl", "t_validation.jsonl", "removed.jsonl", "quarantine.jsonl"):
        assert (o1 / name).read_bytes() == (o2 / name).read_bytes(), name
    assert [o["sha256"] for o in m1["outputs"]] == [o["sha256"] for o in m2["outputs"]]
    two_sources["seed"] = 4
    m3, _ = run(tmp_path, two_sources, "three", num_proc=1)
    assert [o["sha256"] for o in m3["outputs"]] != [o["sha256"] for o in m1["outputs"]]


def test_mix_upsamples_by_repetition_and_keeps_validation_out_of_train(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "big.jsonl", alpaca_rows(300, "big"))
    write_jsonl(tmp_path / "small.jsonl", alpaca_rows(20, "small"))
    recipe = {
        "datasets": [
            {"name": "big", "source": str(tmp_path / "big.jsonl"), "mix_ratio": 0.5},
            {"name": "small", "source": str(tmp_path / "small.jsonl"), "mix_ratio": 0.5},
        ],
        "validation": {"ratio": 0.1},
    }
    manifest, out = run(tmp_path, recipe, num_proc=1)
    big, small = manifest["sources"]["big"]["mix"], manifest["sources"]["small"]["mix"]
    # Total defaults to what the sources have (320), split 50/50.
    assert big["target"] == small["target"] == 160
    assert big["achieved"] == small["achieved"] == 160
    assert big["upsampling"] == 1.0 and small["upsampling"] == 8.0
    assert small["validation"] == 2 and small["train"] == 158
    train, val = read_rows(out / "train.jsonl"), read_rows(out / "validation.jsonl")
    assert not {r["id"] for r in train} & {r["id"] for r in val}
    small_train = [r["id"] for r in train if r["source"] == "small"]
    assert len(set(small_train)) == 18  # every non-held-out record, repeated
    counts = sorted(small_train.count(i) for i in set(small_train))
    assert counts[0] >= 8 and counts[-1] <= 9


def test_max_samples_and_limit(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", alpaca_rows(100))
    recipe = {"datasets": [{"name": "a", "source": str(tmp_path / "a.jsonl"), "max_samples": 30}]}
    manifest, _ = run(tmp_path, recipe, num_proc=1)
    assert manifest["sources"]["a"]["mix"]["achieved"] == 30
    assert manifest["sources"]["a"]["kept"] == 100
    manifest, _ = run(tmp_path, recipe, "limited", num_proc=1, limit=10)
    assert manifest["sources"]["a"]["read"] == 10


def test_strict_fails_on_malformed_rows(tmp_path: Path, two_sources: dict) -> None:
    with pytest.raises(StrictError, match="2 malformed"):
        run(tmp_path, two_sources, num_proc=1, strict=True)


@pytest.mark.parametrize(
    ("schema", "keys"),
    [
        ("messages", {"messages", "id", "source"}),
        ("conversations", {"conversations", "id", "source"}),
        ("prompt_response", {"prompt", "response", "id", "source"}),
        ("sharegpt", {"conversations", "id", "source"}),
        ("alpaca", {"instruction", "input", "output", "id", "source"}),
    ],
)
def test_output_schemas(tmp_path: Path, schema: str, keys: set[str]) -> None:
    write_jsonl(tmp_path / "a.jsonl", alpaca_rows(5))
    recipe = {
        "datasets": [{"name": "a", "source": str(tmp_path / "a.jsonl")}],
        "output": {"schema": schema},
    }
    _, out = run(tmp_path, recipe, num_proc=1)
    rows = read_rows(out / "train.jsonl")
    assert len(rows) == 5 and all(set(r) == keys for r in rows)


def test_preference_pairs_report_length_bias(tmp_path: Path) -> None:
    rows = [
        {"system": "", "question": f"q{i}", "chosen": "long answer " * 5, "rejected": "short"}
        for i in range(6)
    ]
    rows.append({"system": "", "question": "same", "chosen": "x  y", "rejected": "x y"})
    write_jsonl(tmp_path / "p.jsonl", rows)
    recipe = {
        "metadata": {"kind": "preference"},
        "datasets": [
            {"name": "p", "source": str(tmp_path / "p.jsonl"), "format_converter": "orca_dpo"}
        ],
    }
    manifest, out = run(tmp_path, recipe, num_proc=1)
    s = manifest["sources"]["p"]
    assert s["dropped"] == {"structure:identical_pair": 1}
    assert s["length_bias"] == {"pairs": 6, "chosen_longer_share": 1.0}
    row = read_rows(out / "train.jsonl")[0]
    assert set(row) >= {"prompt", "chosen", "rejected"} and row["chosen"][0]["role"] == "assistant"


def test_parquet_and_disk_outputs(tmp_path: Path) -> None:
    import pyarrow.parquet as pq
    from datasets import load_from_disk

    write_jsonl(tmp_path / "a.jsonl", alpaca_rows(50))
    base = {
        "datasets": [{"name": "a", "source": str(tmp_path / "a.jsonl")}],
        "validation": {"ratio": 0.2},
    }
    manifest, out = run(tmp_path, {**base, "output": {"file_format": "parquet"}}, "pq", num_proc=1)
    table = pq.read_table(out / "train.parquet")
    assert table.num_rows == 40 and "messages" in table.column_names
    assert manifest["outputs"][0]["path"] == "train.parquet"
    manifest, out = run(tmp_path, {**base, "output": {"file_format": "disk"}}, "disk", num_proc=1)
    dd = load_from_disk(str(out / "dataset"))
    assert (len(dd["train"]), len(dd["validation"])) == (40, 10)


def test_hub_path_on_a_locally_saved_dataset(tmp_path: Path) -> None:
    from datasets import Dataset

    Dataset.from_list(alpaca_rows(12)).save_to_disk(str(tmp_path / "saved"))
    recipe = {"datasets": [{"name": "hub", "source": str(tmp_path / "saved"), "splits": ["train"]}]}
    manifest, _ = run(tmp_path, recipe, num_proc=1)
    assert manifest["sources"]["hub"]["kept"] == 12
    assert manifest["sources"]["hub"]["converter_chosen_by"] == "columns"


def test_real_files_mix(tmp_path: Path, shared_data: Path) -> None:
    recipe = {
        "datasets": [
            {
                "name": "alpaca",
                "source": str(shared_data / "hiyouga__LLaMA-Factory/alpaca_en_demo.json"),
                "mix_ratio": 0.5,
            },
            {
                "name": "gsm8k",
                "source": str(shared_data / "openai__grade-school-math/train.jsonl"),
                "mix_ratio": 0.5,
                "max_samples": 1000,
            },
            {
                "name": "gsm_alpaca",
                "source": str(shared_data / "gururise__AlpacaDataCleaned/gsm_8k_train.json"),
                "mix_ratio": 0.0,
            },
        ],
    }
    manifest, _ = run(tmp_path, recipe, num_proc=2)
    assert_accounted(manifest)
    s = manifest["sources"]
    assert s["alpaca"]["duplicates"] == 14  # the README's ground truth
    assert s["gsm8k"]["converter"] == "gsm8k" and s["gsm8k"]["converter_chosen_by"] == "columns"
    # Same questions in alpaca layout: every one is an exact prompt duplicate of GSM8K's.
    assert s["gsm_alpaca"]["duplicates"] == 7473 and s["gsm_alpaca"]["kept"] == 0
    # max_samples caps what gsm8k offers (1000); the total (985 + 1000) is split 50/50.
    assert s["gsm8k"]["mix"]["target"] == s["alpaca"]["mix"]["target"] == 992
    assert s["gsm8k"]["mix"]["achieved"] == 992 and s["gsm_alpaca"]["mix"]["achieved"] == 0
