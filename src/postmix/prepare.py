"""`prepare`: the thin driver. Plan → shard work on an executor → global decisions → outputs.

Shard work (engine/shard.py) runs wherever the executor puts it and leaves
spill files plus compact arrays; the driver joins the arrays (engine/index.py),
decides duplicates, the mix, the split and leaks on them (engine/select.py),
writes the outputs by reading spill lines back (engine/outputs.py) and the
manifest, whose accounting identity is checked (engine/manifest.py). Records
never sit in memory all at once, so peak memory stays flat as inputs grow.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from postmix import executors
from postmix.engine import chain, fingerprint, manifest, outputs, plan, select, shard
from postmix.engine import index as index_mod
from postmix.engine.contracts import ShardResult
from postmix.engine.progress import Progress
from postmix.engine.workdir import work_dir
from postmix.executors import Executor
from postmix.recipe import Recipe
from postmix.recipe.checks import planned_outputs
from postmix.steps import Resources
from postmix.writers.commit import OutputCommit, tidy
from postmix.writers.glue import write_glue
from postmix.writers.overlap import check_sources_outside
from postmix.writers.verify import VerifyError, verify

log = logging.getLogger("postmix.prepare")


class StrictError(RuntimeError):
    """`--strict` and some rows were malformed."""


def prepare(
    recipe: Recipe,
    out_dir: str | Path | None = None,
    *,
    limit: int | None = None,
    strict: bool = False,
    num_proc: int | None = None,
    executor: str | Executor | None = None,
    ray_address: str | None = None,
    spill_dir: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    report: bool = True,
) -> dict[str, Any]:
    """Build the recipe's dataset; returns the manifest (also written to `manifest.json`).

    An output dir whose manifest has this run's fingerprint is reused unless
    `force`. The dataset card (`README.md`) is always written, so
    `load_dataset(out_dir)` works; `report` adds report.html / report.md.
    """
    started = time.perf_counter()
    out = Path(out_dir or recipe.output.dir)
    check_sources_outside(
        out, [(d.name, d.source) for d in recipe.datasets], planned_outputs(recipe)
    )
    infos = plan.resolve(recipe, limit, strict)
    unpinned = fingerprint.unpinned(infos)
    if unpinned:
        log.info("output not reusable: hub sources without a pinned revision: %s", unpinned)
    pinned = not unpinned
    print_ = fingerprint.fingerprint(recipe, infos, limit)
    if not force and pinned and (previous := _reusable(out, print_)) is not None:
        log.warning("%s already holds this recipe's output (same fingerprint): reused", out)
        tidy(out)
        previous["reused"] = True
        return previous
    if recipe.decontaminate is not None:
        chain.decontam_index(recipe.decontaminate)  # an unreachable benchmark fails here, early
    run = _executor(recipe, executor, num_proc, ray_address)
    with OutputCommit(out) as stage:
        with work_dir(Path(spill_dir) if spill_dir else stage.dir) as work:
            tasks = plan.tasks(infos, str(work), limit)
            resources = _resources(infos)
            results: list[list[ShardResult]] = [[] for _ in infos]
            with Progress(progress, infos) as bar:
                for res in run.map(shard.run, tasks, resources):
                    index_mod.compact(res)
                    results[res.source].append(res)
                    bar.advance(res.source, res.tally.rows)
                for per_source in results:
                    per_source.sort(key=lambda r: r.order)
                _check_strict(strict, results)
                doc = _finish(recipe, infos, results, stage.dir, work, print_, bar.phase)
            for warning in doc["warnings"]:
                log.warning(warning)
            if strict and doc["warnings"]:
                raise StrictError(f"--strict: {doc['warnings'][0]}")
        doc["seconds"] = round(time.perf_counter() - started, 3)
        outputs.write_json(stage.dir / "manifest.json", doc)
        from postmix.report import write_card, write_report

        write_glue(stage.dir, doc, target=stage.target)
        (write_report if report else write_card)(stage.dir, doc, target=stage.target)
        stage.commit()
    return doc


def _executor(
    recipe: Recipe, executor: str | Executor | None, num_proc: int | None, address: str | None
) -> Executor:
    if executor is not None and not isinstance(executor, str):
        return executor
    procs = num_proc or recipe.num_proc or os.cpu_count() or 1
    return executors.get(executor or recipe.executor, num_proc=procs, ray_address=address)


def _resources(infos: list[plan.SourceInfo]) -> Resources:
    """What the heaviest source's chain needs (the executor sizes every task by it)."""
    return reduce(
        Resources.__or__, (chain.build(info.plan).resources for info in infos), Resources()
    )


