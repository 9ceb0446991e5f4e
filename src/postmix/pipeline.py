"""`prepare`: the recipe's sources in, train/validation files and a manifest out.

Stage one (`process.run`) runs per shard in worker processes and leaves spill
files plus compact arrays. Everything here works on those arrays: exact
dedup by key, per-source mixing and the validation split by index, and the
final write by reading spill lines back at their offsets. Records never sit
in memory all at once, so peak memory stays flat as inputs grow.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import xxhash
from pydantic import ValidationError

from postmix import __version__, formats, mix, process, sources, split
from postmix.dedup import near
from postmix.dedup.exact import first_occurrence
from postmix.process import EXAMPLES, Result, SourcePlan, Task, TokenizeSpec, example_line, run
from postmix.recipe import Recipe
from postmix.schema import uuid_str
from postmix.writers import files
from postmix.writers import tokenized as tokenized_out

CHUNK = 4096  # spill lines read (and held) at a time by the final write
SHARD_BYTES = 16 << 20  # small enough that two workers finish together on a few big files


class StrictError(RuntimeError):
    """`--strict` and some rows were malformed."""


@dataclass
class SourceInfo:
    """A dataset of the recipe once its converter and shards are known."""

    plan: SourcePlan
    shards: list[sources.Shard]
    chosen_by: str
    whole: bool
    results: list[Result] = field(default_factory=list)


def _rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator per (seed, purpose, source name): adding a source never reshuffles another."""
    return np.random.default_rng(
        [seed & 0xFFFFFFFF, *(xxhash.xxh32_intdigest(str(k).encode()) for k in keys)]
    )


def resolve(recipe: Recipe, limit: int | None = None) -> list[SourceInfo]:
    """Pick each dataset's converter (named, or inferred from hub id / columns) and plan shards."""
    infos = []
    for i, ds in enumerate(recipe.datasets):
        kwargs: dict[str, Any] = {
            "splits": ds.splits,
            "subset": ds.subset,
            "revision": ds.revision,
            "streaming": ds.streaming,
            "data_files": ds.data_files,
        }
        if ds.converter_name:
            conv, chosen_by = formats.get(ds.converter_name), "recipe"
        else:
            conv, chosen_by = formats.infer(ds.source, sources.columns(ds.source, **kwargs))
        kind = recipe.kind_of(ds)
        if kind not in conv.kinds:
            raise ValueError(
                f"datasets[{i}] ({ds.name}): converter {conv.name!r} ({chosen_by}) cannot emit "
                f"kind {kind!r}; set format_converter: or kind:"
            )
        options = dict(ds.options)
        if ds.text_field and conv.name == "text":
            options.setdefault("field", ds.text_field)
        try:
            conv.options.model_validate(options, context={"kind": kind})
        except ValidationError as exc:
            raise ValueError(
                f"datasets[{i}].options ({ds.name}, converter {conv.name}): {exc}"
            ) from exc
        whole = limit is not None or conv.convert_stream is not None
        plan = SourcePlan(
            index=i,
            name=ds.name,
            converter=conv.name,
            kind=kind,
            options=options,
            filters=ds.filters,
            transforms=ds.transforms,
            dedup_key=recipe.dedup.exact_key,
            schema=recipe.output.schema_,
            seed=recipe.seed,
            tokenizer=recipe.tokenizer,
            count_tokens=recipe.metadata.total_tokens is not None,
            near=recipe.dedup.near,
            tokenize=_tokenize_spec(recipe),
        )
        shards = sources.plan(ds.source, whole=whole, shard_bytes=SHARD_BYTES, **kwargs)
        if not shards:
            raise FileNotFoundError(f"datasets[{i}] ({ds.name}): no data found at {ds.source!r}")
        infos.append(SourceInfo(plan=plan, shards=shards, chosen_by=chosen_by, whole=whole))
    return infos


def _tokenize_spec(recipe: Recipe) -> TokenizeSpec | None:
    if not recipe.tokenizes:
        return None
    return TokenizeSpec(
        formats=tuple(recipe.formats),
        special_tokens=recipe.special_tokens,
        train_on=recipe.train_on,
        max_length=recipe.seq_length,
        over_length=recipe.over_length,
        write=recipe.output.schema_ == "tokenized",
    )


