"""What `prepare` would reject about a recipe's paths, found before any data is read.

`validate` used to pass recipes whose sources were missing or whose output was a
file, and `prepare` then failed with a traceback. Each problem here comes back
with the YAML path it is about, so the loader can add the line.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

from postmix.recipe.model import Recipe

Problem = tuple[tuple[Any, ...], str]

SIDE_FILES = ("quarantine.jsonl", "removed.jsonl", "examples.jsonl", "manifest.json", "README.md")


def planned_outputs(recipe: Recipe) -> list[str]:
    """File names a run writes inside the output dir (to test globs against)."""
    phase = recipe.metadata.phase
    if recipe.output.file_format == "disk":
        return [phase or "dataset", *SIDE_FILES]
    tokenized = recipe.output.schema_ == "tokenized"
    ext = "parquet" if tokenized or recipe.output.file_format == "parquet" else "jsonl"
    prefix = f"{phase}_" if phase else ""
    return [f"{prefix}{split}.{ext}" for split in ("train", "validation")] + list(SIDE_FILES)


def path_problems(recipe: Recipe, output: Path) -> list[Problem]:
    """Missing local sources and tokenizer, empty globs, an unusable output dir, sources
    inside it."""
    from postmix.sources import looks_like_path
    from postmix.writers.commit import OutputError, check_replaceable
    from postmix.writers.overlap import OverlapError, check_sources_outside

    problems: list[Problem] = []
    names = planned_outputs(recipe)
    for i, ds in enumerate(recipe.datasets):
        where = ("datasets", i, "source")
        source = os.path.expanduser(ds.source)
        if any(c in source for c in "*?["):
            if not glob.glob(source, recursive=True):
                problems.append((where, f"no files match {ds.source!r}"))
                continue
        elif not os.path.exists(source):
            if looks_like_path(source):
                problems.append((where, f"no such file or directory: {ds.source}"))
            continue
        try:
            check_sources_outside(output, [(ds.name, ds.source)], names)
        except OverlapError as exc:
            problems.append((where, str(exc)))
    tokenizer = recipe.tokenizer
    if tokenizer and not os.path.exists(tokenizer) and looks_like_path(tokenizer):
        problems.append((("tokenizer",), f"no such file or directory: {tokenizer}"))
    try:
        check_replaceable(output)
    except OutputError as exc:
        problems.append((("output", "dir"), str(exc)))
    else:
        if not _creatable(output):
            problems.append((("output", "dir"), f"{output}: no permission to create it"))
    return problems


def _creatable(path: Path) -> bool:
    """Whether the nearest existing folder at or above `path` lets us write into it."""
    for folder in (path, *path.parents):
        if folder.exists():
            return os.access(folder.parent if folder == path else folder, os.W_OK)
    return False