def _reusable(out: Path, print_: str) -> dict[str, Any] | None:
    """The manifest of `out` when it was built from the same fingerprint and its files
    still match it (sizes; sha256s are checked by the trainers that read them)."""
    path = out / "manifest.json"
    if not path.is_file():
        return None
    try:
        doc = orjson.loads(path.read_bytes())
        if doc.get("fingerprint") != print_:
            return None
        verify(out, hashes=False)
    except (orjson.JSONDecodeError, VerifyError):
        return None
    return doc


def _check_strict(strict: bool, results: list[list[ShardResult]]) -> None:
    if not strict:
        return
    lines = [line for per_source in results for r in per_source for line in r.quarantine]
    if lines:
        first = orjson.loads(lines[0])
        raise StrictError(
            f"{len(lines)} malformed row(s); first: {first['source']} {first['file']} "
            f"row {first['row']}: {first['error']}"
        )


def _finish(
    recipe: Recipe,
    infos: list[plan.SourceInfo],
    results: list[list[ShardResult]],
    out: Path,
    work: Path,
    print_: str,
    phase: Callable[[str], None],
) -> dict[str, Any]:
    names = [info.plan.name for info in infos]
    order = sorted(range(len(infos)), key=lambda i: (-recipe.datasets[i].priority, i))
    idx = index_mod.build(results, order)
    idx.binary = recipe.output.schema_ == "tokenized"
    index_mod.trim_heap()
    near_cfg = recipe.dedup.near
    exact = recipe.dedup.exact_mode is not None
    phase("dedup")
    dups = select.duplicates(idx, exact, near_cfg, names, recipe.dedup.judgments)
    idx.drop_keys()
    sel = select.select(_mix_spec(recipe, names), idx.source, idx.cost, dups.removed)
    leak_hit = leak_of = np.empty(0, dtype=np.int64)
    if near_cfg is not None and idx.bands is not None and len(sel.validation):
        leak_hit, leak_of = select.leaks(idx, sel, near_cfg)
        sel = select.without_leaks(sel, idx.source, leak_hit)
    index_mod.trim_heap()
    phase("write splits")
    written, packing = outputs.write_splits(recipe, idx, sel, out, work)
    index_mod.trim_heap()  # the gather's chunk buffers: ~20 MiB at 1M rows
    phase("side files")
    outputs.write_side_files(
        out, results, outputs.stage_two_lines(idx, names, dups, leak_hit, leak_of)
    )
    outputs.write_examples(out, results, idx, names, dups)
    sources: dict[str, dict[str, Any]] = {}
    for si, info in enumerate(infos):
        entry = manifest.source_stats(info, results[si], si, idx, dups, leak_hit)
        entry["mix"] = sel.mix[si]
        tokens = manifest.token_stats(idx, si, dups.removed, sel)
        if tokens is not None:
            entry["tokens"] = tokens
        sources[info.plan.name] = entry
    for name, pairs in manifest.pair_stats(idx, dups, leak_hit, sources).items():
        sources[name]["pairs"] = pairs
        if pairs["pairs"]:
            share = round(pairs["chosen_longer_share"], 4)
            sources[name]["length_bias"] = {"pairs": pairs["pairs"], "chosen_longer_share": share}
    kinds = [info.plan.kind for info in infos]
    doc = manifest.assemble(recipe, kinds, sources, written, sel, print_)
    if packing:
        doc["packing"] = packing
    tokenizer = outputs.save_tokenizer(recipe, out)
    if tokenizer:
        doc["tokenizer"] = {**tokenizer, "round_trip": manifest.round_trip(sources)}
    doc["warnings"] = manifest.warnings(sources)
    doc["decontamination"] = manifest.decontam_summary(recipe, sources)
    return doc


def _mix_spec(recipe: Recipe, names: list[str]) -> select.MixSpec:
    return select.MixSpec(
        names=names,
        ratios=[d.mix_ratio for d in recipe.datasets],
        caps=[d.max_samples for d in recipe.datasets],
        total_tokens=recipe.metadata.total_tokens,
        seed=recipe.seed,
        validation_ratio=recipe.validation.ratio,
        validation_seed=recipe.validation_seed,
        stratified=recipe.validation.stratified,
    )