def _tasks(infos: list[SourceInfo], spill_dir: str, limit: int | None) -> list[Task]:
    tasks = []
    for info in infos:
        groups = [tuple(info.shards)] if info.whole else [(s,) for s in info.shards]
        for order, group in enumerate(groups):
            tasks.append(
                Task(plan=info.plan, shards=group, order=order, spill_dir=spill_dir, limit=limit)
            )
    return tasks


def _run_all(tasks: list[Task], num_proc: int, on_result: Callable[[Result], None]) -> None:
    if num_proc <= 1 or len(tasks) == 1:
        for task in tasks:
            on_result(run(task))
        return
    ctx = mp.get_context("fork")
    with ctx.Pool(num_proc) as pool:
        for res in pool.imap_unordered(run, tasks):
            on_result(res)


@dataclass
class Index:
    """All surviving records of all sources as parallel arrays, in dedup order."""

    source: np.ndarray
    row: np.ndarray  # row within its input file
    label: np.ndarray  # index into `labels`: the input file (or hub split) of the record
    file: np.ndarray  # spill file number
    offset: np.ndarray
    length: np.ndarray
    keys: np.ndarray
    ids: np.ndarray
    cost: np.ndarray
    spills: list[str]
    labels: list[str] = field(default_factory=list)
    sigs: list[str] = field(default_factory=list)
    bands: np.ndarray | None = None
    ntok: np.ndarray | None = None  # (records, formats) tokens, when tokenizing
    binary: bool = False  # spill entries are tokenized binary entries, not JSON lines


def _trim_heap() -> None:
    """Give freed heap memory back to the OS (glibc keeps it otherwise).

    The workers' per-shard arrays arrive by unpickling as many ~100 KB blocks
    on the heap; once they are joined into the index and freed, glibc would
    keep those pages, and the peak would count them twice.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def _index(infos: list[SourceInfo], priority_order: list[int]) -> Index:
    """Concatenate the workers' arrays in dedup order, releasing each worker's copy."""
    names = ("source", "row", "label", "file", "offset", "length", "keys", "ids", "cost")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in names}
    spills: list[str] = []
    labels: list[str] = []
    sigs: list[str] = []
    bands: list[np.ndarray] = []
    ntok: list[list[int]] = []
    for si in priority_order:
        for res in sorted(infos[si].results, key=lambda r: r.order):
            n = len(res.keys)
            parts["source"].append(np.full(n, si, dtype=np.int16))
            parts["row"].append(res.row)
            parts["label"].append((res.shard + len(labels)).astype(np.int32))
            parts["file"].append(np.full(n, len(spills), dtype=np.int32))
            for name in ("offset", "length", "keys", "ids", "cost"):
                parts[name].append(getattr(res, name))
            spills.append(res.spill)
            labels.extend(res.labels)
            sigs.append(res.sigs)
            bands.append(res.bands)
            ntok.extend(res.ntok)
            res.release()
    # One field at a time, dropping its parts as it goes: with the workers' arrays
    # released, each field exists once in memory (plus the one being joined).
    cat: dict[str, np.ndarray] = {}
    for name in names:
        chunks = parts.pop(name)
        cat[name] = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
        del chunks
    if not len(cat["ids"]):
        cat["ids"] = np.empty((0, 16), dtype=np.uint8)

    near = [b for b in bands if b.size] or None
    return Index(
        spills=spills,
        labels=labels,
        sigs=sigs,
        bands=np.concatenate(near) if near else None,
        ntok=np.asarray(ntok, dtype=np.int64) if ntok else None,
        **cat,
    )


class SpillReader:
    """Random access to spill lines by (file, offset, length) with pread: no mmap, so the
    file pages read never count as this process's memory."""

    def __init__(self, paths: list[str]) -> None:
        self.fds = [os.open(p, os.O_RDONLY) for p in paths]

    def lines(self, idx: Index, order: np.ndarray) -> Iterator[list[bytes]]:
        pread = os.pread
        for start in range(0, len(order), CHUNK):
            sel = order[start : start + CHUNK]
            fds = [self.fds[f] for f in idx.file[sel].tolist()]
            yield [
                pread(fd, n, off)
                for fd, n, off in zip(fds, idx.length[sel].tolist(), idx.offset[sel].tolist())
            ]

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)


