"""A fingerprint of everything that decides `prepare`'s output, so reuse cannot go stale.

The recipe (as validated), the postmix version, the Python version and the
installed version of every library postmix depends on (extras included: each
can change the bytes a run writes, e.g. rensa's MinHash permutations or a
tokenizer's splits), `--limit`, every local input's content digest (xxh3-128
of its bytes: ~10 GB/s, a fraction of reading it), each hub source's pinned
revision, the tokenizer's files and the chat templates. A hub source without a
pinned `revision:` cannot be checked offline, so it makes the output not
reusable (`None`), and the run says so.
"""

from __future__ import annotations

import hashlib
import os
import platform
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import xxhash

from postmix import __version__
from postmix.dependencies import output_libraries
from postmix.engine.plan import SourceInfo
from postmix.recipe import Recipe

BLOCK = 1 << 20


def file_digest(path: str | Path) -> str:
    """xxh3-128 of a file's bytes, read into one reused buffer (no fresh pages per read)."""
    h = xxhash.xxh3_128()
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def _tree_digest(path: str) -> str:
    """Digest of a file, or of every file under a directory (names and contents)."""
    if os.path.isfile(path):
        return file_digest(path)
    h = hashlib.sha256()
    for root, dirs, names in os.walk(path):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(root, name)
            h.update(os.path.relpath(full, path).encode() + b"\0" + file_digest(full).encode())
    return h.hexdigest()


def unpinned(infos: list[SourceInfo]) -> list[str]:
    """Sources read from a hub without a pinned revision (their content cannot be checked)."""
    return [
        info.plan.name
        for info in infos
        if any(s.fmt == "hub" and not os.path.exists(s.path) for s in info.shards)
        and not dict(info.shards[0].hub).get("revision")
    ]


def fingerprint(recipe: Recipe, infos: list[SourceInfo], limit: int | None) -> str:
    """sha256 over everything that decides the output (see the module docstring)."""
    h = hashlib.sha256()

    def feed(tag: str, value: str | bytes) -> None:
        data = value.encode() if isinstance(value, str) else value
        h.update(tag.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)

    feed("postmix", __version__)
    feed("python", platform.python_version())
    for name, version in output_libraries():
        feed("library", f"{name}=={version}")
    feed(
        "recipe",
        orjson.dumps(recipe.model_dump(mode="json", by_alias=True), option=orjson.OPT_SORT_KEYS),
    )
    feed("limit", str(limit))
    shards = {f"{s.path}\0{s.split}": s for info in infos for s in info.shards}
    local = [s.path for s in shards.values() if os.path.exists(s.path)]
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:  # reads and xxh3 free the GIL
        digests = dict(zip(local, pool.map(_tree_digest, local)))
    for key, shard in shards.items():
        feed("source", key)
        if shard.path in digests:
            feed("content", digests[shard.path])
        else:
            feed("hub", orjson.dumps(dict(shard.hub), option=orjson.OPT_SORT_KEYS))
    if recipe.tokenizer:
        feed("tokenizer", recipe.tokenizer)
        if os.path.exists(recipe.tokenizer):
            feed("tokenizer_files", _tree_digest(recipe.tokenizer))
    if recipe.tokenizes:
        from postmix import templates

        for name in recipe.formats:
            feed("template", name if name == "tokenizer" else repr(templates.get(name)))
    if recipe.decontaminate is not None:
        for spec in recipe.decontaminate.specs:
            feed("benchmark", spec.model_dump_json())
            if spec.source and os.path.exists(spec.source):
                feed("benchmark_content", _tree_digest(spec.source))
    return h.hexdigest()
