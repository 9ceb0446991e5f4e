"""The YAML recipe as a validated model; every mistake names its YAML path, line and a fix.

The keys are the ones people already write in their mixture configs (DESIGN.md):
`metadata`, `datasets[]`, `dedup`, `decontaminate`, `validation`, `output`.
Unknown keys are errors, with the closest known key suggested.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from postmix import filters, formats, transforms
from postmix.decontam import DecontamConfig
from postmix.dedup.near import NearConfig

SCHEMAS_BY_KIND: dict[str, tuple[str, ...]] = {
    "messages": ("sft", "preference", "prompt", "text"),
    "tokenized": ("sft", "preference", "prompt", "text"),
    "conversations": ("sft", "preference", "prompt"),
    "prompt_response": ("sft",),
    "sharegpt": ("sft", "preference"),
    "alpaca": ("sft",),
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Metadata(Strict):
    phase: str | None = None
    kind: Literal["sft", "preference", "prompt", "text"] = "sft"
    total_tokens: int | None = Field(default=None, gt=0)
    max_seq_length: int | None = Field(default=None, gt=0)


# Discriminated unions over every registered filter and transform config (by `type:`).
FilterConfigs = Annotated[Union[tuple(filters.config_types())], Field(discriminator="type")]  # noqa: UP007
TransformConfigs = Annotated[Union[tuple(transforms.config_types())], Field(discriminator="type")]  # noqa: UP007


class DatasetSpec(Strict):
    """One source of the mixture."""

    name: str
    source: str
    format_converter: str | None = Field(default=None, alias="format_converter")
    format: str | None = None  # older recipes' name for format_converter
    text_field: str | None = None  # older recipes' `text` column for plain-text sources
    kind: Literal["sft", "preference", "prompt", "text"] | None = None
    subset: str | None = None
    splits: list[str] = Field(default_factory=lambda: ["train"])
    revision: str | None = None
    streaming: bool = False
    data_files: str | list[str] | None = None
    mix_ratio: float | None = Field(default=None, ge=0)
    max_samples: int | None = Field(default=None, gt=0)
    priority: int = 0
    options: dict[str, Any] = Field(default_factory=dict)
    transforms: list[Any] = Field(default_factory=list)
    filters: list[Any] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _legacy_format(cls, data: Any) -> Any:
        if isinstance(data, dict) and "format" in data and "format_converter" in data:
            raise ValueError("give either `format_converter` or the older `format`, not both")
        return data

    @field_validator("format_converter", "format")
    @classmethod
    def _known_format(cls, value: str | None) -> str | None:
        if value is not None and value not in formats.NAMES:
            close = difflib.get_close_matches(value, formats.NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown converter {value!r}{hint}; known: {', '.join(formats.NAMES)}"
            )
        return value

    @property
    def converter_name(self) -> str | None:
        if self.format_converter or self.format:
            return self.format_converter or self.format
        return "text" if self.text_field else None


class ExactDedup(Strict):
    key: Literal["prompt", "conversation"] = "prompt"


class Dedup(Strict):
    exact: bool | ExactDedup = True
    near: NearConfig | None = None

    @property
    def exact_key(self) -> str | None:
        if self.exact is False:
            return None
        return self.exact.key if isinstance(self.exact, ExactDedup) else "prompt"


class Validation(Strict):
    ratio: float = Field(default=0.0, ge=0, lt=1)
    seed: int | None = None
    stratified: bool = True


class Output(Strict):
    dir: str = "out"
    schema_: Literal[
        "messages", "conversations", "prompt_response", "sharegpt", "alpaca", "tokenized"
    ] = Field(default="messages", alias="schema")
    file_format: Literal["jsonl", "parquet", "disk"] = "jsonl"
    shuffle: bool = True


class Recipe(Strict):
    metadata: Metadata = Field(default_factory=Metadata)
    tokenizer: str | None = None
    template: str | None = None  # a built-in template name, or "tokenizer" (its own)
    special_tokens: Literal["text", "add"] = "text"
    train_on: Literal["all_assistant", "last_assistant", "all"] = "all_assistant"
    packing: bool = False
    max_seq_length: int | None = Field(default=None, gt=0)
    over_length: Literal["drop", "truncate", "error"] = "drop"
    expand_formats: list[str] | None = None
    seed: int = 42
    num_proc: int | None = Field(default=None, ge=1)
    datasets: list[DatasetSpec] = Field(min_length=1)
    dedup: Dedup = Field(default_factory=Dedup)
    decontaminate: DecontamConfig | None = None
    validation: Validation = Field(default_factory=Validation)
    output: Output = Field(default_factory=Output)

    @model_validator(mode="after")
    def _consistent(self) -> Recipe:
        names = [d.name for d in self.datasets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"dataset names must be unique; repeated: {', '.join(dupes)}")
        ratios = [d.mix_ratio is not None for d in self.datasets]
        if any(ratios) and not all(ratios):
            missing = [d.name for d in self.datasets if d.mix_ratio is None]
            raise ValueError(
                "mix_ratio is set on some datasets but not on "
                f"{', '.join(missing)}: give every dataset a mix_ratio, or none"
            )
        near = self.dedup.near
        unknown = (
            sorted(set((near.against or []) + (near.sources or [])) - set(names)) if near else []
        )
        if unknown:
            raise ValueError(f"dedup.near names datasets that are not in the recipe: {unknown}")
        if self.metadata.total_tokens and not self.tokenizer:
            raise ValueError("metadata.total_tokens counts tokens: set `tokenizer:`")
        self._check_tokenized()
        kinds = SCHEMAS_BY_KIND[self.output.schema_]
        if self.metadata.kind not in kinds:
            raise ValueError(
                f"output.schema {self.output.schema_!r} cannot hold kind "
                f"{self.metadata.kind!r} records; it holds {', '.join(kinds)}"
            )
        return self

    def _check_tokenized(self) -> None:
        from postmix import templates

        tokenized = self.output.schema_ == "tokenized"
        for name in [self.template, *(self.expand_formats or [])]:
            if name is not None and name not in templates.names():
                raise ValueError(
                    f"unknown template {name!r}; known: {', '.join(templates.names())}"
                )
        if (tokenized or self.template or self.expand_formats) and not self.tokenizer:
            raise ValueError("templates and tokenized output need `tokenizer:`")
        if self.expand_formats and not tokenized:
            raise ValueError(
                "expand_formats renders records into token ids: set output.schema: tokenized"
            )
        if tokenized and self.output.file_format == "jsonl":
            raise ValueError(
                "output.schema tokenized is written as parquet or disk: set output.file_format"
            )
        if self.packing:
            if not tokenized:
                raise ValueError("packing: true packs token ids: set output.schema: tokenized")
            if not self.seq_length:
                raise ValueError("packing needs max_seq_length (top level or metadata)")
            if self.metadata.kind not in ("sft", "text"):
                raise ValueError(
                    f"packing applies to sft and text records, not {self.metadata.kind}"
                )

    @property
    def seq_length(self) -> int | None:
        return self.max_seq_length or self.metadata.max_seq_length

    @property
    def tokenizes(self) -> bool:
        """Records are rendered and tokenized in stage one (outputs, or trainable-token budgets)."""
        return self.output.schema_ == "tokenized" or (
            self.template is not None and self.metadata.total_tokens is not None
        )

    @property
    def formats(self) -> list[str]:
        """The templates each record is rendered in (bagel's expand_formats, or the one)."""
        return self.expand_formats or [self.template or "tokenizer"]

    def kind_of(self, ds: DatasetSpec) -> str:
        return ds.kind or self.metadata.kind

    @property
    def validation_seed(self) -> int:
        return self.seed if self.validation.seed is None else self.validation.seed


class StepList(BaseModel):
    """Typed view of one dataset's filters and transforms (validated per entry)."""

    model_config = ConfigDict(extra="forbid")
    filters: list[FilterConfigs] = Field(default_factory=list)  # type: ignore[valid-type]
    transforms: list[TransformConfigs] = Field(default_factory=list)  # type: ignore[valid-type]


class RecipeError(ValueError):
    """A recipe mistake, already formatted with YAML paths, lines and fixes."""


def _line_map(text: str) -> dict[tuple[Any, ...], int]:
    """1-based line of every node of the YAML document, by path."""
    lines: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*path, key.value)] = key.start_mark.line + 1
                walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return lines


