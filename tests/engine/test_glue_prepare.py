"""Every `prepare` writes the trainers' glue beside the data, inside the committed unit."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.test_pipeline import alpaca_rows, run, write_jsonl


def test_prepare_writes_llamafactory_and_axolotl_glue(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", alpaca_rows(20))
    recipe = {
        "metadata": {"phase": "sft"},
        "datasets": [{"name": "a", "source": str(tmp_path / "a.jsonl")}],
        "validation": {"ratio": 0.1},
        "output": {"schema": "sharegpt"},
    }
    _, out = run(tmp_path, recipe, num_proc=1)
    info = json.loads((out / "dataset_info.json").read_text())
    assert {e["file_name"] for e in info.values()} == {"sft_train.jsonl", "sft_validation.jsonl"}
    snippet = yaml.safe_load((out / "axolotl.yaml").read_text())
    paths = [d["path"] for d in snippet["datasets"]]
    assert all(str(out) in p and ".postmix-staging" not in p for p in paths)


def test_a_key_across_two_read_blocks_is_found(tmp_path: Path, monkeypatch) -> None:
    import orjson

    from postmix.writers import glue

    rows = [{"messages": [{"role": "user", "content": "x" * 7}]}] * 3
    rows.append({"messages": [], "tools": [{"type": "function", "function": {"name": "f"}}]})
    path = tmp_path / "t.jsonl"
    data = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    path.write_bytes(data)
    at = data.index(b'"tools":') + 3  # the key straddles the first block's end
    monkeypatch.setattr(glue, "BLOCK", at)
    assert glue._scan_jsonl(path, ("tools",)) == (frozenset({"tools"}), False)
    assert glue._scan_jsonl(path, ("system",)) == (frozenset(), True)
