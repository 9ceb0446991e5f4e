"""Stage one of `prepare`, run per shard in worker processes.

read → convert → transform → filter → serialize. A worker writes surviving
records (already in the output schema) to a spill file and returns compact
per-record arrays (dedup key, id, row, spill offset, cost): everything after
this stage — dedup, mix, split, write — works on those arrays, never on
records, so memory does not grow with the data.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import xxhash

from postmix import filters, formats, sources, templates, transforms
from postmix.decontam import Index
from postmix.dedup.near import NearConfig, sketch
from postmix.formats.base import ConvertContext
from postmix.recipe import StepList
from postmix.schema import (
    InvalidRow,
    Skip,
    all_text,
    dedup_bytes,
    prompt_text,
    record_id_bytes,
    response_texts,
    text_length,
    uuid_str,
)
from postmix.steps import Batch, StepEnv, count_tokens
from postmix.tokenize import tokenize_batch
from postmix.writers import tokenized
from postmix.writers.schemas import SCHEMAS

BATCH = 1000
EXAMPLES = 3  # records kept per source and bucket in examples.jsonl, for the report


def example_line(source: str, bucket: str, rec: Any, **extra: Any) -> bytes:
    """One line of examples.jsonl: a record shown in the report under its bucket."""
    return orjson.dumps({"source": source, "bucket": bucket, "record": rec, **extra}) + b"\n"


@dataclass(frozen=True)
class SourcePlan:
    """Everything a worker needs to process one source; picklable."""

    index: int
    name: str
    converter: str
    kind: str
    options: dict[str, Any]
    filters: list[Any]
    transforms: list[Any]
    dedup_key: str | None
    schema: str
    seed: int
    tokenizer: str | None
    count_tokens: bool
    near: NearConfig | None = None
    tokenize: TokenizeSpec | None = None


@dataclass(frozen=True)
class TokenizeSpec:
    """How stage one renders and tokenizes records (templates, labels, length policy)."""

    formats: tuple[str, ...]
    special_tokens: str
    train_on: str
    max_length: int | None
    over_length: str
    write: bool  # the output holds token ids (else tokens only measure budgets)


@dataclass(frozen=True)
class Task:
    plan: SourcePlan
    shards: tuple[sources.Shard, ...]
    order: int  # position of this task among the source's tasks
    spill_dir: str
    limit: int | None = None


@dataclass
class Result:
    """What a worker hands back: counts, compact arrays and the paths of its side files."""

    source: int
    order: int
    labels: list[str]
    rows: int = 0
    read: int = 0
    invalid: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    keys: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    ids: np.ndarray = field(default_factory=lambda: np.empty((0, 16), np.uint8))
    row: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    shard: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    offset: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    length: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    cost: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    chars: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    chosen_longer: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))
    bands: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.uint64))
    ntok: list[list[int]] = field(default_factory=list)  # tokens per variant, when tokenizing
    contaminated: Counter[str] = field(default_factory=Counter)
    spill: str = ""
    removed: str = ""
    sigs: str = ""
    quarantine: list[bytes] = field(default_factory=list)
    categories: Counter[str] = field(default_factory=Counter)
    langs: Counter[str] = field(default_factory=Counter)
    examples: list[bytes] = field(default_factory=list)  # a few dropped records per bucket

    def release(self) -> None:
        """Drop the per-record arrays once the main process has copied them into its index."""
        empty = np.empty(0, np.int64)
        self.keys = self.row = self.shard = self.offset = self.length = self.cost = empty
        self.ids = np.empty((0, 16), np.uint8)
        self.bands = np.empty((0, 0), np.uint64)
        self.ntok = []


def prompt_key(rec: dict[str, Any], mode: str) -> int:
    """The exact-dedup key: a 64-bit hash of the normalized prompt (or whole record).

    xxh3 rather than the uuid5's sha1: the key never leaves the run, and at 64 bits
    the chance of one collision among 100M records is ~3e-4 (sha1 cost 10x more).
    """
    text = prompt_text(rec) if mode == "prompt" else all_text(rec)
    return xxhash.xxh3_64_intdigest(dedup_bytes(text))


@dataclass
class Steps:
    """A source's built steps, cached per worker process."""

    converter: formats.Converter
    ctx: ConvertContext
    transforms: list[Any]
    filters: list[tuple[str, bool, Any]]  # (label, bucket_by_detail, fn)
    env: StepEnv
    renderers: list[Any] = field(default_factory=list)  # one per format, when tokenizing


