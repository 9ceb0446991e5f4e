"""Plan: recipe → one `SourcePlan` per dataset and the `ShardTask`s that cover it.

The plan never depends on the executor or the number of processes, so every
executor runs the same tasks and the outputs are the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from postmix import formats, sources
from postmix.engine.contracts import ShardTask, SourcePlan, TokenizeSpec
from postmix.recipe import Recipe

SHARD_BYTES = 16 << 20  # small enough that two workers finish together on a few big files


@dataclass
class SourceInfo:
    """A dataset of the recipe once its converter and shards are known."""

    plan: SourcePlan
    shards: list[sources.Shard]
    chosen_by: str
    whole: bool


def resolve(recipe: Recipe, limit: int | None = None, strict: bool = False) -> list[SourceInfo]:
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
            dedup_key=recipe.dedup.exact_mode,
            schema=recipe.output.schema_,
            seed=recipe.seed,
            tokenizer=recipe.tokenizer,
            count_tokens=recipe.metadata.total_tokens is not None,
            near=recipe.dedup.near,
            tokenize=tokenize_spec(recipe, strict),
            decontaminate=recipe.decontaminate,
        )
        shards = sources.plan(ds.source, whole=whole, shard_bytes=SHARD_BYTES, **kwargs)
        if not shards:
            raise FileNotFoundError(f"datasets[{i}] ({ds.name}): no data found at {ds.source!r}")
        infos.append(SourceInfo(plan=plan, shards=shards, chosen_by=chosen_by, whole=whole))
    return infos


def tokenize_spec(recipe: Recipe, strict: bool = False) -> TokenizeSpec | None:
    """How records are rendered and tokenized; `strict`: a lossy tokenizer fails the run."""
    if not recipe.tokenizes:
        return None
    return TokenizeSpec(
        formats=tuple(recipe.formats),
        special_tokens=recipe.special_tokens,
        train_on=recipe.train_on,
        max_length=recipe.seq_length,
        over_length=recipe.over_length,
        write=recipe.output.schema_ == "tokenized",
        reasoning=recipe.reasoning.keep,
        train_reasoning=recipe.reasoning.train,
        strict=strict,
    )


def tasks(infos: list[SourceInfo], spill_dir: str, limit: int | None) -> list[ShardTask]:
    """One task per shard, or one per source when its converter must see it whole."""
    out = []
    for info in infos:
        groups = [tuple(info.shards)] if info.whole else [(s,) for s in info.shards]
        for order, group in enumerate(groups):
            out.append(
                ShardTask(
                    plan=info.plan, shards=group, order=order, spill_dir=spill_dir, limit=limit
                )
            )
    return out
