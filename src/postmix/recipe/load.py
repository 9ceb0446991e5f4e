"""Reading a recipe: YAML in, a validated `Recipe` out; every mistake names its YAML path,
line and a fix (unknown keys get the closest known key suggested). `load` also checks
the paths (sources, output) so `validate` reports what `prepare` would reject."""

from __future__ import annotations

import difflib
import os
import types
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from postmix import filters, formats, transforms
from postmix.recipe import yaml_doc
from postmix.recipe.checks import path_problems
from postmix.recipe.model import DatasetSpec, Recipe, StepList


class RecipeError(ValueError):
    """A recipe mistake, already formatted with YAML paths, lines and fixes."""


def _line_map(text: str) -> dict[tuple[Any, ...], int]:
    """1-based line of every node of a YAML text, by path (train configs use it too)."""
    return yaml_doc.line_map(yaml_doc.compose(text))


def _path_str(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _where(path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> str:
    """`a.b[0] (line 3)`: the YAML path and the line of its nearest written ancestor."""
    line = next((lines[path[:i]] for i in range(len(path), -1, -1) if path[:i] in lines), None)
    return _path_str(path) + (f" (line {line})" if line else "")


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
        where = _where((*prefix, *loc), lines)
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
        if not _is_model(current):
            return None
        field = current.model_fields.get(part) or next(
            (f for f in current.model_fields.values() if f.alias == part), None
        )
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        current = next((a for a in (ann, *args) if _is_model(a)), None)
    return current if _is_model(current) else None


def _is_model(t: Any) -> bool:
    """A pydantic model class. Python 3.10 counts `list[X]` as a type, and `issubclass` of
    one raises TypeError (a misspelled key under a list field crashed the error report)."""
    if not isinstance(t, type) or isinstance(t, types.GenericAlias):
        return False
    return issubclass(t, BaseModel)


def parse(text: str, *, origin: str = "<recipe>") -> Recipe:
    """Validate a recipe's YAML text; raise RecipeError listing every mistake."""
    return _parse(text, origin)[0]


def _parse(text: str, origin: str) -> tuple[Recipe, dict[tuple[Any, ...], int]]:
    """The recipe and the line of every YAML path (for later problems)."""
    try:
        root = yaml_doc.compose(text)
        lines = yaml_doc.line_map(root)
        repeated = yaml_doc.duplicate_keys(root)
        data = None if repeated else yaml_doc.construct(root)
    except yaml_doc.YamlError as exc:
        raise RecipeError(f"{origin}: {exc}") from exc
    if repeated:
        problems = [
            f"{_where(path, {path: line})}: duplicate key {path[-1]!r} (first on line {first}); "
            "YAML would keep only the last one: merge them"
            for path, line, first in repeated
        ]
        raise RecipeError(f"{origin}: {len(problems)} problem(s)\n  " + "\n  ".join(problems))
    if not isinstance(data, dict):
        raise RecipeError(f"{origin}: a recipe is a mapping with at least a `datasets:` list")
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
    _raise(origin, problems)
    assert recipe is not None
    return recipe, lines


def _raise(origin: str, problems: list[str]) -> None:
    if problems:
        raise RecipeError(f"{origin}: {len(problems)} problem(s)\n  " + "\n  ".join(problems))


def load(path: str | Path, *, output: str | Path | None = None) -> Recipe:
    """Read and validate a recipe file, and check its paths before any data is read.

    Relative local sources and `output.dir` resolve against the recipe's folder.
    Missing sources, empty globs, an output that is a file or a non-postmix dir, and
    sources inside the output are errors. `output` (the CLI's `-o`, relative to the
    working directory) is checked in place of `output.dir`.
    """
    path = Path(path)
    recipe, lines = _parse(path.read_text(encoding="utf-8"), str(path))
    base = path.resolve().parent
    for ds in recipe.datasets:
        ds.source = _beside(base, ds.source, globs=True)
    if recipe.tokenizer is not None:
        recipe.tokenizer = _beside(base, recipe.tokenizer, globs=False)
    recipe.output.dir = os.path.normpath(base / os.path.expanduser(recipe.output.dir))
    target = Path(os.path.abspath(output)) if output is not None else Path(recipe.output.dir)
    _raise(str(path), [f"{_where(p, lines)}: {msg}" for p, msg in path_problems(recipe, target)])
    return recipe


def _beside(base: Path, spec: str, *, globs: bool) -> str:
    """A relative local path (or glob) resolved against the recipe's folder; hub ids and
    paths that exist nowhere there are left as written."""
    candidate = base / os.path.expanduser(spec)
    if Path(spec).is_absolute():
        return spec
    if candidate.exists() or (globs and any(c in spec for c in "*?[")):
        return os.path.normpath(candidate)
    return spec


def steps_of(ds: DatasetSpec) -> StepList:
    """The typed filters and transforms of a dataset (already checked by `parse`)."""
    return StepList.model_validate({"filters": ds.filters, "transforms": ds.transforms})
