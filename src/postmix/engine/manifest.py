"""The manifest: per-source accounting (counted, then checked), mix, tokens, outputs."""

from __future__ import annotations

from collections import Counter
from functools import reduce
from typing import Any

import numpy as np

from postmix import __version__
from postmix.dedup import keys
from postmix.engine.contracts import ShardResult, Tally
from postmix.engine.index import Index
from postmix.engine.ledger import LedgerError, check_identity
from postmix.engine.plan import SourceInfo
from postmix.engine.select import CONFLICT, NEAR, Duplicates, Selection
from postmix.recipe import Recipe
from postmix.report.pairs import pair_diagnostics
from postmix.report.stats import ReasoningTally


def source_stats(
    info: SourceInfo,
    results: list[ShardResult],
    si: int,
    idx: Index,
    dups: Duplicates,
    leaked: np.ndarray,
) -> dict[str, Any]:
    """One source's entry: counts merged from its shards plus the second stage's removals.

    `kept` is counted from the index (records present and not removed by the
    second stage), never derived from the other counts.
    """
    tally = reduce(Tally.__add__, (r.tally for r in results), Tally())
    mine = idx.source == si
    if int(mine.sum()) != tally.spilled:
        raise LedgerError(
            f"{info.plan.name}: shards kept {tally.spilled} records but the index holds "
            f"{int(mine.sum())}"
        )
    dropped = Counter(tally.dropped)
    extra = {
        "validation_leak": int(np.isin(np.flatnonzero(mine), leaked).sum()),
        "conflicting_judgments": int((mine & (dups.why == CONFLICT)).sum()),
    }
    dropped.update({k: v for k, v in extra.items() if v})
    alive = mine & ~dups.removed
    alive[leaked] = False
    chars = np.concatenate([r.chars for r in results]) if results else np.empty(0)
    reasoning = ReasoningTally()
    for r in results:
        reasoning.merge(r.reasoning)
    out: dict[str, Any] = {
        "converter": info.plan.converter,
        "converter_chosen_by": info.chosen_by,
        "kind": info.plan.kind,
        "rows": tally.rows,
        "read": tally.read,
        "kept": int(alive.sum()),
        "dropped": dict(sorted(dropped.items())),
        "duplicates": int((mine & dups.is_dup).sum()),
        "near_duplicates": int((mine & (dups.why == NEAR)).sum()),
        "contaminated": sum(tally.contaminated.values()),
        "contamination": dict(sorted(tally.contaminated.items())),
        "invalid": tally.invalid,
        "chars": summary(chars),
        "categories": dict(tally.categories.most_common(50)),
        "languages": dict(tally.langs.most_common(50)),
    }
    if reasoning.with_reasoning or reasoning.empty_blocks:
        out["reasoning"] = reasoning.summary()
    if tally.notes:
        out["notes"] = dict(sorted(tally.notes.items()))
    return out


def round_trip(sources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the tokenizer's round trip changed in kept records (`tokenizer.round_trip`)."""
    notes: Counter[str] = Counter()
    for s in sources.values():
        notes.update(s.get("notes") or {})
    prefix = "round_trip:"
    return {
        "records_changed": notes.get("round_trip", 0),
        "by_category": {
            k[len(prefix) :]: n for k, n in sorted(notes.items()) if k.startswith(prefix)
        },
        "examples": "examples.jsonl, buckets note:round_trip:<category>",
    }


COLLAPSE = 0.9  # one reason taking more than this share of a source's records is worth a warning


def warnings(sources: dict[str, dict[str, Any]]) -> list[str]:
    """Sources that kept nothing, or lost most of what they read to one reason."""
    out = []
    for name, s in sources.items():
        reasons = {
            **s["dropped"],
            "invalid": s["invalid"],
            "duplicates": s["duplicates"],
            "contaminated": s["contaminated"],
        }
        top, n = max(reasons.items(), key=lambda kv: kv[1]) if reasons else ("", 0)
        if s["kept"] == 0:
            why = f"; most went to {top} ({n} of {s['read']})" if n else ""
            out.append(f"source {name!r} kept 0 records of {s['read']} read{why}")
        elif s["read"] and n / s["read"] > COLLAPSE:
            out.append(
                f"source {name!r} lost {n} of {s['read']} records ({n / s['read']:.0%}) to {top}"
            )
    return out


def pair_stats(
    idx: Index, dups: Duplicates, leaked: np.ndarray, sources: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Pair diagnostics per source over the pairs that stayed (ties, judgments, identical
    pairs, chosen-longer share, length ratio, score margins)."""
    if idx.pairs is None:
        return {}
    alive = ~dups.removed
    alive[leaked] = False
    names = list(sources)
    columns = {k: v[alive] for k, v in idx.pairs.items()}
    return pair_diagnostics(
        columns,
        idx.source[alive],
        names,
        judgments=dups.judgments,
        dropped={name: s["dropped"] for name, s in sources.items()},
    )


def summary(values: np.ndarray) -> dict[str, float]:
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


def token_stats(idx: Index, si: int, removed: np.ndarray, sel: Selection) -> dict[str, Any] | None:
    """Tokens and trainable tokens kept and mixed, share of the budget, epochs."""
    if idx.ntok is None:
        return None
    tokens = idx.ntok.sum(axis=1)
    chosen = np.concatenate([sel.train, sel.validation])
    grand = float(idx.cost[chosen].sum()) or 1.0
    mine = (idx.source == si) & ~removed
    picked = chosen[idx.source[chosen] == si]
    unique = float(idx.cost[mine].sum())
    return {
        "total": int(tokens[mine].sum()),
        "trainable": int(unique),
        "mixed_total": int(tokens[picked].sum()),
        "mixed_trainable": int(idx.cost[picked].sum()),
        "share": round(float(idx.cost[picked].sum()) / grand, 4),
        "epochs": round(float(idx.cost[picked].sum()) / unique, 4) if unique else 0.0,
    }


def decontam_summary(recipe: Recipe, sources: dict[str, Any]) -> dict[str, Any] | None:
    """Per benchmark: items indexed and records removed (per-record item ids: removed.jsonl)."""
    if recipe.decontaminate is None:
        return None
    from postmix.engine.chain import decontam_index

    index = decontam_index(recipe.decontaminate)
    removed: Counter[str] = Counter()
    for s in sources.values():
        removed.update(s["contamination"])
    return {
        "method": recipe.decontaminate.method,
        "benchmarks": {
            name: {"items": n, "removed": removed.get(name, 0)}
            for name, n in index.items_per_benchmark.items()
        },
        "unmatchable_items": index.unmatchable,
    }


def assemble(
    recipe: Recipe,
    kinds: list[str],
    sources: dict[str, dict[str, Any]],
    outputs: list[dict[str, Any]],
    sel: Selection,
    fingerprint: str,
) -> dict[str, Any]:
    """The manifest, after checking every source's accounting identity."""
    check_identity(sources)
    return {
        "postmix": __version__,
        "fingerprint": fingerprint,
        "recipe": recipe.model_dump(mode="json", by_alias=True),
        "dedup": {
            "exact": keys.describe(mode, kinds) if (mode := recipe.dedup.exact_mode) else None,
            "judgments": recipe.dedup.judgments,
        },
        "sources": sources,
        "outputs": outputs,
        "totals": {
            "read": sum(s["read"] for s in sources.values()),
            "kept": sum(s["kept"] for s in sources.values()),
            "train": len(sel.train),
            "validation": len(sel.validation),
        },
        "side_files": {
            "quarantine": "quarantine.jsonl",
            "removed": "removed.jsonl",
            "examples": "examples.jsonl",
        },
    }
