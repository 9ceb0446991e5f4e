"""The manifest's numbers as tables (funnel, mix, distributions) shared by every renderer.

The HTML report, the Markdown report and the dataset card all show these
tables; building them once here means every rendering shows the same numbers,
read straight from the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from postmix.report.stats import Distribution, Sample

Format = Literal["count", "share", "factor", "text", "number", "plain"]
Value = int | float | str | None


@dataclass(frozen=True)
class Column:
    """`key` is the manifest field a cell holds (`read`, `dropped:length`, `mix.train`)."""

    key: str
    label: str
    fmt: Format = "count"
    hint: str = ""


@dataclass
class Table:
    columns: list[Column]
    rows: list[tuple[str, dict[str, Value]]] = field(default_factory=list)
    totals: dict[str, Value] | None = None


def in_recipe_order(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with its sources in the recipe's order (manifest.json sorts its keys)."""
    names = [d["name"] for d in (manifest.get("recipe") or {}).get("datasets", [])]
    sources = manifest["sources"]
    order = [n for n in names if n in sources] + [n for n in sources if n not in names]
    return {**manifest, "sources": {n: sources[n] for n in order}}


def lookup(source: dict[str, Any], key: str) -> Value:
    """A source's manifest value by dotted key; `dropped:<reason>` reads the drop counts."""
    if key.startswith("dropped:"):
        return source.get("dropped", {}).get(key.removeprefix("dropped:"), 0)
    value: Any = source
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def fmt(value: Value, kind: Format) -> str:
    """One cell as text: thousands separators, percentages, upsampling factors."""
    if value is None:
        return "–"
    if kind == "count":
        return f"{round(float(value)):,}"
    if kind == "share":
        return f"{float(value):.1%}"
    if kind == "factor":
        return f"×{float(value):.2f}"
    if kind == "number":
        return f"{float(value):,.1f}"
    if kind == "plain" and isinstance(value, (int, float)):
        return f"{value:g}"
    return str(value)


def drop_reasons(manifest: dict[str, Any]) -> list[str]:
    """Every drop bucket of any source, in first-seen order."""
    seen: dict[str, None] = {}
    for s in manifest["sources"].values():
        seen.update(dict.fromkeys(s.get("dropped", {})))
    return list(seen)


def _sum(values: list[Value]) -> int:
    return sum(int(v) for v in values if isinstance(v, (int, float)))


def funnel_table(manifest: dict[str, Any]) -> Table:
    """read, kept, train, validation; then invalid → each filter → duplicates →
    contaminated; then selected → mixed (upsampling), per source."""
    sources = manifest["sources"]
    columns = []
    if any(s.get("rows", s["read"]) != s["read"] for s in sources.values()):
        columns.append(Column("rows", "input rows", hint="rows in the source files"))
    # What came in and what came out first, so they stay in view however many drop
    # reasons follow; then where the rest went, then how the mix used the kept records.
    columns += [
        Column("read", "read", hint="records the converter produced"),
        Column("kept", "kept", hint="unique records that passed every step"),
        Column("mix.train", "train"),
        Column("mix.validation", "validation"),
        Column("invalid", "invalid", hint="malformed rows, in quarantine.jsonl"),
        *(Column(f"dropped:{r}", r, hint=f"dropped by {r}") for r in drop_reasons(manifest)),
        Column("duplicates", "duplicates", hint="exact duplicates of a record kept earlier"),
        Column("contaminated", "contaminated", hint="overlaps a benchmark"),
        Column("mix.unique", "selected", hint="distinct kept records the mix uses"),
        Column("mix.achieved", "mixed", hint="train + validation, repeats included"),
        Column("mix.upsampling", "upsampling", "factor", "mixed / selected"),
    ]
    table = Table(columns)
    for name, s in sources.items():
        table.rows.append((name, {c.key: lookup(s, c.key) for c in columns}))
    table.totals = {
        c.key: _sum([cells[c.key] for _, cells in table.rows]) for c in columns if c.fmt == "count"
    }
    unique = table.totals.get("mix.unique") or 0
    table.totals["mix.upsampling"] = (table.totals["mix.achieved"] / unique) if unique else None
    return table


def _shares(values: list[float | None]) -> list[float | None]:
    total = sum(v for v in values if v)
    return [(v or 0) / total if total else None for v in values]


def token_mode(manifest: dict[str, Any]) -> bool:
    return any(lookup(s, "mix.target_tokens") is not None for s in manifest["sources"].values())


def has_tokens(manifest: dict[str, Any]) -> bool:
    """Whether the (tokenized) output carries per-source token counts."""
    return any("tokens" in s for s in manifest["sources"].values())


