"""Outputs: the splits in the output format, and the side files that account for the rest.

Everything is written under one directory (`out`) handed in by the driver;
records are read back from the spill files at their offsets, a chunk at a
time, so memory stays flat.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from postmix.engine import gather
from postmix.engine.contracts import ShardResult
from postmix.engine.index import Index, SpillReader, record_ids
from postmix.engine.ledger import EXAMPLES, example_line, removal_line
from postmix.engine.select import CONFLICT, REASONS, Duplicates, Selection, rng
from postmix.recipe import Recipe
from postmix.writers import files, glue
from postmix.writers import tokenized as tokenized_out


def write_splits(
    recipe: Recipe, idx: Index, sel: Selection, out: Path, work: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each split in the output format, rows shuffled (seeded) unless `output.shuffle` is off.

    Returns the outputs and, for packed tokenized output, packing stats per split.
    """
    fmt = recipe.output.file_format
    prefix = f"{recipe.metadata.phase}_" if recipe.metadata.phase else ""
    chosen_of: dict[str, np.ndarray] = {}
    for name, chosen in (("train", sel.train), ("validation", sel.validation)):
        if name == "validation" and recipe.validation.ratio == 0:
            continue
        if recipe.output.shuffle:
            chosen = chosen[rng(recipe.seed, "shuffle", name).permutation(len(chosen))]
        chosen_of[name] = chosen
    tokenized = recipe.output.schema_ == "tokenized"
    optional = glue.MAPPED.get(recipe.output.schema_, ()) if fmt == "jsonl" else ()
    outputs, paths, packing = [], {}, {}
    with SpillReader(idx.spills) as reader:
        splits = {name: (lambda c=c: reader.lines(idx, c)) for name, c in chosen_of.items()}
        schema = (
            files.arrow_schema(*splits.values()) if fmt == "parquet" and not tokenized else None
        )
        for name, chunks in splits.items():
            if tokenized:
                path = (work if fmt == "disk" else out) / f"{prefix}{name}.parquet"
                rows, sha, stats = _write_tokenized(recipe, reader, idx, chosen_of[name], path)
                if stats:
                    packing[name] = stats
            elif fmt == "parquet":
                path = out / f"{prefix}{name}.parquet"
                rows, sha = files.write_parquet(path, chunks, schema)
            else:
                path = (work if fmt == "disk" else out) / f"{prefix}{name}.jsonl"
                scan = glue.KeyScan(optional) if optional else None
                rows, sha = gather.write_jsonl(path, idx, chosen_of[name], work, scan)
                if scan is not None:
                    glue.remember(path, scan)
            paths[name] = path
            size = path.stat().st_size
            outputs.append(
                {"path": path.name, "split": name, "rows": rows, "bytes": size, "sha256": sha}
            )
    if fmt == "disk":
        target = out / (recipe.metadata.phase or "dataset")
        counts = files.write_disk(target, paths)
        outputs = [
            {"path": f"{target.name}/{name}", "split": name, "rows": counts[name], "sha256": None}
            for name in counts
        ]
    return outputs, packing


def _write_tokenized(
    recipe: Recipe, reader: SpillReader, idx: Index, chosen: np.ndarray, path: Path
) -> tuple[int, str, dict[str, Any] | None]:
    """Token ids of the chosen records (every format variant), packed when the recipe asks."""

    def fetch(positions: np.ndarray) -> list[bytes]:
        return [b for chunk in reader.lines(idx, chosen[positions]) for b in chunk]

    lengths = None
    if recipe.packing and idx.ntok is not None:
        lengths = idx.ntok[chosen].reshape(-1)
    return tokenized_out.write(
        path, fetch, len(chosen), lengths=lengths, max_length=recipe.seq_length
    )