_STEPS: dict[str, Steps] = {}


def build_steps(plan: SourcePlan) -> Steps:
    """Steps are built once per process and plan (tokenizers and language models load once)."""
    key = repr(plan)
    if key in _STEPS:
        return _STEPS[key]
    conv = formats.get(plan.converter)
    env = StepEnv(seed=plan.seed, tokenizer_spec=plan.tokenizer)
    typed = StepList.model_validate({"filters": plan.filters, "transforms": plan.transforms})
    configs = list(typed.filters)
    if not any(c.type == "structure" for c in configs):
        configs.insert(0, filters.module("structure").Config())
    built = Steps(
        converter=conv,
        ctx=ConvertContext(
            kind=plan.kind,
            options=conv.options.model_validate(plan.options, context={"kind": plan.kind}),
            seed=plan.seed,
            source=plan.name,
        ),
        transforms=[transforms.module(t.type).build(t, env) for t in typed.transforms],
        filters=[
            (c.label, c.bucket_by_detail, filters.module(c.type).build(c, env)) for c in configs
        ],
        env=env,
    )
    if plan.tokenize is not None:
        built.renderers = [
            templates.bind(env.tokenizer, name, plan.tokenize.special_tokens)  # type: ignore[arg-type]
            for name in plan.tokenize.formats
        ]
    _STEPS[key] = built
    return built


SHARD_BITS = 40  # positions handed to converters: shard number << 40 | row within the file


def split_pos(pos: int) -> tuple[int, int]:
    """(shard number within the task, row within its file) of a converter position."""
    return pos >> SHARD_BITS, pos & ((1 << SHARD_BITS) - 1)


def _rows(task: Task, res: Result) -> Iterator[tuple[int, Any]]:
    """Rows of every shard of the task; unparseable ones are quarantined here."""
    seen = 0
    for number, shard in enumerate(task.shards):
        for row, value in sources.read(shard):
            if task.limit is not None and seen >= task.limit:
                return
            seen += 1
            res.rows += 1
            pos = (number << SHARD_BITS) | row
            if isinstance(value, InvalidRow):
                res.read += 1
                res.invalid += 1
                res.quarantine.append(_quarantine_line(task.plan, res, pos, value))
                continue
            yield pos, value


