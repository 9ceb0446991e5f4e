"""A source's chain of steps after conversion, and the loop that runs it over a batch.

transform* → identify → filter* → decontaminate → tokenize. Each is a `Step`
(postmix.steps): one verdict per record plus per-record columns. `run_chain`
is the only place verdicts turn into removals, and it hands each to the
ledger, so no step counts anything itself. A step that answers for fewer or
more records than it was given fails the run (`LedgerError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from postmix import filters, formats, templates, transforms
from postmix.decontam import DecontamConfig
from postmix.engine.contracts import SourcePlan, TokenizeSpec
from postmix.engine.ledger import Ledger, LedgerError
from postmix.formats.base import ConvertContext
from postmix.formats.reasoning import unwritable
from postmix.recipe import StepList
from postmix.schema import record_id_bytes, uuid_str
from postmix.steps import (
    LIGHT,
    Batch,
    Drop,
    FilterFn,
    Resources,
    Step,
    StepEnv,
    StepOutput,
    TransformFn,
)
from postmix.tokenize import tokenize_batch
from postmix.writers.schemas import schema_can_hold

Where = tuple[int, int]  # (shard number within the task, row within its file)


@dataclass
class TransformStep:
    """A transform rewrites records and never drops them."""

    name: str
    fn: TransformFn
    resources: Resources = LIGHT

    def __call__(self, batch: Batch) -> StepOutput:
        return StepOutput([None] * len(batch), batch=self.fn(batch))


@dataclass
class IdentifyStep:
    """Gives each record its id: uuid5 of its canonical content (after transforms)."""

    name: str = "identify"
    resources: Resources = LIGHT

    def __call__(self, batch: Batch) -> StepOutput:
        for rec in batch:
            rec["id"] = uuid_str(record_id_bytes(rec))
        return StepOutput([None] * len(batch))


@dataclass
class FilterStep:
    """A filter's detail becomes the drop bucket's suffix when the filter buckets by detail."""

    name: str
    fn: FilterFn
    by_detail: bool
    resources: Resources = LIGHT

    def __call__(self, batch: Batch) -> StepOutput:
        label = self.name
        return StepOutput(
            [
                None
                if why is None
                else Drop(f"{label}:{why}" if self.by_detail else label, detail=why)
                for why in self.fn(batch)
            ]
        )


@dataclass
class WritableStep:
    """Drops what the output schema cannot hold (tool turns in alpaca, reasoning on a
    sharegpt tool call, ...) with the reason, instead of flattening it on write."""

    schema: str
    name: str = "writable"
    resources: Resources = LIGHT

    def __call__(self, batch: Batch) -> StepOutput:
        verdicts: list[Drop | None] = []
        for rec in batch:
            why = schema_can_hold(self.schema, rec) or unwritable(rec, self.schema)
            verdicts.append(None if why is None else Drop(why, detail=f"output {self.schema}"))
        return StepOutput(verdicts)


_INDEXES: dict[str, Any] = {}


def decontam_index(cfg: DecontamConfig) -> Any:
    """The benchmark index, built once per process from the config (never inherited by fork)."""
    key = cfg.model_dump_json()
    if key not in _INDEXES:
        from postmix.decontam import build

        _INDEXES[key] = build(cfg)
    return _INDEXES[key]


@dataclass
class DecontamStep:
    """Drops records that hold a benchmark item, naming the item."""

    cfg: DecontamConfig
    name: str = "decontaminate"
    resources: Resources = LIGHT

    def __post_init__(self) -> None:
        self.resources = Resources(torch=self.cfg.method == "embedding")

    def __call__(self, batch: Batch) -> StepOutput:
        index = decontam_index(self.cfg)
        verdicts: list[Drop | None] = []
        for match in index.check(batch):
            if match is None:
                verdicts.append(None)
                continue
            item = {"benchmark": match.benchmark, "item_id": match.item_id}
            item["text"] = index.text(match.benchmark, match.item_id)
            verdicts.append(
                Drop(
                    f"contaminated:{match.benchmark}",
                    detail=f"{match.benchmark} item {match.item_id} (score {match.score:.2f})",
                    contaminated=match.benchmark,
                    example={"match": item},
                )
            )
        return StepOutput(verdicts)


@dataclass
class TokenizeStep:
    """Renders and tokenizes in every format; a record any format drops is dropped.

    Column `variants`: per record, its tokenized form in each format.
    """

    spec: TokenizeSpec
    env: StepEnv
    name: str = "tokenize"
    resources: Resources = LIGHT
    renderers: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.renderers = [
            templates.bind(self.env.tokenizer, name, self.spec.special_tokens)  # type: ignore[arg-type]
            for name in self.spec.formats
        ]

    def __call__(self, batch: Batch) -> StepOutput:
        results = [
            tokenize_batch(
                batch,
                self.env.tokenizer,
                renderer,
                train_on=self.spec.train_on,  # type: ignore[arg-type]
                max_length=self.spec.max_length,
                over_length=self.spec.over_length,  # type: ignore[arg-type]
                reasoning=self.spec.reasoning,  # type: ignore[arg-type]
                train_reasoning=self.spec.train_reasoning,
                strict=self.spec.strict,
            )
            for renderer in self.renderers
        ]
        verdicts: list[Drop | None] = []
        variants: list[list[Any]] = []
        for i in range(len(batch)):
            per_format = [r[i] for r in results]
            reason = next((r for r in per_format if isinstance(r, str)), None)
            verdicts.append(None if reason is None else Drop(reason))
            variants.append(per_format)
        return StepOutput(verdicts, columns={"variants": variants})


@dataclass
class Chain:
    """A source's converter context and steps, built once per process and plan."""

    converter: formats.Converter
    ctx: ConvertContext
    steps: list[Step]
    env: StepEnv

    @property
    def resources(self) -> Resources:
        return reduce(Resources.__or__, (s.resources for s in self.steps), Resources())


