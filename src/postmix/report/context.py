"""Everything the report shows, gathered once, and the Jinja environment that renders it."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from postmix.report import examples, stats, summary, tokens


@dataclass
class Report:
    out_dir: Path
    manifest: dict[str, Any]
    title: str
    funnel: summary.Table
    mix: summary.Table
    distribution: summary.Table
    sample: stats.Sample
    examples: examples.Collected
    unit: str
    facts: summary.Table | None = None
    target: Path | None = None  # where the outputs live once committed (out_dir: staging)

    @property
    def home(self) -> Path:
        """The output dir as users will find it."""
        return self.target or self.out_dir

    @property
    def recipe(self) -> dict[str, Any]:
        return self.manifest.get("recipe") or {}

    @property
    def recipe_yaml(self) -> str:
        return recipe_yaml(self.manifest)

    @property
    def highlights(self) -> list[tuple[str, str]]:
        """The headline numbers, as (label, value) cards."""
        totals = self.manifest.get("totals", {})
        cards = [
            ("sources", f"{len(self.manifest['sources']):,}"),
            ("records read", summary.fmt(totals.get("read"), "count")),
            ("kept", summary.fmt(totals.get("kept"), "count")),
            ("train", summary.fmt(totals.get("train"), "count")),
            ("validation", summary.fmt(totals.get("validation"), "count")),
        ]
        trainable = [s["tokens"].get("trainable") for s in self.sources.values() if "tokens" in s]
        if trainable:
            cards.append(("trainable tokens", summary.fmt(sum(trainable), "count")))
        return cards

    @property
    def sources(self) -> dict[str, Any]:
        return self.manifest["sources"]


def _prune(value: Any) -> Any:
    """Unset fields (None, empty lists and maps) removed, as people write recipes."""
    if isinstance(value, dict):
        kept = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def recipe_yaml(manifest: dict[str, Any]) -> str:
    """The recipe the outputs were built from, as YAML without its unset defaults."""
    recipe = _prune(manifest.get("recipe") or {})
    return yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True, width=100)


def title_of(out_dir: Path, manifest: dict[str, Any]) -> str:
    phase = ((manifest.get("recipe") or {}).get("metadata") or {}).get("phase")
    return str(phase or out_dir.resolve().name)


def build(
    out_dir: Path,
    manifest: dict[str, Any],
    sample_rows: int = stats.SAMPLE_ROWS,
    target: Path | None = None,
) -> Report:
    """Read the output dir once (bounded sample, a few examples) and build every table."""
    manifest = summary.in_recipe_order(manifest)
    sample = stats.sample(out_dir, manifest, sample_rows)
    return Report(
        out_dir=out_dir,
        manifest=manifest,
        title=title_of(target or out_dir, manifest),
        funnel=summary.funnel_table(manifest),
        mix=summary.mix_table(manifest),
        distribution=summary.distribution_table(manifest, sample),
        sample=sample,
        examples=examples.collect(out_dir, manifest, sample, decode=decoder(out_dir, manifest)),
        unit=summary.length_unit(sample),
        facts=summary.facts_table(manifest),
        target=target,
    )


def decoder(out_dir: Path, manifest: dict[str, Any]) -> tokens.Decode | None:
    """The tokenizer saved beside tokenized outputs, as a decode function (None otherwise)."""
    schema = ((manifest.get("recipe") or {}).get("output") or {}).get("schema")
    saved = out_dir / "tokenizer"
    if schema != "tokenized" or not saved.is_dir():
        return None
    from postmix.tokenizer import load_tokenizer

    tok = load_tokenizer(str(saved))
    return lambda ids: tok.decode(list(ids))


def md_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell or line: records' HTML shows as text
    (Markdown renderers and hub viewers pass raw HTML through)."""
    text = html.escape(str(value), quote=False)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("postmix.report", "templates"),
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(fmt=summary.fmt, clip=examples.clip, md=md_cell)
    return env