def run(task: Task) -> Result:
    """Process one task (one shard, or a whole source when it must be seen at once)."""
    plan = task.plan
    steps = build_steps(plan)
    res = Result(source=plan.index, order=task.order, labels=[s.label for s in task.shards])
    os.makedirs(task.spill_dir, exist_ok=True)
    stem = os.path.join(task.spill_dir, f"{plan.index:04d}-{task.order:05d}")
    res.spill, res.removed, res.sigs = stem + ".spill", stem + ".removed", stem + ".sigs"
    bands: list[np.ndarray] = []
    to_row = SCHEMAS.get(plan.schema)
    dumps = orjson.dumps
    cols: dict[str, list[Any]] = {
        k: [] for k in ("keys", "ids", "row", "shard", "length", "cost", "chars", "cl")
    }

    with (
        open(res.spill, "wb") as spill,
        open(res.removed, "wb") as removed,
        open(res.sigs, "wb") as sigs,
    ):
        batch: Batch = []
        positions: list[tuple[int, int]] = []

        def flush() -> None:
            kept, where = _apply_steps(steps, batch, positions, res, removed, plan)
            kept, where = _decontaminate(kept, where, res, removed, plan)
            variants: list[list[Any]] = []
            if plan.tokenize is not None:
                kept, where, variants = _tokenize(steps, kept, where, res, removed, plan)
            if not kept:
                return
            if plan.near is not None:
                sk = sketch(kept, plan.near)
                sigs.write(sk.signatures.tobytes())
                bands.append(sk.keys)
            if variants:
                costs = [sum(v.n_trainable for v in vs) for vs in variants]
                res.ntok.extend([v.n_tokens for v in vs] for vs in variants)
            else:
                costs = _costs(steps.env, kept) if plan.count_tokens else None
            if plan.tokenize is not None and plan.tokenize.write:
                lines = [tokenized.encode(r, v) for r, v in zip(kept, variants)]
            else:
                lines = [dumps(to_row(r), option=orjson.OPT_APPEND_NEWLINE) for r in kept]
            spill.write(b"".join(lines))
            n = len(kept)
            cols["length"].extend(map(len, lines))
            key = plan.dedup_key
            cols["keys"].extend([prompt_key(r, key) for r in kept] if key else [0] * n)
            cols["ids"].extend(w[2] for w in where)
            cols["row"].extend(w[0] for w in where)
            cols["shard"].extend(w[1] for w in where)
            cols["cost"].extend(costs or [1] * n)
            cols["chars"].extend(map(text_length, kept))
            cols["cl"].extend(map(_chosen_longer, kept))
            metas = [r["meta"] for r in kept]
            res.categories.update(c for m in metas if isinstance(c := m.get("category"), str))
            res.langs.update(lang for m in metas if isinstance(lang := m.get("lang"), str))

        for pos, outcome in steps.converter.stream(_rows(task, res), steps.ctx):
            res.read += 1
            if isinstance(outcome, InvalidRow):
                res.invalid += 1
                res.quarantine.append(_quarantine_line(plan, res, pos, outcome))
                continue
            if isinstance(outcome, Skip):
                res.dropped[outcome.reason] += 1
                shard, row = split_pos(pos)
                removed.write(
                    _removed_line(
                        plan, res.labels[shard], row, None, outcome.reason, outcome.detail
                    )
                )
                continue
            batch.append(outcome)
            positions.append(split_pos(pos)[::-1])
            if len(batch) >= BATCH:
                flush()
                batch, positions = [], []
        if batch:
            flush()

    lengths = np.asarray(cols["length"], dtype=np.int64)
    res.keys = np.asarray(cols["keys"], dtype=np.uint64)
    res.ids = np.frombuffer(b"".join(cols["ids"]), dtype=np.uint8).reshape(-1, 16).copy()
    res.row = np.asarray(cols["row"], dtype=np.int64)  # rows past 2**31 exist in big files
    res.shard = np.asarray(cols["shard"], dtype=np.int32)
    res.length = lengths.astype(np.int32)
    res.offset = (
        np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(lengths) else lengths
    )
    res.cost = np.asarray(cols["cost"], dtype=np.int32)
    res.chars = np.asarray(cols["chars"], dtype=np.int32)
    res.chosen_longer = np.asarray(cols["cl"], dtype=np.int8)
    if plan.near is not None:
        width = plan.near.bands[0]
        res.bands = np.concatenate(bands) if bands else np.empty((0, width), np.uint64)
    return res


def _apply_steps(
    steps: Steps,
    batch: Batch,
    positions: list[tuple[int, int]],
    res: Result,
    removed: Any,
    plan: SourcePlan,
) -> tuple[Batch, list[tuple[int, int, bytes]]]:
    """Source/row (seeds of transforms), transforms, id, then each filter in order; drops go to
    `removed`."""
    for rec, (pos, _) in zip(batch, positions):
        rec["source"] = plan.name
        rec["meta"]["row"] = pos
    for transform in steps.transforms:
        batch = transform(batch)
    positions = [(row, shard, record_id_bytes(rec)) for rec, (row, shard) in zip(batch, positions)]
    for rec, where in zip(batch, positions):
        rec["id"] = uuid_str(where[2])
    for label, by_detail, fn in steps.filters:
        if not batch:
            break
        verdicts = fn(batch)
        kept, kept_pos = [], []
        for rec, where, why in zip(batch, positions, verdicts):
            if why is None:
                kept.append(rec)
                kept_pos.append(where)
                continue
            bucket = f"{label}:{why}" if by_detail else label
            res.dropped[bucket] += 1
            if res.dropped[bucket] <= EXAMPLES:
                res.examples.append(example_line(plan.name, f"dropped:{bucket}", rec, detail=why))
            removed.write(
                _removed_line(plan, res.labels[where[1]], where[0], rec["id"], bucket, why)
            )
        batch, positions = kept, kept_pos
    return batch, positions


