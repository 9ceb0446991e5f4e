"""Every output kind loads with the oldest `datasets` pyproject allows.

`load_outputs.py` runs in the interpreter named by `POSTMIX_COMPAT_PYTHON` (a
small venv holding only `datasets==<floor>`, which CI builds), else in this
one. The floor itself is read from pyproject.toml, so raising or lowering it
without the check passing there is caught.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from tests.compat.floors import answer
from tests.compat.make_outputs import make_all

REPO = Path(__file__).resolve().parents[2]
LOADER = Path(__file__).with_name("load_outputs.py")


def floor() -> str:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r'"datasets>=([0-9.]+)"', text)
    assert found, "pyproject.toml declares no datasets floor"
    return found.group(1)


def test_every_output_loads_with_the_oldest_allowed_datasets(tmp_path: Path, tok_dir: Path) -> None:
    python = os.environ.get("POSTMIX_COMPAT_PYTHON", sys.executable)
    version = answer(python, "import datasets; print(datasets.__version__)")
    if "POSTMIX_COMPAT_PYTHON" in os.environ:
        same = Version(version) == Version(floor())
        assert same, f"{python} has datasets {version}, the floor is {floor()}"
    dirs = make_all(tmp_path, tok_dir)
    run = subprocess.run([python, str(LOADER), str(tmp_path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"{len(dirs)} output dirs, 0 failure(s)" in run.stdout


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny import bpe_tokenizer

    path = tmp_path_factory.mktemp("tok")
    bpe_tokenizer(path)
    return path