def save_tokenizer(recipe: Recipe, out: Path) -> dict[str, Any] | None:
    """The tokenizer with the (first) template installed, saved with the data for inference."""
    if not recipe.tokenizes:
        return None
    from postmix import templates
    from postmix.tokenizer import load_tokenizer

    assert recipe.tokenizer is not None
    tok = load_tokenizer(recipe.tokenizer)
    for name in reversed(recipe.formats):  # the first format's template ends up installed
        templates.bind(tok, name, recipe.special_tokens)  # type: ignore[arg-type]
    tok.save_pretrained(str(out / "tokenizer"))
    return {
        "path": "tokenizer",
        "source": recipe.tokenizer,
        "template": recipe.formats[0],
        "expand_formats": recipe.formats if len(recipe.formats) > 1 else None,
        "train_on": recipe.train_on,
        "max_seq_length": recipe.seq_length,
        "over_length": recipe.over_length,
        "vocab_size": len(tok),
    }


def stage_two_lines(
    idx: Index, names: list[str], dups: Duplicates, leak_hit: np.ndarray, leak_of: np.ndarray
) -> list[bytes]:
    """removed.jsonl lines of the second stage: duplicates, near duplicates, validation leaks."""
    gone = np.flatnonzero(dups.removed)
    why = [REASONS[w] for w in dups.why[gone].tolist()]
    entries = [
        *zip(gone.tolist(), dups.of[gone].tolist(), why),
        *zip(leak_hit.tolist(), leak_of.tolist(), ["validation_leak"] * len(leak_hit)),
    ]
    named = np.concatenate([gone, dups.of[gone], leak_hit, leak_of])
    ids = record_ids(idx, named[named >= 0])
    lines = []
    for g, of, reason in entries:
        label, fmt, row = idx.where(g)
        src = names[int(idx.source[g])]
        extra = {"of": ids[of], "of_source": names[int(idx.source[of])]} if of >= 0 else {}
        lines.append(removal_line(src, label, fmt, row, ids[g], reason, **extra))
    return lines


def write_side_files(out: Path, results: list[list[ShardResult]], stage_two: list[bytes]) -> None:
    """quarantine.jsonl (malformed rows) and removed.jsonl (every record that left)."""
    with files.atomic_path(out / "quarantine.jsonl") as tmp, open(tmp, "wb") as fh:
        for per_source in results:
            for res in per_source:
                fh.writelines(res.quarantine)
    with files.atomic_path(out / "removed.jsonl") as tmp, open(tmp, "wb", buffering=1 << 20) as fh:
        for per_source in results:
            for res in per_source:
                with open(res.removed, "rb") as src:
                    shutil.copyfileobj(src, fh)
        fh.writelines(stage_two)


def write_examples(
    out: Path, results: list[list[ShardResult]], idx: Index, names: list[str], dups: Duplicates
) -> None:
    """examples.jsonl: a few kept, dropped and duplicate records per source, for the report."""
    lines: list[bytes] = []
    with SpillReader(idx.spills) as reader:
        for si, name in enumerate(names):
            mine = idx.source == si
            for g in np.flatnonzero(mine & ~dups.removed)[:EXAMPLES].tolist():
                lines.append(example_line(name, "kept", _row(reader, idx, g)))
            for res in results[si]:
                lines.extend(res.examples)
            for code, reason in REASONS.items():
                bucket = f"dropped:{reason}" if code == CONFLICT else reason
                for g in np.flatnonzero(mine & (dups.why == code))[:EXAMPLES].tolist():
                    at = int(dups.of[g])
                    of = {"of": _row(reader, idx, at)} if at >= 0 else {}
                    lines.append(example_line(name, bucket, _row(reader, idx, g), **of))
    with files.atomic_path(out / "examples.jsonl") as tmp:
        tmp.write_bytes(b"".join(lines))


def _row(reader: SpillReader, idx: Index, g: int) -> Any:
    line = next(reader.lines(idx, np.asarray([g])))[0]
    return tokenized_out.as_row(line) if idx.binary else orjson.loads(line)


def write_json(path: Path, data: Any) -> None:
    with files.atomic_path(path) as tmp:
        tmp.write_bytes(
            orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        )