# The decontamination index of the run: built once in the main process before the
# workers fork, so every worker shares it (see pipeline.prepare).
DECONTAM: Index | None = None


def _decontaminate(
    batch: Batch, where: list[tuple[int, int, bytes]], res: Result, removed: Any, plan: SourcePlan
) -> tuple[Batch, list[tuple[int, int, bytes]]]:
    """Drop records that hold a benchmark item, naming the item (`contaminated:<benchmark>`)."""
    if DECONTAM is None or not batch:
        return batch, where
    kept, kept_where = [], []
    for rec, at, match in zip(batch, where, DECONTAM.check(batch)):
        if match is None:
            kept.append(rec)
            kept_where.append(at)
            continue
        bucket = f"contaminated:{match.benchmark}"
        res.contaminated[match.benchmark] += 1
        detail = f"{match.benchmark} item {match.item_id} (score {match.score:.2f})"
        removed.write(_removed_line(plan, res.labels[at[1]], at[0], rec["id"], bucket, detail))
        if res.contaminated[match.benchmark] <= EXAMPLES:
            item = {"benchmark": match.benchmark, "item_id": match.item_id}
            item["text"] = DECONTAM.text(match.benchmark, match.item_id)
            res.examples.append(example_line(plan.name, bucket, rec, detail=detail, match=item))
    return kept, kept_where


def _tokenize(
    steps: Steps,
    batch: Batch,
    where: list[tuple[int, int, bytes]],
    res: Result,
    removed: Any,
    plan: SourcePlan,
) -> tuple[Batch, list[tuple[int, int, bytes]], list[list[Any]]]:
    """Render and tokenize in every format; a record any format drops is dropped with its reason."""
    spec = plan.tokenize
    assert spec is not None
    results = [
        tokenize_batch(
            batch,
            steps.env.tokenizer,
            renderer,
            train_on=spec.train_on,  # type: ignore[arg-type]
            max_length=spec.max_length,
            over_length=spec.over_length,  # type: ignore[arg-type]
        )
        for renderer in steps.renderers
    ]
    kept, kept_where, variants = [], [], []
    for i, (rec, at) in enumerate(zip(batch, where)):
        per_format = [r[i] for r in results]
        reason = next((r for r in per_format if isinstance(r, str)), None)
        if reason is None:
            kept.append(rec)
            kept_where.append(at)
            variants.append(per_format)
            continue
        res.dropped[reason] += 1
        removed.write(_removed_line(plan, res.labels[at[1]], at[0], rec["id"], reason, ""))
        if res.dropped[reason] <= EXAMPLES:
            res.examples.append(example_line(plan.name, f"dropped:{reason}", rec, detail=reason))
    return kept, kept_where, variants


def _costs(env: StepEnv, batch: Batch) -> list[int]:
    """Tokens a record trains on (its replies, or the whole text), for token budgets."""
    texts = [
        rec["text"] if rec["kind"] == "text" else "\n".join(response_texts(rec)) for rec in batch
    ]
    return count_tokens(env, texts)


def _chosen_longer(rec: dict[str, Any]) -> int:
    if rec["kind"] != "preference":
        return -1
    chosen = sum(len(m["content"]) for m in rec["chosen"])
    rejected = sum(len(m["content"]) for m in rec["rejected"])
    return int(chosen > rejected)


def _removed_line(
    plan: SourcePlan, label: str, row: int, rid: str | None, reason: str, detail: str
) -> bytes:
    """One line of `removed.jsonl`: where a record came from and why it left."""
    entry = {"source": plan.name, "file": label, "row": row, "id": rid, "reason": reason}
    if detail:
        entry["detail"] = detail
    return orjson.dumps(entry) + b"\n"


def _quarantine_line(plan: SourcePlan, res: Result, pos: int, exc: InvalidRow) -> bytes:
    raw = getattr(exc, "raw", None)
    shard, row = split_pos(pos)
    entry = {
        "source": plan.name,
        "file": res.labels[shard],
        "row": row,
        "error": str(exc),
        "raw": raw if isinstance(raw, str) else None,
    }
    return orjson.dumps(entry) + b"\n"
