"""Print `name==version` for every `[project] dependencies` floor in pyproject.toml.

CI writes this to a file and `pip install -r`s it into `.venv-floor`, so the
floors tested are exactly the ones declared (the guide: "test the oldest you
declare"). Standard library only (tomllib: Python 3.11+), as it runs before the
floor venv holds anything.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def floors(pyproject: Path = PYPROJECT) -> dict[str, str]:
    """Each core dependency's declared floor, by name as written (`>=` is required)."""
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    out = {}
    for dep in deps:
        found = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*", dep)
        if not found:
            raise ValueError(f"{dep!r}: every core dependency needs one plain `>=` floor")
        out[found.group(1)] = found.group(2)
    return out


if __name__ == "__main__":
    sys.stdout.write("".join(f"{name}=={version}\n" for name, version in floors().items()))
