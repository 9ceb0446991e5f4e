"""Load every prepared output under DIR with whichever `datasets` runs this script.

Imports nothing from postmix, so CI can run it in a small venv holding only the
oldest `datasets` the package allows (`pip install "datasets==<floor>"`):

    python -m tests.compat.make_outputs /tmp/outs
    /tmp/old/bin/python tests/compat/load_outputs.py /tmp/outs

Each output dir is loaded as users load it: `load_dataset(DIR)` (the dataset
card's `configs:`), and each split file on its own (`load_dataset("json" |
"parquet", data_files=...)`, `load_from_disk`). Row counts must match the
manifest. Prints one line per failure and exits 1 if there was any.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from pathlib import Path


def check(out: Path) -> list[str]:
    """Problems loading one output dir (empty when every way of loading it works)."""
    import datasets

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    want = {o["split"]: int(o["rows"]) for o in manifest["outputs"] if int(o["rows"])}
    problems = []
    try:
        whole = datasets.load_dataset(str(out))
        got = {name: len(split) for name, split in whole.items()}
        if got != want:
            problems.append(f"load_dataset(dir): splits {got}, manifest {want}")
    except Exception as exc:  # every failure is reported, the run goes on
        problems.append(f"load_dataset(dir): {type(exc).__name__}: {exc}")
    for o in manifest["outputs"]:
        path = out / o["path"]
        try:
            if path.is_dir():
                ds = datasets.load_from_disk(str(path))
            else:
                builder = "json" if path.suffix == ".jsonl" else "parquet"
                ds = datasets.load_dataset(builder, data_files=str(path), split="train")
            if len(ds) != int(o["rows"]):
                problems.append(f"{o['path']}: {len(ds)} rows, manifest {o['rows']}")
        except Exception as exc:
            problems.append(f"{o['path']}: {type(exc).__name__}: {exc}")
            if "--debug" in sys.argv:
                traceback.print_exc()
    return problems


def main(root: Path) -> int:
    # A cache of its own: another `datasets` version's cached split info can fail to parse.
    os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="postmix-compat-")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    import datasets

    dirs = sorted(p.parent for p in root.glob("*/out/manifest.json"))
    failed = 0
    for out in dirs:
        for problem in check(out):
            failed += 1
            print(f"FAIL {out.parent.name}: {problem}"[:600])
    print(f"datasets {datasets.__version__}: {len(dirs)} output dirs, {failed} failure(s)")
    return 1 if failed or not dirs else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
