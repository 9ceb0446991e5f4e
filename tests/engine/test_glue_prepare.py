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
