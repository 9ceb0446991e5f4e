"""Prepared dirs are read back against their manifest (issue 10, item 3): `inspect` and the
trainers refuse a dir whose files do not match, unless told not to verify."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from rich.console import Console

from postmix.inspect import inspect_path
from postmix.train.data import DataError, open_prepared
from postmix.writers.verify import VerifyError, verify
from tests.outputs import build


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    out, _ = build(tmp_path, "sft")
    return out


def train_file(out: Path) -> Path:
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    return out / next(o["path"] for o in manifest["outputs"] if o["split"] == "train")


def swap_two_lines(path: Path) -> None:
    """Same size, different bytes: only the hash can tell."""
    lines = path.read_bytes().splitlines(keepends=True)
    lines[0], lines[1] = lines[1], lines[0]
    path.write_bytes(b"".join(lines))


def test_an_untouched_dir_verifies(prepared: Path) -> None:
    verify(prepared)
    assert open_prepared(prepared).kind == "sft"


def test_a_changed_train_file_is_refused_by_trainers_and_inspect(prepared: Path) -> None:
    swap_two_lines(train_file(prepared))
    with pytest.raises(VerifyError, match="sha256 differs"):
        verify(prepared)
    verify(prepared, hashes=False)  # same size: only the hash catches this one
    with pytest.raises(DataError, match=r"sha256 differs.*--no-verify"):
        open_prepared(prepared)
    with pytest.raises(SystemExit, match="sha256 differs"):
        inspect_path(prepared, sample=0, source=None, console=Console(quiet=True))
    assert open_prepared(prepared, verify=False).kind == "sft"
    inspect_path(prepared, sample=0, source=None, console=Console(quiet=True), verify=False)


def test_sizes_are_checked_first_and_missing_files_named(prepared: Path) -> None:
    train = train_file(prepared)
    manifest_path = prepared / "manifest.json"
    manifest = orjson.loads(manifest_path.read_bytes())
    for o in manifest["outputs"]:
        o["bytes"] = (prepared / o["path"]).stat().st_size
    manifest_path.write_bytes(orjson.dumps(manifest))
    verify(prepared)
    with train.open("ab") as fh:
        fh.write(b'{"messages": []}\n')
    with pytest.raises(VerifyError, match=r"bytes, the manifest says"):
        verify(prepared, hashes=False)
    train.unlink()
    with pytest.raises(VerifyError, match=rf"{train.name}: listed in .* but missing"):
        verify(prepared)


def test_a_manifest_path_leaving_the_dir_is_refused(prepared: Path) -> None:
    manifest_path = prepared / "manifest.json"
    manifest = orjson.loads(manifest_path.read_bytes())
    manifest["outputs"][0]["path"] = "../../etc/passwd"
    manifest_path.write_bytes(orjson.dumps(manifest))
    with pytest.raises(VerifyError, match="leaves the dir"):
        verify(prepared)