def mix_table(manifest: dict[str, Any]) -> Table:
    """Planned vs achieved share per source, in rows and (when known) in tokens."""
    sources = manifest["sources"]
    names = list(sources)
    weights = [lookup(sources[n], "mix.ratio") for n in names]
    by_tokens = token_mode(manifest)
    planned_key = "mix.target_tokens" if by_tokens else "mix.target"
    plan_basis = weights if all(w is not None for w in weights) else None
    planned = _shares(plan_basis or [lookup(sources[n], planned_key) for n in names])
    achieved = _shares([lookup(sources[n], "mix.achieved") for n in names])
    columns = [
        Column("mix.ratio", "weight", "plain", "mix_ratio in the recipe"),
        Column("planned_share", "planned share", "share"),
        Column(planned_key, "planned tokens" if by_tokens else "planned rows"),
        Column("mix.achieved", "achieved rows"),
        Column("achieved_share", "achieved share", "share", "of rows"),
    ]
    extra: dict[str, list[float | None]] = {}
    if by_tokens:
        columns += [
            Column("mix.achieved_tokens", "achieved tokens"),
            Column("token_share", "token share", "share"),
        ]
        extra["token_share"] = _shares([lookup(sources[n], "mix.achieved_tokens") for n in names])
    if has_tokens(manifest):
        columns += [
            Column("tokens.total", "tokens"),
            Column("tokens.trainable", "trainable tokens"),
            Column("trainable_share", "trainable share", "share"),
        ]
        extra["trainable_share"] = _shares([lookup(sources[n], "tokens.trainable") for n in names])
    columns += [Column("mix.train", "train"), Column("mix.validation", "validation")]
    table = Table(columns)
    for i, name in enumerate(names):
        cells = {c.key: lookup(sources[name], c.key) for c in columns}
        cells.update(planned_share=planned[i], achieved_share=achieved[i])
        cells.update({k: v[i] for k, v in extra.items()})
        table.rows.append((name, cells))
    table.totals = {
        c.key: _sum([cells[c.key] for _, cells in table.rows]) for c in columns if c.fmt == "count"
    }
    return table


def _top(counts: dict[str, int], n: int = 3) -> str:
    total = sum(counts.values())
    if not total:
        return "–"
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{k} {v / total:.0%}" for k, v in ranked)


def _quantiles(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values)
    p50, p90 = np.percentile(arr, [50, 90])
    return {
        "mean": float(arr.mean()),
        "p50": float(p50),
        "p90": float(p90),
        "max": float(arr.max()),
    }


def distribution_table(manifest: dict[str, Any], sample: Sample) -> Table:
    """Per source: the sampled length and turn statistics next to the manifest's counts."""
    columns = [
        Column("sampled", "records sampled", hint="a packed row counts each of its records"),
        Column("len.mean", "mean length", "number"),
        Column("len.p50", "p50", "count"),
        Column("len.p90", "p90", "count"),
        Column("len.max", "max", "count"),
        *(
            [
                Column("trained.mean", "trained (mean)", "number", "tokens that carry loss"),
                Column("trained.p50", "trained p50", "count"),
                Column("trained.p90", "trained p90", "count"),
            ]
            if any(d.trainable for d in sample.sources.values())
            else []
        ),
        Column("turns", "user turns (mean)", "number"),
        Column("chosen_longer", "chosen longer", "share", "share of pairs, all kept records"),
        Column("languages", "languages", "text"),
        Column("categories", "categories", "text"),
    ]
    table = Table(columns)
    for name, s in manifest["sources"].items():
        dist = sample.sources.get(name, Distribution())
        q = _quantiles(dist.tokens or dist.chars)
        turns = sum(k * v for k, v in dist.user_turns.items())
        n_conv = sum(dist.user_turns.values())
        cells: dict[str, Value] = {
            "sampled": dist.rows,
            **{f"len.{k}": v for k, v in q.items()},
            **{f"trained.{k}": v for k, v in _quantiles(dist.trainable).items()},
            "turns": turns / n_conv if n_conv else None,
            "chosen_longer": lookup(s, "length_bias.chosen_longer_share"),
            "languages": _top(s.get("languages", {})),
            "categories": _top(s.get("categories", {})),
        }
        table.rows.append((name, {c.key: cells.get(c.key) for c in columns}))
    return table


FACTS = (
    Column("pairs.pairs", "pairs", "count", "pairs kept"),
    Column("pairs.ties", "ties", "count", "judged a tie: no preference (dropped)"),
    Column("pairs.conflicts_resolved", "resolved", "count", "judgments both ways, majority kept"),
    Column("pairs.conflicting_judgments", "conflicts", "count", "lost a vote or an even split"),
    Column("pairs.identical_pairs", "identical", "count", "chosen equal to rejected"),
    Column("pairs.chosen_longer_share", "chosen longer", "share", "share of kept pairs"),
    Column("pairs.score_margin.median", "margin", "number", "median chosen - rejected score"),
    Column("reasoning.with_reasoning", "thinking", "count", "records with reasoning"),
    Column("reasoning.empty_blocks", "empty think", "count", "records with an empty block"),
    Column("reasoning.chars.mean", "think chars", "number", "mean reasoning length"),
    Column("reasoning.share.mean", "think share", "share", "reasoning / (reasoning + answer)"),
    Column("notes.round_trip", "tokenizer lossy", "count", "text the tokenizer cannot hold"),
    Column("notes.cut_reply", "cut replies", "count", "truncated before their end token"),
)


def facts_table(manifest: dict[str, Any]) -> Table | None:
    """Pair diagnostics, reasoning and tokenizer facts per source; only the columns some
    source has (None when there is nothing to show)."""
    sources = manifest["sources"]
    columns = [c for c in FACTS if any(lookup(s, c.key) is not None for s in sources.values())]
    if not columns:
        return None
    table = Table(columns)
    for name, s in sources.items():
        table.rows.append((name, {c.key: lookup(s, c.key) for c in columns}))
    return table


def length_unit(sample: Sample) -> str:
    return "tokens" if any(d.tokens for d in sample.sources.values()) else "characters"
