"""Dataset readers (load_from_disk / load_dataset) on datasets the tests build locally."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import datasets
import orjson
import pytest

from postmix import sources

TRAIN = [
    {"q": f"question {i}", "a": f"answer {i}", "n": i, "tags": ["x"] * (i % 3)} for i in range(23)
]
TEST = [{"q": f"held out {i}", "a": "z", "n": -i, "tags": []} for i in range(5)]

README = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: "data/part-*.jsonl"
  - split: validation
    path: "holdout/val.jsonl"
- config_name: extra
  data_files:
  - split: train
    path: "extra/*.jsonl"
---
# tiny dataset
"""


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep load_dataset's Arrow cache inside the test's tmp dir."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


def read_all(shards: list[sources.Shard]) -> list[tuple[int, Any]]:
    return [pair for shard in shards for pair in sources.read(shard)]


def rows_of(shards: list[sources.Shard], split: str | None) -> list[tuple[int, Any]]:
    return read_all([s for s in shards if s.split == split])


def test_saved_dataset_is_read_from_disk(tmp_path: Path) -> None:
    path = str(tmp_path / "saved")
    datasets.Dataset.from_list(TRAIN).save_to_disk(path)
    shards = sources.plan(path)
    assert [(s.fmt, s.split, s.start, s.end) for s in shards] == [("disk", None, 0, 23)]
    assert shards[0].label == path
    assert read_all(shards) == list(enumerate(TRAIN))
    assert sources.columns(path) == {"q", "a", "n", "tags"}


def test_saved_dataset_dict_splits_and_row_ranges(tmp_path: Path) -> None:
    path = str(tmp_path / "saved")
    dd = datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(TRAIN), "test": datasets.Dataset.from_list(TEST)}
    )
    dd.save_to_disk(path)
    shards = sources.plan(path, shard_rows=10)
    assert [(s.split, s.start, s.end, s.first_row) for s in shards] == [
        ("train", 0, 10, 0),
        ("train", 10, 20, 10),
        ("train", 20, 23, 20),
        ("test", 0, 5, 0),
    ]
    assert rows_of(shards, "train") == list(enumerate(TRAIN))
    assert rows_of(shards, "test") == list(enumerate(TEST))
    assert [s.label for s in shards][-1] == f"{path}:test"
    only_test = sources.plan(path, splits=["test"], whole=True)
    assert [(s.split, s.end) for s in only_test] == [("test", None)]
    assert read_all(only_test) == list(enumerate(TEST))
    with pytest.raises(sources.SourceError, match=r"no split 'dev'; available: train, test"):
        sources.plan(path, splits=["dev"])


def test_dir_of_split_files_goes_through_load_dataset(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "ds" / "train.jsonl", TRAIN)
    write_jsonl(tmp_path / "ds" / "test.jsonl", TEST)
    source = str(tmp_path / "ds")
    shards = sources.plan(source, shard_rows=8)
    assert {s.fmt for s in shards} == {"hub"}
    assert [s.split for s in shards] == ["train"] * 3 + ["test"]
    assert rows_of(shards, "train") == list(enumerate(TRAIN))
    assert rows_of(shards, "test") == list(enumerate(TEST))


@pytest.fixture
def configured_dir(tmp_path: Path) -> str:
    """A dataset dir whose README.md `configs:` header maps odd file names to splits."""
    root = tmp_path / "configured"
    write_jsonl(root / "data" / "part-0.jsonl", TRAIN[:12])
    write_jsonl(root / "data" / "part-1.jsonl", TRAIN[12:])
    write_jsonl(root / "holdout" / "val.jsonl", TEST)
    write_jsonl(root / "extra" / "e.jsonl", TEST[:2])
    (root / "README.md").write_text(README)
    return str(root)


def test_readme_configs_subsets_and_splits(configured_dir: str) -> None:
    shards = sources.plan(configured_dir, splits=["validation", "train"])
    assert [s.split for s in shards] == ["validation", "train"]
    assert rows_of(shards, "train") == list(enumerate(TRAIN))
    assert rows_of(shards, "validation") == list(enumerate(TEST))
    extra = sources.plan(configured_dir, subset="extra")
    assert read_all(extra) == list(enumerate(TEST[:2]))
    assert dict(extra[0].hub) == {"name": "extra"}
    with pytest.raises(sources.SourceError, match="available: train, validation"):
        sources.plan(configured_dir, splits=["test"])


def test_streaming_is_one_shard_per_split(configured_dir: str) -> None:
    shards = sources.plan(configured_dir, streaming=True, shard_rows=5)
    assert [(s.split, s.start, s.end) for s in shards] == [
        ("train", 0, None),
        ("validation", 0, None),
    ]
    assert dict(shards[0].hub) == {"streaming": True}
    assert rows_of(shards, "train") == list(enumerate(TRAIN))
    assert rows_of(shards, "validation") == list(enumerate(TEST))
    assert sources.columns(configured_dir, streaming=True) == {"q", "a", "n", "tags"}


def test_data_files_are_frozen_in_shards_and_passed_back(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "ds" / "one.jsonl", TRAIN[:4])
    write_jsonl(tmp_path / "ds" / "two.jsonl", TRAIN[4:9])
    data_files = {"train": ["one.jsonl"], "test": "two.jsonl"}
    shards = sources.plan(str(tmp_path / "ds"), data_files=data_files)
    assert len({*shards}) == 2  # hashable despite the dict and list
    assert rows_of(shards, "train") == list(enumerate(TRAIN[:4]))
    assert rows_of(shards, "test") == list(enumerate(TRAIN[4:9]))


def test_packaged_builder_with_data_files_needs_no_hub(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "rows.jsonl", TRAIN)
    shards = sources.plan("json", data_files=str(tmp_path / "rows.jsonl"))
    assert [s.label for s in shards] == ["json:train"]
    assert read_all(shards) == list(enumerate(TRAIN))


def test_unreachable_hub_id_fails_fast_naming_the_source() -> None:
    started = time.monotonic()
    with pytest.raises(sources.SourceError, match="someone/no-such-dataset-xyz"):
        sources.plan("someone/no-such-dataset-xyz", splits=["train"])
    assert time.monotonic() - started < 30


def test_offline_mode_fails_at_once_naming_the_source() -> None:
    code = (
        "from postmix import sources\n"
        "try:\n"
        "    sources.plan('someone/no-such-dataset-xyz')\n"
        "except sources.SourceError as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert "cannot load 'someone/no-such-dataset-xyz'" in out.stdout, out.stderr
    assert "Retrying" not in out.stderr


def _count(shard: sources.Shard) -> list[int]:
    return [row for row, _ in sources.read(shard)]


def test_shards_are_read_in_spawned_worker_processes(tmp_path: Path) -> None:
    saved = str(tmp_path / "saved")
    datasets.Dataset.from_list(TRAIN).save_to_disk(saved)
    write_jsonl(tmp_path / "rows.jsonl", TRAIN * 200)
    shards = sources.plan(saved, shard_rows=10) + sources.plan(
        str(tmp_path / "rows.jsonl"), shard_bytes=4096
    )
    assert all(pickle.loads(pickle.dumps(s)) == s for s in shards)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        rows = [r for part in pool.map(_count, shards) for r in part]
    assert rows == list(range(23)) + list(range(23 * 200))
