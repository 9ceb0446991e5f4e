"""Print `name==version` for every core dependency floor in pyproject.toml (and EXTRAS').

CI writes this to a file and `pip install -r`s it into `.venv-floor`, so the
floors tested are exactly the ones declared (the guide: "test the oldest you
declare"). Standard library only on Python 3.11+ (tomllib), as it runs before
the floor venv holds anything; on 3.10, tomli (the same parser, in the dev extra
and the floor venv).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def python_floor(pyproject: Path = PYPROJECT) -> str:
    """The oldest Python `requires-python` allows (a plain `>=X.Y`)."""
    spec = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["requires-python"]
    found = re.fullmatch(r"\s*>=\s*([0-9]+\.[0-9]+)\s*", spec)
    if not found:
        raise ValueError(f"requires-python {spec!r}: expected one plain `>=X.Y` floor")
    return found.group(1)


def oldest_python() -> str | None:
    """An interpreter of requires-python's floor on this machine, or None.

    Looked for on PATH, then among pyenv's versions: pyenv's shim for a version that
    is installed but not selected is on PATH and fails when run, so each candidate
    must answer with its version.
    """
    floor = python_floor()
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = [shutil.which(f"python{floor}")]
    candidates += sorted(glob.glob(os.path.join(root, "versions", f"{floor}.*", "bin", "python")))
    for exe in filter(None, candidates):
        try:
            if answer(exe, VERSION) == floor:
                return exe
        except subprocess.CalledProcessError:
            continue  # a shim of a version that is not selected
    return None


VERSION = "import sys; print('%d.%d' % sys.version_info[:2])"  # an interpreter's X.Y


def answer(python: str, code: str, *args: str) -> str:
    """What `python -c code args` prints (stripped); CalledProcessError when it fails."""
    run = subprocess.run([python, "-c", code, *args], capture_output=True, text=True, check=True)
    return run.stdout.strip()


# Extras the floor venv holds too: the others need torch (train, decontam) or a cluster
# runtime (ray), whose old releases are CUDA builds of several GB or slow to start.
EXTRAS = ("report",)


def floors(pyproject: Path = PYPROJECT) -> dict[str, str]:
    """The declared floor of each core dependency and of EXTRAS' (`>=` is required)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    deps = project["dependencies"] + [d for e in EXTRAS for d in extras[e]]
    out = {}
    for dep in deps:
        found = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*", dep)
        if not found:
            raise ValueError(f"{dep!r}: every tested dependency needs one plain `>=` floor")
        out[found.group(1)] = found.group(2)
    return out


if __name__ == "__main__":
    if sys.argv[1:] == ["--python"]:  # the interpreter to build the floor venv with
        print(oldest_python() or sys.executable)
    else:
        sys.stdout.write("".join(f"{name}=={version}\n" for name, version in floors().items()))
