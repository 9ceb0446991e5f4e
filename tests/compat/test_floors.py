"""The floor venv holds every core dependency at exactly its declared floor.

CI names that venv's interpreter in `POSTMIX_COMPAT_PYTHON` (as for
test_oldest_datasets), so a floor raised or lowered in pyproject.toml without
the suite passing at the new floor is caught here.
"""

from __future__ import annotations

import json
import os

import pytest
from packaging.version import Version

from tests.compat.floors import VERSION, answer, floors, oldest_python, python_floor

# Run by the floor venv's interpreter: the installed version of each name in argv.
INSTALLED = (
    "import json, sys; from importlib.metadata import version; "
    "print(json.dumps({n: version(n) for n in sys.argv[1:]}))"
)


def test_every_core_dependency_declares_a_floor() -> None:
    assert floors(), "pyproject.toml declares no core dependency"


def test_the_floor_venv_holds_exactly_the_floors() -> None:
    python = os.environ.get("POSTMIX_COMPAT_PYTHON")
    if python is None:
        pytest.skip("POSTMIX_COMPAT_PYTHON names no floor venv")
    want = floors()
    got = json.loads(answer(python, INSTALLED, *want))
    wrong = {n: f"{got[n]} (floor {v})" for n, v in want.items() if Version(got[n]) != Version(v)}
    assert not wrong, f"{python} is not at the floors: {wrong}"


def test_the_floor_venv_runs_the_oldest_python_allowed() -> None:
    python = os.environ.get("POSTMIX_COMPAT_PYTHON")
    if python is None:
        pytest.skip("POSTMIX_COMPAT_PYTHON names no floor venv")
    version = answer(python, VERSION)
    oldest = python_floor()
    if version != oldest and oldest_python() is None:
        pytest.skip(f"Python {oldest} (requires-python's floor) is not installed here")
    assert version == oldest, f"{python} runs Python {version}; requires-python allows {oldest}"
