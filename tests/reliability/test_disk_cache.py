"""`file_format: disk` leaves no copy of the data in the datasets cache (issue 10, item 13)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CODE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import orjson
    from postmix.writers.files import write_disk
    out = Path(sys.argv[1])
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}]} for i in range(50)]
    train = out / "train.jsonl"
    train.write_bytes(b"".join(orjson.dumps(r) + b"\\n" for r in rows))
    print(write_disk(out / "phase", {"train": train}))
    """
)


def test_write_disk_leaves_nothing_in_the_datasets_cache(tmp_path: Path) -> None:
    cache, out = tmp_path / "hf-cache", tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache), "HF_DATASETS_OFFLINE": "1"}
    got = subprocess.run(
        [sys.executable, "-c", CODE, str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert got.returncode == 0, got.stderr[-3000:]
    assert "{'train': 50}" in got.stdout
    left = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert not [p for p in left if p.suffix == ".arrow"], left
    assert sorted(p.name for p in out.iterdir()) == ["phase", "train.jsonl"]
    from datasets import load_from_disk

    assert len(load_from_disk(str(out / "phase"))["train"]) == 50
