"""The YAML recipe as validated pydantic models (parsing and error messages: `load.py`).

The keys are the ones people already write in their mixture configs (DESIGN.md):
`metadata`, `datasets[]`, `dedup`, `decontaminate`, `validation`, `output`.
Unknown keys are errors, with the closest known key suggested.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from postmix import filters, formats, transforms
from postmix.decontam import DecontamConfig
from postmix.dedup.config import NearConfig

SCHEMAS_BY_KIND: dict[str, tuple[str, ...]] = {
    "messages": ("sft", "preference", "prompt", "text", "kto"),
    "tokenized": ("sft", "preference", "prompt", "text"),
    "conversations": ("sft", "preference", "prompt"),
    "prompt_response": ("sft",),
    "sharegpt": ("sft", "preference", "kto"),
    "alpaca": ("sft",),
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _not_yes_no(value: Any) -> Any:
    """YAML reads yes/no/on/off/true/false as booleans, which pydantic would take as 1 or 0."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not yes/no/true/false (got {value})")
    return value


Number = Annotated[float, BeforeValidator(_not_yes_no)]
Count = Annotated[int, BeforeValidator(_not_yes_no)]
# Seeds reach numpy's generators, which take 0..2**64-1.
Seed = Annotated[int, BeforeValidator(_not_yes_no), Field(ge=0, le=2**64 - 1)]


# A phase names output files (`{phase}_train.jsonl`, a `disk` dir): a plain file-name stem,
# never a path (`../x`, `/tmp/x`) or a hidden name.
PHASE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class Metadata(Strict):
    phase: str | None = None
    kind: Literal["sft", "preference", "prompt", "text", "kto"] = "sft"
    total_tokens: Count | None = Field(default=None, gt=0)
    max_seq_length: Count | None = Field(default=None, gt=0)

    @field_validator("phase")
    @classmethod
    def _plain_stem(cls, phase: str | None) -> str | None:
        if phase is not None and not PHASE.fullmatch(phase):
            raise ValueError(
                f"{phase!r} is not a plain file-name stem: use letters, digits, '.', '_' "
                "and '-' (starting with a letter or digit), no '/' or '..'"
            )
        return phase


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
    kind: Literal["sft", "preference", "prompt", "text", "kto"] | None = None
    subset: str | None = None
    splits: list[str] = Field(default_factory=lambda: ["train"])
    revision: str | None = None
    streaming: bool = False
    data_files: str | list[str] | None = None
    mix_ratio: Number | None = Field(default=None, ge=0)
    max_samples: Count | None = Field(default=None, gt=0)
    priority: Count = 0
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
    """`auto` keys each kind as `dedup.keys.AUTO` says (pairs by their responses)."""

    key: Literal["auto", "prompt", "conversation"] = "auto"


class Dedup(Strict):
    exact: bool | ExactDedup = True
    near: NearConfig | None = None
    judgments: Literal["majority", "keep_all"] = "majority"

    @property
    def exact_mode(self) -> str | None:
        """The key `dedup.keys.exact_key` takes, or None when exact dedup is off."""
        if self.exact is False:
            return None
        return self.exact.key if isinstance(self.exact, ExactDedup) else "auto"


class Validation(Strict):
    ratio: Number = Field(default=0.0, ge=0, lt=1)
    seed: Seed | None = None
    stratified: bool = True


class Output(Strict):
    dir: str = "out"
    schema_: Literal[
        "messages", "conversations", "prompt_response", "sharegpt", "alpaca", "tokenized"
    ] = Field(default="messages", alias="schema")
    file_format: Literal["jsonl", "parquet", "disk"] = "jsonl"
    shuffle: bool = True


class Reasoning(Strict):
    """How replies' reasoning is rendered into token ids (tokenized output and budgets).

    `keep`: which replies keep it (`last`: the turns after the last user turn,
    as Qwen3-style templates render history); `train`: whether its tokens are
    trained. The `reasoning` transform edits the data itself instead.
    """

    keep: Literal["all", "last", "none"] = "all"
    train: bool = True


class Recipe(Strict):
    metadata: Metadata = Field(default_factory=Metadata)
    tokenizer: str | None = None
    template: str | None = None  # a built-in template name, or "tokenizer" (its own)
    special_tokens: Literal["text", "add"] = "text"
    train_on: Literal["all_assistant", "last_assistant", "all"] = "all_assistant"
    packing: bool = False
    max_seq_length: Count | None = Field(default=None, gt=0)
    over_length: Literal["drop", "truncate", "error"] = "drop"
    expand_formats: list[str] | None = None
    reasoning: Reasoning = Field(default_factory=Reasoning)
    seed: Seed = 42
    num_proc: Count | None = Field(default=None, ge=1)
    executor: Literal["local", "ray"] = "local"  # the CLI's --executor wins
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
        if all(ratios) and not any(d.mix_ratio for d in self.datasets):
            raise ValueError("every mix_ratio is 0, so nothing would be kept: give one a weight")
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
