"""Sources and outputs may not overlap: a run must never read what it (or a previous
run) writes.

A source named like an output (`{phase}_train.jsonl` in the output dir) is
replaced by the run that reads it; a glob over the output dir re-reads the previous
outputs, so the training set grows on every run. Both are refused before reading.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterable
from pathlib import Path

_MAGIC = frozenset("*?[")


class OverlapError(ValueError):
    """A source lies in (or would read) the output dir, or holds it."""


def check_sources_outside(
    out_dir: str | Path, sources: Iterable[tuple[str, str]], outputs: Iterable[str] = ()
) -> None:
    """Raise `OverlapError` for the first source that reads the output dir.

    `sources` are (name, path or glob) after the recipe resolved them (hub ids pass
    through: they are not local paths); `outputs` are the file names the run will
    write inside `out_dir` (a glob that would match one of them is refused too).
    """
    out = Path(os.path.realpath(out_dir))
    names = list(outputs) or ["train.jsonl"]
    for name, source in sources:
        path = os.path.expanduser(source)
        if _MAGIC & set(path):
            hits = [Path(p) for p in glob.glob(path, recursive=True)]
            hits += [out / n for n in names if _glob_matches(path, out / n)]
        elif os.path.exists(path):
            hits = [Path(path)]
        else:
            continue
        for hit in hits:
            real = Path(os.path.realpath(hit))
            if real == out or out in real.parents:
                raise OverlapError(
                    f"source {name!r} ({source}) reads {hit}, inside the output dir {out}: "
                    "a run would read its own (or a previous run's) outputs; move the "
                    "source or choose another output.dir"
                )
            if real.is_dir() and real in out.parents:
                raise OverlapError(
                    f"source {name!r} ({source}) is a folder that holds the output dir {out}: "
                    "a run would read its own outputs; choose an output.dir outside it"
                )


def _glob_matches(pattern: str, path: Path) -> bool:
    """Whether `glob.glob(pattern, recursive=True)` would return `path` once it exists."""
    pat = Path(os.path.abspath(pattern)).parts
    parts = Path(os.path.realpath(path)).parts
    real_pat = _realpath_prefix(pat)
    return _match(real_pat, parts)


def _realpath_prefix(parts: tuple[str, ...]) -> tuple[str, ...]:
    """The pattern with its literal leading folders resolved (symlinks, like the outputs)."""
    fixed = 0
    while fixed < len(parts) and not _MAGIC & set(parts[fixed]):
        fixed += 1
    if fixed == 0:
        return parts
    return (*Path(os.path.realpath(Path(*parts[:fixed]))).parts, *parts[fixed:])


def _match(pat: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    if not pat:
        return not parts
    if pat[0] == "**":
        return any(_match(pat[1:], parts[i:]) for i in range(len(parts) + 1))
    if not parts:
        return False
    hidden = parts[0].startswith(".") and not pat[0].startswith(".")
    return not hidden and fnmatch.fnmatchcase(parts[0], pat[0]) and _match(pat[1:], parts[1:])