def _path_str(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


STEP_REGISTRIES = {"filters": filters, "transforms": transforms}


def _without_union_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the discriminator value pydantic puts in the path (`filters[0].length.x`)."""
    out: list[Any] = []
    for part in loc:
        in_step = len(out) >= 2 and out[-2] in STEP_REGISTRIES and isinstance(out[-1], int)
        if in_step and isinstance(part, str) and part in STEP_REGISTRIES[out[-2]].MODULES:
            continue
        out.append(part)
    return tuple(out)


def _step_model(loc: tuple[Any, ...], data: Any) -> type[BaseModel] | None:
    """The config model of the filter/transform at `loc` (a list item of a steps list)."""
    if len(loc) < 2 or loc[-2] not in STEP_REGISTRIES or not isinstance(loc[-1], int):
        return None
    for part in loc:
        data = data[part] if isinstance(data, (dict, list)) else None
        if data is None:
            return None
    kind = data.get("type") if isinstance(data, dict) else None
    registry = STEP_REGISTRIES[loc[-2]]
    return registry.module(kind).Config if kind in registry.MODULES else None


def _format_errors(
    exc: ValidationError,
    prefix: tuple[Any, ...],
    lines: dict[tuple[Any, ...], int],
    model: type,
    data: Any = None,
) -> list[str]:
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        loc = _without_union_tags(loc)
        path = (*prefix, *loc)
        line = next((lines[path[:i]] for i in range(len(path), -1, -1) if path[:i] in lines), None)
        where = _path_str(path) + (f" (line {line})" if line else "")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            parent = _step_model(loc[:-1], data) or _model_at(model, loc[:-1])
            options = _allowed_keys(parent) if parent else []
            close = difflib.get_close_matches(str(loc[-1]), options, n=1)
            msg = f"unknown key {loc[-1]!r}" + (
                f": did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(options)}"
            )
        elif err["type"] == "union_tag_invalid":
            tag, expected = err["ctx"]["tag"], err["ctx"]["expected_tags"]
            known = [t.strip(" '") for t in expected.split(",")]
            close = difflib.get_close_matches(str(tag), known, n=1)
            hint = f" did you mean {close[0]!r}?" if close else ""
            msg = f"unknown type {tag!r};{hint} known: {', '.join(map(repr, known))}"
        out.append(f"{where}: {msg}")
    return out


def _model_at(model: type, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model at a location, to list the keys it allows."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part) or next(
            (f for f in current.model_fields.values() if f.alias == part), None
        )
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        current = next(
            (a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None
        )
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def parse(text: str, *, origin: str = "<recipe>") -> Recipe:
    """Validate a recipe's YAML text; raise RecipeError listing every mistake."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError(f"{origin}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RecipeError(f"{origin}: a recipe is a mapping with at least a `datasets:` list")
    lines = _line_map(text)
    problems: list[str] = []
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        problems.extend(_format_errors(exc, (), lines, Recipe))
        recipe = None
    for i, ds in enumerate(data.get("datasets") or []):
        if not isinstance(ds, dict):
            continue
        steps = {"filters": ds.get("filters") or [], "transforms": ds.get("transforms") or []}
        try:
            StepList.model_validate(steps)
        except ValidationError as exc:
            problems.extend(_format_errors(exc, ("datasets", i), lines, StepList, steps))
        conv_name = ds.get("format_converter") or ds.get("format")
        if conv_name in formats.NAMES:
            conv = formats.get(conv_name)
            kind = recipe.kind_of(recipe.datasets[i]) if recipe is not None else None
            try:
                conv.options.model_validate(ds.get("options") or {}, context={"kind": kind})
            except ValidationError as exc:
                problems.extend(
                    _format_errors(exc, ("datasets", i, "options"), lines, conv.options)
                )
            if kind is not None and kind not in conv.kinds:
                where = _path_str(("datasets", i, "format_converter"))
                problems.append(
                    f"{where} (line {lines.get(('datasets', i), '?')}): converter "
                    f"{conv_name!r} cannot emit kind {kind!r}; it emits {', '.join(conv.kinds)}"
                )
    if problems:
        raise RecipeError(f"{origin}: {len(problems)} problem(s)\n  " + "\n  ".join(problems))
    assert recipe is not None
    return recipe


def load(path: str | Path) -> Recipe:
    """Read and validate a recipe file; relative local sources resolve against its folder."""
    path = Path(path)
    recipe = parse(path.read_text(encoding="utf-8"), origin=str(path))
    base = path.resolve().parent
    for ds in recipe.datasets:
        candidate = base / ds.source
        if not Path(ds.source).is_absolute() and (
            candidate.exists() or any(c in ds.source for c in "*?[")
        ):
            ds.source = os.path.normpath(candidate)
    return recipe


def steps_of(ds: DatasetSpec) -> StepList:
    """The typed filters and transforms of a dataset (already checked by `parse`)."""
    return StepList.model_validate({"filters": ds.filters, "transforms": ds.transforms})
