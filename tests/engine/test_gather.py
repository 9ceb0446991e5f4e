"""The parallel gather writes the bytes (and sha256) a one-process gather writes, and scans
the optional keys as the glue would by reading the file."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import numpy as np
import orjson
import pytest

from postmix.engine import gather
from postmix.engine.index import Index
from postmix.writers import glue
from tests.outputs import build, sft_rows

TOOL = [{"type": "function", "function": {"name": "f", "parameters": {}}}]


def spilled(tmp: Path, n: int, dtype: type = np.int64) -> tuple[Index, list[bytes]]:
    """`n` lines of varied lengths over two spill files (every 9th with a `tools` key, one
    with "tools" as a value only), and an index that locates them."""
    lines = []
    for i in range(n):
        row: dict = {"messages": [{"role": "user", "content": "x" * (i * 37 % 300)}]}
        if i % 9 == 4:
            row["tools"] = TOOL if i % 2 else []
        if i == 5:
            row["note"] = "tools"
        lines.append(orjson.dumps(row) + b"\n")
    half = n // 2
    files, offsets, spills = [], [], []
    for f, part in enumerate((lines[:half], lines[half:])):
        path = tmp / f"spill{f}.bin"
        path.write_bytes(b"pad" + b"".join(part))
        spills.append(str(path))
        starts = np.cumsum([3, *map(len, part)])[:-1]
        files.append(np.full(len(part), f))
        offsets.append(starts)
    idx = SimpleNamespace(  # the locations gather reads (the rest of the index is not its)
        mention=np.asarray([i for i, x in enumerate(lines) if glue.mentions(x)], np.int64),
        file=np.concatenate(files).astype(np.uint8),
        offset=np.concatenate(offsets).astype(dtype),
        length=np.asarray([len(x) for x in lines]).astype(dtype),
        spills=spills,
    )
    return cast(Index, idx), lines


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 7 lines, and gather processes for any split, so tests cross every seam."""
    monkeypatch.setattr(gather, "CHUNK", 7)
    monkeypatch.setattr(gather, "PIECE", 2)
    monkeypatch.setattr(gather, "INLINE", 0)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("n", [0, 1, 7, 100])
def test_parallel_gather_writes_the_one_process_bytes(tmp_path: Path, n: int) -> None:
    idx, lines = spilled(tmp_path, n, np.uint32)
    order = np.random.default_rng(n).permutation(n)
    want = b"".join(lines[i] for i in order.tolist())
    for procs in (1, 3):
        path = tmp_path / f"out{procs}.jsonl"
        scan = glue.KeyScan(("system", "tools"))
        rows, sha = gather.write_jsonl(path, idx, order, tmp_path, scan, procs=procs)
        assert (rows, sha) == (n, hashlib.sha256(want).hexdigest())
        assert path.read_bytes() == want
        assert scan.result() == glue._scan_jsonl(path, ("system", "tools"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("plan")]


@pytest.mark.usefixtures("small_chunks")
def test_a_subset_in_any_order(tmp_path: Path) -> None:
    idx, lines = spilled(tmp_path, 60)
    order = np.asarray([59, 0, 31, 30, 29, 2, 2 + 40, 17])
    rows, _ = gather.write_jsonl(tmp_path / "o.jsonl", idx, order, tmp_path, procs=2)
    assert rows == 8
    assert (tmp_path / "o.jsonl").read_bytes() == b"".join(lines[i] for i in order.tolist())


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("procs", [1, 2])
def test_a_failed_gather_leaves_no_file(tmp_path: Path, procs: int) -> None:
    idx, _ = spilled(tmp_path, 30)
    Path(idx.spills[1]).unlink()
    with pytest.raises(OSError):
        gather.write_jsonl(tmp_path / "o.jsonl", idx, np.arange(30), tmp_path, procs=procs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spill0.bin"]


@pytest.mark.usefixtures("small_chunks")
def test_prepare_splits_and_glue_match_the_one_process_gather(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Train and validation splits through gather processes: the same files as gathering in
    the driver; the glue reads no split prepare wrote, and says what reading them says."""
    monkeypatch.setattr(glue, "_scan_jsonl", _unread)
    runs = {}
    for procs in (1, 3):
        monkeypatch.setattr(gather, "PROCS", procs)
        glue._scan.cache_clear()
        out, manifest = build(tmp_path / str(procs), "sft", "sharegpt", rows=sft_rows(60))
        assert [o["rows"] for o in manifest["outputs"]] == [48, 12]
        names = ["t_train.jsonl", "t_validation.jsonl", glue.LLAMAFACTORY, glue.AXOLOTL]
        written = {name: (out / name).read_text() for name in names}
        runs[procs] = manifest["outputs"], {k: v.replace(str(out), "") for k, v in written.items()}
    assert runs[1] == runs[3]
    monkeypatch.undo()
    glue._scan.cache_clear()
    assert glue.layout(out, manifest).columns == {
        "train": {"system", "tools"},
        "validation": {"system", "tools"},
    }
    assert glue.glue_files(out, manifest).items() <= written.items()


def _unread(path: Path, optional: tuple[str, ...]) -> glue.Scan:
    raise AssertionError(f"the glue read {path} again")


def test_plain_lines_never_hold_an_optional_key() -> None:
    """Workers flag only the lines where an optional key can be (`glue.mentions`): a plain
    messages line holds none, whatever its text says, since quotes in strings are escaped."""
    texts = ['"tools": []', '{"system": "x"}', "history", '\\"tools\\":', "tools:"]
    for role in ("system", "user", "assistant"):
        for text in texts:
            row = {"messages": [{"role": role, "content": text}], "id": "i", "source": '"tools":'}
            assert not glue.mentions(orjson.dumps(row) + b"\n")
    assert glue.mentions(b'{"messages":[],"tools":[]}\n')
    assert glue.mentions(b'{"system":"s","history":[]}\n')