def prepare(
    recipe: Recipe,
    out_dir: str | Path | None = None,
    *,
    limit: int | None = None,
    strict: bool = False,
    num_proc: int | None = None,
    progress: bool = True,
    report: bool = True,
) -> dict[str, Any]:
    """Build the recipe's dataset; returns the manifest (also written to `manifest.json`).

    The dataset card (`README.md`) is always written, so `load_dataset(out_dir)` works;
    `report` adds report.html / report.md.
    """
    started = time.perf_counter()
    out = Path(out_dir or recipe.output.dir)
    out.mkdir(parents=True, exist_ok=True)
    infos = resolve(recipe, limit)
    procs = num_proc or recipe.num_proc or os.cpu_count() or 1
    if recipe.decontaminate is not None:
        from postmix.decontam import build

        process.DECONTAM = build(recipe.decontaminate)
        if recipe.decontaminate.method == "embedding":
            procs = 1  # a torch model must not cross fork(); the index lives in this process
    work = tempfile.mkdtemp(prefix=".postmix-", dir=out)
    try:
        tasks = _tasks(infos, work, limit)
        with _progress(progress, infos) as advance:

            def collect(res: Result) -> None:
                infos[res.source].results.append(res)
                advance(res.source, res.rows)

            _run_all(tasks, procs, collect)
        quarantine = [
            line
            for info in infos
            for r in sorted(info.results, key=lambda r: r.order)
            for line in r.quarantine
        ]
        if strict and quarantine:
            first = orjson.loads(quarantine[0])
            raise StrictError(
                f"{len(quarantine)} malformed row(s); first: {first['source']} {first['file']} "
                f"row {first['row']}: {first['error']}"
            )
        manifest = _finish(recipe, infos, out, work, quarantine)
        manifest["decontamination"] = _decontam_summary(recipe, manifest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        process.DECONTAM = None
    manifest["seconds"] = round(time.perf_counter() - started, 3)
    _write_json(out / "manifest.json", manifest)
    from postmix.report import write_card, write_report

    (write_report if report else write_card)(out, manifest)
    return manifest


def _finish(
    recipe: Recipe, infos: list[SourceInfo], out: Path, work: str, quarantine: list[bytes]
) -> dict[str, Any]:
    order = sorted(range(len(infos)), key=lambda i: (-recipe.datasets[i].priority, i))
    idx = _index(infos, order)
    idx.binary = recipe.output.schema_ == "tokenized"
    _trim_heap()
    first = first_occurrence(idx.keys) if recipe.dedup.exact_key else np.arange(len(idx.keys))
    exact = first != np.arange(len(first))
    near_of = _near_duplicates(recipe, infos, idx, exact)
    is_dup = exact | (near_of >= 0)
    first = np.where(near_of >= 0, near_of, first)
    stats = {i: _source_stats(info, recipe) for i, info in enumerate(infos)}
    for si in range(len(infos)):
        mine = idx.source == si
        stats[si]["duplicates"] = int((mine & is_dup).sum())
        stats[si]["near_duplicates"] = int((mine & (near_of >= 0)).sum())

    selection = _select(recipe, infos, idx, is_dup, stats)
    if recipe.dedup.near is not None and len(selection["validation"]):
        selection["train"] = _drop_leaks(recipe, infos, idx, selection, stats, Path(work))
    _trim_heap()
    reader = SpillReader(idx.spills)
    try:
        outputs, packing = _write_outputs(recipe, reader, idx, selection, out, Path(work))
    finally:
        reader.close()

    _write_side_files(out, infos, idx, is_dup, first, near_of, quarantine, Path(work))
    _write_examples(out, infos, idx, is_dup, first, near_of)
    sources_out = {infos[i].plan.name: stats[i] for i in range(len(infos))}
    for s in sources_out.values():
        s["kept"] = (
            s["read"]
            - s["invalid"]
            - sum(s["dropped"].values())
            - s["duplicates"]
            - s["contaminated"]
        )
    _token_stats(recipe, idx, is_dup, selection, stats)
    manifest = {
        "postmix": __version__,
        "recipe": recipe.model_dump(mode="json", by_alias=True),
        "sources": sources_out,
        "outputs": outputs,
        "totals": {
            "read": sum(s["read"] for s in sources_out.values()),
            "kept": sum(s["kept"] for s in sources_out.values()),
            **{name: len(sel) for name, sel in selection.items()},
        },
        "side_files": {
            "quarantine": "quarantine.jsonl",
            "removed": "removed.jsonl",
            "examples": "examples.jsonl",
        },
    }
    if packing:
        manifest["packing"] = packing
    tokenizer = _save_tokenizer(recipe, out)
    if tokenizer:
        manifest["tokenizer"] = tokenizer
    return manifest


def _write_outputs(
    recipe: Recipe,
    reader: SpillReader,
    idx: Index,
    selection: dict[str, np.ndarray],
    out: Path,
    work: Path,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each split in the output format, rows shuffled (seeded) unless `output.shuffle` is off.

    Returns the outputs and, for packed tokenized output, packing stats per split.
    """
    fmt = recipe.output.file_format
    prefix = f"{recipe.metadata.phase}_" if recipe.metadata.phase else ""
    chosen_of: dict[str, np.ndarray] = {}
    for name, chosen in selection.items():
        if name == "validation" and recipe.validation.ratio == 0:
            continue
        if recipe.output.shuffle:
            chosen = chosen[_rng(recipe.seed, "shuffle", name).permutation(len(chosen))]
        chosen_of[name] = chosen
    splits = {name: (lambda c=c: reader.lines(idx, c)) for name, c in chosen_of.items()}
    tokenized = recipe.output.schema_ == "tokenized"
    schema = files.arrow_schema(*splits.values()) if fmt == "parquet" and not tokenized else None
    outputs, paths, packing = [], {}, {}
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
            rows, sha = files.write_jsonl(path, chunks)
        paths[name] = path
        outputs.append({"path": path.name, "split": name, "rows": rows, "sha256": sha})
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


def _save_tokenizer(recipe: Recipe, out: Path) -> dict[str, Any] | None:
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


def _token_stats(
    recipe: Recipe,
    idx: Index,
    is_dup: np.ndarray,
    selection: dict[str, np.ndarray],
    stats: dict[int, dict[str, Any]],
) -> None:
    """Per source: tokens and trainable tokens kept and mixed, share of the budget, epochs."""
    if idx.ntok is None:
        return
    tokens = idx.ntok.sum(axis=1)
    chosen = np.concatenate(list(selection.values()))
    grand = float(idx.cost[chosen].sum()) or 1.0
    for si, s in stats.items():
        mine = (idx.source == si) & ~is_dup
        picked = chosen[idx.source[chosen] == si]
        unique = float(idx.cost[mine].sum())
        s["tokens"] = {
            "total": int(tokens[mine].sum()),
            "trainable": int(unique),
            "mixed_total": int(tokens[picked].sum()),
            "mixed_trainable": int(idx.cost[picked].sum()),
            "share": round(float(idx.cost[picked].sum()) / grand, 4),
            "epochs": round(float(idx.cost[picked].sum()) / unique, 4) if unique else 0.0,
        }


def _decontam_summary(recipe: Recipe, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """Per benchmark: items indexed and records removed (per-record item ids: removed.jsonl)."""
    index = process.DECONTAM
    if recipe.decontaminate is None or index is None:
        return None
    removed: Counter[str] = Counter()
    for s in manifest["sources"].values():
        removed.update(s["contamination"])
    return {
        "method": recipe.decontaminate.method,
        "benchmarks": {
            name: {"items": n, "removed": removed.get(name, 0)}
            for name, n in index.items_per_benchmark.items()
        },
        "unmatchable_items": index.unmatchable,
    }


def _near_duplicates(
    recipe: Recipe, infos: list[SourceInfo], idx: Index, exact: np.ndarray
) -> np.ndarray:
    """Near-duplicate resolution among records that survived exact dedup.

    Records are in priority order (source priority, recipe order, position), so
    a cluster keeps its first record. In one-sided mode (`against`), only
    records of the cleaned sources are removed, and only for repeating a
    record of a reference source.
    """
    near_of = np.full(len(exact), -1, dtype=np.int64)
    cfg = recipe.dedup.near
    if cfg is None or idx.bands is None:
        return near_of
    live = np.flatnonzero(~exact)
    sigs = near.SignatureStore(idx.sigs, cfg.num_perm, order=live)
    keys, rank = idx.bands[live], np.arange(len(live))
    if cfg.against:
        names = [info.plan.name for info in infos]
        src = idx.source[live]
        reference = np.isin(src, [names.index(n) for n in cfg.against])
        cleaned = cfg.sources or [n for n in names if n not in cfg.against]
        target = np.isin(src, [names.index(n) for n in cleaned])
        dup = near.resolve_against(
            keys, rank, sigs, cfg.threshold, reference=reference, target=target
        )
    else:
        dup = near.resolve(keys, rank, sigs, cfg.threshold)
    hit = dup >= 0
    near_of[live[hit]] = live[dup[hit]]
    return near_of


def _drop_leaks(
    recipe: Recipe,
    infos: list[SourceInfo],
    idx: Index,
    selection: dict[str, np.ndarray],
    stats: dict[int, dict[str, Any]],
    work: Path,
) -> np.ndarray:
    """Train records that near-duplicate a validation record leave train, with a reason.

    Exact copies cannot cross the split (it is drawn from unique records), but a
    paraphrase can: each one found is dropped from train (every repeat of it)
    and counted as `dropped:validation_leak`.
    """
    cfg = recipe.dedup.near
    assert cfg is not None and idx.bands is not None
    train, val = selection["train"], selection["validation"]
    sigs = near.SignatureStore(idx.sigs, cfg.num_perm)
    hit, of = near.leaks(idx.bands, sigs, np.unique(train), val, cfg.threshold)
    if not len(hit):
        return train
    with open(work / "leaks.removed", "wb") as fh:
        for g, v in zip(hit.tolist(), of.tolist()):
            si = int(idx.source[g])
            stats[si]["dropped"]["validation_leak"] = (
                stats[si]["dropped"].get("validation_leak", 0) + 1
            )
            entry = {
                "source": infos[si].plan.name,
                "file": idx.labels[int(idx.label[g])],
                "row": int(idx.row[g]),
                "id": _uuid(idx.ids[g]),
                "reason": "validation_leak",
                "of": _uuid(idx.ids[v]),
                "of_source": infos[int(idx.source[v])].plan.name,
            }
            fh.write(orjson.dumps(entry) + b"\n")
    keep = ~np.isin(train, hit)
    for si in range(len(infos)):
        mix_stats = stats[si].get("mix")
        if mix_stats:
            lost = int((~keep & (idx.source[train] == si)).sum())
            mix_stats["train"] -= lost
            mix_stats["achieved"] -= lost
    return train[keep]


def _source_stats(info: SourceInfo, recipe: Recipe) -> dict[str, Any]:
    dropped: Counter[str] = Counter()
    contaminated: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    langs: Counter[str] = Counter()
    for r in info.results:
        dropped.update(r.dropped)
        contaminated.update(r.contaminated)
        categories.update(r.categories)
        langs.update(r.langs)
    pairs = np.concatenate([r.chosen_longer for r in info.results]) if info.results else np.empty(0)
    pairs = pairs[pairs >= 0]
    chars = np.concatenate([r.chars for r in info.results]) if info.results else np.empty(0)
    out: dict[str, Any] = {
        "converter": info.plan.converter,
        "converter_chosen_by": info.chosen_by,
        "kind": info.plan.kind,
        "rows": sum(r.rows for r in info.results),
        "read": sum(r.read for r in info.results),
        "kept": 0,
        "dropped": dict(sorted(dropped.items())),
        "duplicates": 0,
        "contaminated": sum(contaminated.values()),
        "contamination": dict(sorted(contaminated.items())),
        "invalid": sum(r.invalid for r in info.results),
        "chars": _summary(chars),
        "categories": dict(categories.most_common(50)),
        "languages": dict(langs.most_common(50)),
    }
    if len(pairs):
        out["length_bias"] = {
            "pairs": len(pairs),
            "chosen_longer_share": round(float(pairs.mean()), 4),
        }
    return out


def _summary(values: np.ndarray) -> dict[str, float]:
    if not len(values):
        return {}
    q = np.percentile(values, [50, 90, 99])
    return {
        "mean": round(float(values.mean()), 1),
        "p50": float(q[0]),
        "p90": float(q[1]),
        "p99": float(q[2]),
        "max": int(values.max()),
    }


def _select(
    recipe: Recipe,
    infos: list[SourceInfo],
    idx: Index,
    is_dup: np.ndarray,
    stats: dict[int, dict[str, Any]],
) -> dict[str, np.ndarray]:
    """Global record indices of train and validation, per the mix and split rules."""
    n_src = len(infos)
    unique = [np.flatnonzero((idx.source == i) & ~is_dup) for i in range(n_src)]
    token_mode = recipe.metadata.total_tokens is not None
    # Budgets count trainable tokens in token mode, records otherwise.
    cost = idx.cost if token_mode else np.ones(len(idx.cost), dtype=np.int64)
    available = [float(cost[u].sum()) for u in unique]
    caps = [d.max_samples for d in recipe.datasets]
    if not token_mode:
        available = [min(a, c) if c else a for a, c in zip(available, caps)]
    budgets = mix.targets(
        available, [d.mix_ratio for d in recipe.datasets], recipe.metadata.total_tokens
    )
    if not token_mode:
        budgets = [min(b, c) if c else b for b, c in zip(budgets, caps)]

    seed, ratio = recipe.seed, recipe.validation.ratio
    picked = []
    for i in range(n_src):
        have = cost[unique[i]]
        sub = mix.select(
            have, min(budgets[i], float(have.sum())), _rng(seed, "unique", infos[i].plan.name)
        )
        picked.append(np.sort(unique[i][sub]))
    if recipe.validation.stratified:
        held = [
            split.holdout(p, ratio, _rng(recipe.validation_seed, "validation", infos[i].plan.name))
            for i, p in enumerate(picked)
        ]
    else:
        allp = np.concatenate(picked) if picked else np.empty(0, dtype=np.int64)
        val_all, _ = split.holdout(allp, ratio, _rng(recipe.validation_seed, "validation"))
        held = [(np.intersect1d(val_all, p), np.setdiff1d(p, val_all)) for p in picked]

    train_parts, val_parts = [], []
    for i, (val, pool) in enumerate(held):
        # When upsampling, `picked` is every unique record, so `pool` is all that is not held out.
        budget = budgets[i] - float(cost[val].sum())
        train = pool[mix.select(cost[pool], budget, _rng(seed, "train", infos[i].plan.name))]
        if token_mode and caps[i]:
            train = mix.cap(train, max(caps[i] - len(val), 0))
        train_parts.append(train)
        val_parts.append(val)
        achieved = len(train) + len(val)
        stats[i]["mix"] = {
            "ratio": recipe.datasets[i].mix_ratio,
            "target": round(budgets[i]) if not token_mode else None,
            "achieved": achieved,
            "unique": len(picked[i]),
            "train": len(train),
            "validation": len(val),
            "upsampling": round(achieved / len(picked[i]), 4) if len(picked[i]) else 0.0,
        }
        if token_mode:
            stats[i]["mix"]["target_tokens"] = round(budgets[i])
            stats[i]["mix"]["achieved_tokens"] = int(cost[train].sum() + cost[val].sum())
    cat = lambda parts: np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)  # noqa: E731
    return {"train": cat(train_parts), "validation": cat(val_parts)}


def _write_side_files(
    out: Path,
    infos: list[SourceInfo],
    idx: Index,
    is_dup: np.ndarray,
    first: np.ndarray,
    near_of: np.ndarray,
    quarantine: list[bytes],
    work: Path,
) -> None:
    """quarantine.jsonl (malformed rows) and removed.jsonl (every record that left)."""
    with files.atomic_path(out / "quarantine.jsonl") as tmp, open(tmp, "wb") as fh:
        fh.writelines(quarantine)
    with files.atomic_path(out / "removed.jsonl") as tmp, open(tmp, "wb", buffering=1 << 20) as fh:
        for info in infos:
            for res in sorted(info.results, key=lambda r: r.order):
                with open(res.removed, "rb") as src:
                    shutil.copyfileobj(src, fh)
        names = [info.plan.name for info in infos]
        for g in np.flatnonzero(is_dup).tolist():
            entry = {
                "source": names[int(idx.source[g])],
                "file": idx.labels[int(idx.label[g])],
                "row": int(idx.row[g]),
                "id": _uuid(idx.ids[g]),
                "reason": "near_duplicate" if near_of[g] >= 0 else "duplicate",
                "of": _uuid(idx.ids[first[g]]),
                "of_source": names[int(idx.source[first[g]])],
            }
            fh.write(orjson.dumps(entry) + b"\n")
        leaks = work / "leaks.removed"
        if leaks.exists():
            fh.write(leaks.read_bytes())


def _write_examples(
    out: Path,
    infos: list[SourceInfo],
    idx: Index,
    is_dup: np.ndarray,
    first: np.ndarray,
    near_of: np.ndarray,
) -> None:
    """examples.jsonl: a few kept, dropped and duplicate records per source, for the report."""
    reader = SpillReader(idx.spills)
    lines: list[bytes] = []
    try:
        for si, info in enumerate(infos):
            name = info.plan.name
            mine = idx.source == si
            for g in np.flatnonzero(mine & ~is_dup)[:EXAMPLES].tolist():
                lines.append(example_line(name, "kept", _row(reader, idx, g)))
            for r in sorted(info.results, key=lambda r: r.order):
                lines.extend(r.examples)
            for kind, mask in (("duplicate", near_of < 0), ("near_duplicate", near_of >= 0)):
                for g in np.flatnonzero(mine & is_dup & mask)[:EXAMPLES].tolist():
                    of = _row(reader, idx, int(first[g]))
                    lines.append(example_line(name, kind, _row(reader, idx, g), of=of))
    finally:
        reader.close()
    with files.atomic_path(out / "examples.jsonl") as tmp:
        tmp.write_bytes(b"".join(lines))


def _row(reader: SpillReader, idx: Index, g: int) -> Any:
    line = next(reader.lines(idx, np.asarray([g])))[0]
    return tokenized_out.as_row(line) if idx.binary else orjson.loads(line)


def _uuid(raw: np.ndarray) -> str:
    return uuid_str(raw.tobytes())


def _write_json(path: Path, data: Any) -> None:
    with files.atomic_path(path) as tmp:
        tmp.write_bytes(
            orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        )


class _progress:
    """Rich progress bars per source (rows read); silent when disabled or not a terminal."""

    def __init__(self, enabled: bool, infos: list[SourceInfo]) -> None:
        self.enabled = enabled
        self.infos = infos

    def __enter__(self) -> Callable[[int, int], None]:
        if not self.enabled:
            return lambda source, rows: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("shards"),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            transient=False,
        )
        self.bar.__enter__()
        self.ids = [
            self.bar.add_task(info.plan.name, total=1 if info.whole else len(info.shards), rows=0)
            for info in self.infos
        ]
        self.rows = [0] * len(self.infos)

        def advance(source: int, rows: int) -> None:
            self.rows[source] += rows
            self.bar.update(self.ids[source], advance=1, rows=self.rows[source])

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)