_CHAINS: dict[str, Chain] = {}


def build(plan: SourcePlan) -> Chain:
    """The plan's chain; tokenizers, language models and benchmark indexes load once."""
    key = repr(plan)
    if key not in _CHAINS:
        _CHAINS[key] = _build(plan)
    return _CHAINS[key]


def _build(plan: SourcePlan) -> Chain:
    conv = formats.get(plan.converter)
    env = StepEnv(seed=plan.seed, tokenizer_spec=plan.tokenizer)
    typed = StepList.model_validate({"filters": plan.filters, "transforms": plan.transforms})
    configs = list(typed.filters)
    if not any(c.type == "structure" for c in configs):
        configs.insert(0, filters.module("structure").Config())
    steps: list[Step] = [
        TransformStep(t.type, transforms.module(t.type).build(t, env)) for t in typed.transforms
    ]
    steps.append(IdentifyStep())
    steps.extend(
        FilterStep(c.label, filters.module(c.type).build(c, env), c.bucket_by_detail)
        for c in configs
    )
    steps.append(WritableStep(plan.schema))
    if plan.decontaminate is not None:
        steps.append(DecontamStep(plan.decontaminate))
    if plan.tokenize is not None:
        steps.append(TokenizeStep(plan.tokenize, env))
    ctx = ConvertContext(
        kind=plan.kind,
        options=conv.options.model_validate(plan.options, context={"kind": plan.kind}),
        seed=plan.seed,
        source=plan.name,
    )
    return Chain(converter=conv, ctx=ctx, steps=steps, env=env)


def run_chain(
    steps: list[Step], batch: Batch, where: list[Where], ledger: Ledger
) -> tuple[Batch, list[Where], dict[str, list[Any]]]:
    """Run the steps over a batch; returns the survivors, their positions and their columns."""
    columns: dict[str, list[Any]] = {}
    for step in steps:
        if not batch:
            break
        out = step(batch)
        n = len(batch)
        sizes = [len(out.verdicts)] + [len(c) for c in out.columns.values()]
        if out.batch is not None:
            sizes.append(len(out.batch))
        if any(size != n for size in sizes):
            raise LedgerError(
                f"step {step.name!r} answered for {sizes} records of a batch of {n}: "
                "a step must return one verdict (and one row per column) per record"
            )
        if out.batch is not None:
            batch = out.batch
        columns.update(out.columns)
        if all(v is None for v in out.verdicts):
            continue
        keep = [i for i, v in enumerate(out.verdicts) if v is None]
        for i, verdict in enumerate(out.verdicts):
            if verdict is not None:
                ledger.drop(batch[i], where[i][0], where[i][1], verdict)
        batch = [batch[i] for i in keep]
        where = [where[i] for i in keep]
        columns = {k: [col[i] for i in keep] for k, col in columns.items()}
    return batch, where, columns
