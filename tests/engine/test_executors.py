"""Same recipe, same seed → the same bytes with `local` 1 process, `local` 2 and `ray`.

The recipes use every stage: converters of several kinds, filters, exact and
near dedup with priorities, n-gram and embedding decontamination, mixing with
up- and downsampling, a stratified split with the leak check, tokenized and
packed output. Planted benchmark items must be removed under every start
method and executor (nothing may depend on fork inheritance).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from postmix.engine import plan
from postmix.executors import LocalExecutor
from postmix.prepare import prepare
from postmix.recipe import parse
from tests.test_pipeline import alpaca_rows, assert_accounted, write_jsonl
from tests.tiny import bpe_tokenizer

BENCH = [
    {
        "id": f"b{i}",
        "question": f"Benchmark item {i}: how many apples does the farmer {w} have "
        "after selling half of them at the market on a sunny morning?",
    }
    for i, w in enumerate(["Tom", "Ann", "Raj", "Li", "Ola"])
]


def chats(n: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "conversations": [
                {"from": "human", "value": f"{prefix} question {i}: tell me about river {i % 9}"},
                {"from": "gpt", "value": f"River {i % 9} is long; fact number {i}."},
                {"from": "human", "value": "And the mountain next to it?"},
                {"from": "gpt", "value": "It is high" + " and old" * (i % 4)},
            ]
        }
        for i in range(n)
    ]


def dolly(n: int) -> list[dict[str, Any]]:
    return [
        {
            "instruction": f"Dolly task {i} about the city {i % 7}",
            "context": "",
            "response": f"City {i % 7} has {i} parks.",
            "category": ["open_qa", "brainstorming"][i % 2],
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    a = alpaca_rows(120, "a")
    a[3]["output"] = ""  # dropped by the structure check
    for i, item in enumerate(BENCH[:3]):  # planted benchmark items
        a[10 + i]["instruction"] = item["question"]
    near = [dict(r, instruction=r["instruction"] + " please") for r in alpaca_rows(30, "a")]
    for part in range(3):  # several files: several shard tasks per source
        write_jsonl(root / f"alpaca-{part}.jsonl", a[part * 40 : (part + 1) * 40])
    write_jsonl(root / "near.jsonl", near)
    c = chats(80, "c")
    c[5]["conversations"][0]["value"] = BENCH[3]["question"]
    write_jsonl(root / "chats.jsonl", c)
    d = dolly(50)
    d[7]["instruction"] = BENCH[4]["question"]
    write_jsonl(root / "dolly.jsonl", d)
    write_jsonl(root / "bench.jsonl", BENCH)
    bpe_tokenizer(root / "tok")
    return root


def recipe(root: Path, **top: Any) -> dict[str, Any]:
    length = {"type": "length", "min_length": 5, "max_length": 4000}
    return {
        "seed": 7,
        "datasets": [
            {
                "name": "alpaca",
                "source": str(root / "alpaca-*.jsonl"),
                "format_converter": "alpaca",
                "mix_ratio": 0.3,
                "priority": 2,
                "filters": [length],
            },
            {"name": "near", "source": str(root / "near.jsonl"), "mix_ratio": 0.1},
            {
                "name": "chats",
                "source": str(root / "chats.jsonl"),
                "mix_ratio": 0.5,
                "filters": [{"type": "turns", "min_turns": 1}],
            },
            {
                "name": "dolly",
                "source": str(root / "dolly.jsonl"),
                "format_converter": "dolly",
                "mix_ratio": 0.1,
                "max_samples": 20,
            },
        ],
        "dedup": {"exact": True, "near": {"threshold": 0.7}},
        "decontaminate": {
            "against": [
                {
                    "name": "bench",
                    "source": str(root / "bench.jsonl"),
                    "field": "question",
                    "id_field": "id",
                }
            ],
            "method": "ngram",
            "n": 8,
        },
        "validation": {"ratio": 0.1, "stratified": True},
        **top,
    }


def tokenized(root: Path) -> dict[str, Any]:
    return recipe(
        root,
        tokenizer=str(root / "tok"),
        template="chatml",
        packing=True,
        max_seq_length=256,
        decontaminate={
            "against": [
                {
                    "name": "bench",
                    "source": str(root / "bench.jsonl"),
                    "field": "question",
                    "id_field": "id",
                }
            ],
            "method": "embedding",
            "threshold": 0.8,
        },
        output={"schema": "tokenized", "file_format": "parquet"},
    )


def digests(out: Path) -> dict[str, str]:
    """sha256 of every file the run wrote (the manifest without its timing)."""
    found = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "manifest.json":
            doc = orjson.loads(data)
            doc.pop("seconds")
            data = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
        found[str(path.relative_to(out))] = hashlib.sha256(data).hexdigest()
    return found


def build(tmp: Path, doc: dict[str, Any], name: str, **kwargs: Any) -> tuple[dict, Path]:
    """Prepare into `tmp/out` (the card names its dir), then move the result to `tmp/name`."""
    out = tmp / "out"
    manifest = prepare(parse(yaml.safe_dump(doc)), out, progress=False, report=False, **kwargs)
    return manifest, out.rename(tmp / name)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A local Ray instance (2 CPUs) for the module; token auth off for a local test cluster."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    mp = pytest.MonkeyPatch()
    mp.setenv("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
    mp.undo()


@pytest.fixture
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut JSONL into ~2 KB shards so every source is several tasks."""
    monkeypatch.setattr(plan, "SHARD_BYTES", 2048)


@pytest.mark.parametrize("which", ["messages", "tokenized"])
def test_same_bytes_on_every_executor(
    tmp_path: Path, data: Path, ray_cluster: Any, small_shards: None, which: str
) -> None:
    doc = recipe(data) if which == "messages" else tokenized(data)
    one, out1 = build(tmp_path, doc, "local1", num_proc=1)
    two, out2 = build(tmp_path, doc, "local2", num_proc=2)
    _, out3 = build(tmp_path, doc, "ray", executor="ray")
    assert_accounted(one)
    expected = digests(out1)
    assert expected == digests(out2)
    assert expected == digests(out3)
    s = one["sources"]
    assert sum(x["contaminated"] for x in s.values()) == len(BENCH)
    assert s["near"]["near_duplicates"] > 0  # priority: the alpaca originals win
    assert s["alpaca"]["duplicates"] == 0
    assert two["totals"] == one["totals"]
    if which == "tokenized":
        assert one["packing"]["train"]["rows"] > 0


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_decontamination_under_spawned_workers_removes_every_planted_item(
    tmp_path: Path, data: Path, small_shards: None, method: str
) -> None:
    executor = LocalExecutor(num_proc=2, start_method=method)
    manifest, out = build(tmp_path, recipe(data), method, executor=executor)
    removed = [orjson.loads(x) for x in (out / "removed.jsonl").read_bytes().splitlines()]
    hits = {r["detail"].split()[2] for r in removed if r["reason"] == "contaminated:bench"}
    assert hits == {b["id"] for b in BENCH}
    assert manifest["decontamination"]["benchmarks"]["bench"] == {"items": 5, "removed": 5}


def test_decontamination_under_ray_removes_every_planted_item(
    tmp_path: Path, data: Path, ray_cluster: Any, small_shards: None
) -> None:
    manifest, _ = build(tmp_path, recipe(data), "ray", executor="ray")
    assert manifest["decontamination"]["benchmarks"]["bench"]["removed"] == len(BENCH)
