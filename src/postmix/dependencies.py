"""What postmix declares it depends on, read from its installed metadata (pyproject.toml).

Two places need it: the output fingerprint (every library that can change the
bytes a run writes) and the CLI's error for a missing module (which extra
brings it). Reading the metadata keeps both in step with pyproject.toml.
"""

from __future__ import annotations

import re
from importlib import metadata

TOOLING = ("dev", "bench")  # extras that write no output: tests, linters, benchmarks
_REQUIREMENT = re.compile(r"""([\w.\-]+)(?:.*extra\s*==\s*["']([\w\-]+)["'])?""")


def declared() -> list[tuple[str, str | None]]:
    """(distribution name in lower case, its extra or None for a core dependency) of every
    requirement; empty when postmix runs uninstalled (no metadata to read).

    >>> ("orjson", None) in declared()
    True
    """
    try:
        requires = metadata.requires("postmix") or []
    except metadata.PackageNotFoundError:
        return []
    out = []
    for req in requires:
        found = _REQUIREMENT.match(req)
        if found:
            out.append((found.group(1).lower(), found.group(2)))
    return out


def output_libraries() -> list[tuple[str, str]]:
    """(name, installed version or "absent") of every declared library but the TOOLING
    extras', sorted: what can change the bytes a run writes."""
    names = sorted({name for name, extra in declared() if extra not in TOOLING})
    out = []
    for name in names:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "absent"))
    return out


def extra_providing(module: str) -> str | None:
    """The extra whose distributions include the importable `module` (`sentence-transformers`
    provides `sentence_transformers`, `faiss-cpu` `faiss`); None for a core one or unknown."""
    for name, extra in declared():
        dist = name.replace("-", "_")
        if extra and extra not in TOOLING and module.lower() in (dist, dist.removesuffix("_cpu")):
            return extra
    return None
