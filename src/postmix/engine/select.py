"""Global decisions: pure functions over the index's compact arrays, never over records.

Exact dedup (first occurrence in priority order), near dedup (MinHash
clusters verified on signatures), the mix (per-source budgets, seeded
selection with repetition), the stratified validation split (unique records,
before upsampling) and the train/validation leak check. Each returns values;
the driver hands removals to the ledger and statistics to the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xxhash

from postmix import mix, split
from postmix.dedup.config import NearConfig
from postmix.dedup.exact import repeats
from postmix.dedup.judgments import CONFLICT as CONFLICT_VOTE
from postmix.dedup.judgments import DUPLICATE, KEPT, resolve_judgments
from postmix.engine.index import Index


def rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator per (seed, purpose, source name): adding a source never reshuffles another."""
    return np.random.default_rng(
        [seed & 0xFFFFFFFF, *(xxhash.xxh32_intdigest(str(k).encode()) for k in keys)]
    )


def positions(n: int) -> type[np.signedinteger]:
    """The dtype of positions among `n` records: 32 bits until 2**31 of them."""
    return np.int32 if n < 2**31 else np.int64


# What removed a record in the second stage (`Duplicates.why`); 0 means it stays.
STAYS, EXACT, NEAR, JUDGMENT, CONFLICT = range(5)
REASONS = {
    EXACT: "duplicate",
    NEAR: "near_duplicate",
    JUDGMENT: "duplicate_judgment",
    CONFLICT: "conflicting_judgments",
}


@dataclass
class Duplicates:
    """Per record: why the second stage removed it (`why`, a code of REASONS) and the record
    it repeats or lost to (`of`, -1 if none); per source, the judgment counts."""

    why: np.ndarray
    of: np.ndarray
    judgments: dict[str, dict[str, int]]

    @property
    def is_dup(self) -> np.ndarray:
        """Counted as `duplicates` (a kept record says the same)."""
        return (self.why != STAYS) & (self.why != CONFLICT)

    @property
    def removed(self) -> np.ndarray:
        return self.why != STAYS


def duplicates(
    idx: Index, exact: bool, cfg: NearConfig | None, names: list[str], judgments: str
) -> Duplicates:
    """Contradictory judgments first (agreeing repeats must still vote), then exact
    duplicates by key among the survivors, then near duplicates among what exact kept."""
    n = len(idx.keys)
    why = np.zeros(n, dtype=np.int8)
    of = np.full(n, -1, dtype=positions(n))
    counts: dict[str, dict[str, int]] = {}
    if idx.group is not None and idx.direction is not None:
        res = resolve_judgments(idx.group, idx.direction, idx.source, names, judgments)  # type: ignore[arg-type]
        why[res.reason == DUPLICATE] = JUDGMENT
        why[res.reason == CONFLICT_VOTE] = CONFLICT
        gone = res.reason != KEPT
        of[gone] = res.kept_as[gone]
        counts = res.counts
    if exact:
        live = np.flatnonzero(why == STAYS) if why.any() else None  # None: every record
        again, first = repeats(idx.keys if live is None else idx.keys[live])
        if live is not None:
            again, first = live[again], live[first]
        why[again] = EXACT
        of[again] = first
    if cfg is not None and idx.bands is not None:
        near_of = near_duplicates(idx, why != STAYS, cfg, names)
        hit = near_of >= 0
        why[hit] = NEAR
        of[hit] = near_of[hit]
    return Duplicates(why=why, of=of, judgments=counts)


def near_duplicates(
    idx: Index, removed: np.ndarray, cfg: NearConfig, names: list[str]
) -> np.ndarray:
    """Near-duplicate resolution among the records still standing (`~removed`).

    Records are in priority order (source priority, recipe order, position), so
    a cluster keeps its first record. In one-sided mode (`against`), only
    records of the cleaned sources are removed, and only for repeating a
    record of a reference source.
    """
    from postmix.dedup import near

    assert idx.bands is not None
    near_of = np.full(len(removed), -1, dtype=np.int64)
    live = np.flatnonzero(~removed)
    sigs = near.SignatureStore(idx.sigs, cfg.num_perm, order=live)
    keys, rank = idx.bands[live], np.arange(len(live))
    if cfg.against:
        src = idx.source[live]
        reference = np.isin(src, [names.index(n) for n in cfg.against])
        cleaned = cfg.sources or [n for n in names if n not in cfg.against]
        target = np.isin(src, [names.index(n) for n in cleaned])
        dup = near.resolve_against(
            keys, rank, sigs, cfg.threshold, reference=reference, target=target
        )
    else:
        dup = near.resolve(keys, rank, sigs, cfg.threshold)
    hit = dup >= 0
    near_of[live[hit]] = live[dup[hit]]
    return near_of


@dataclass(frozen=True)
class MixSpec:
    """What the mix and split need from the recipe."""

    names: list[str]
    ratios: list[float | None]
    caps: list[int | None]
    total_tokens: int | None
    seed: int
    validation_ratio: float
    validation_seed: int
    stratified: bool


@dataclass
class Selection:
    """Global record indices of each split, and the mix statistics per source."""

    train: np.ndarray
    validation: np.ndarray
    mix: list[dict[str, Any]]


def select(spec: MixSpec, source: np.ndarray, cost: np.ndarray, removed: np.ndarray) -> Selection:
    """Train and validation indices per the mix and split rules (unique records only).

    Positions are `positions(n)` integers and each stage's arrays are dropped once
    the next holds what it needs, so the peak stays a few bytes a record.
    """
    n_src = len(spec.names)
    at = positions(len(source))
    unique = [np.flatnonzero((source == i) & ~removed).astype(at) for i in range(n_src)]
    token_mode = spec.total_tokens is not None

    def costs(records: np.ndarray) -> np.ndarray:
        """Budgets count trainable tokens in token mode, records otherwise."""
        return cost[records] if token_mode else np.ones(len(records), dtype=np.int8)

    available = [float(costs(u).sum()) for u in unique]
    caps = spec.caps
    if not token_mode:
        available = [min(a, c) if c else a for a, c in zip(available, caps)]
    budgets = mix.targets(available, spec.ratios, spec.total_tokens)
    if not token_mode:
        budgets = [min(b, c) if c else b for b, c in zip(budgets, caps)]

    picked = []
    for i, u in enumerate(unique):
        have = costs(u)
        sub = mix.select(
            have, min(budgets[i], float(have.sum())), rng(spec.seed, "unique", spec.names[i])
        )
        picked.append(np.sort(u[sub]))
    del unique
    n_unique = [len(p) for p in picked]
    ratio = spec.validation_ratio
    if spec.stratified:
        held = [
            split.holdout(p, ratio, rng(spec.validation_seed, "validation", spec.names[i]))
            for i, p in enumerate(picked)
        ]
    else:
        allp = np.concatenate(picked) if picked else np.empty(0, dtype=at)
        val_all, _ = split.holdout(allp, ratio, rng(spec.validation_seed, "validation"))
        del allp
        held = [(np.intersect1d(val_all, p), np.setdiff1d(p, val_all)) for p in picked]
    del picked

    train_parts, val_parts, stats = [], [], []
    for i, (val, pool) in enumerate(held):
        # When upsampling, `picked` is every unique record, so `pool` is all that is not held out.
        budget = budgets[i] - float(costs(val).sum())
        train = pool[mix.select(costs(pool), budget, rng(spec.seed, "train", spec.names[i]))]
        if token_mode and caps[i]:
            train = mix.cap(train, max(caps[i] - len(val), 0))
        train_parts.append(train)
        val_parts.append(val)
        achieved = len(train) + len(val)
        entry: dict[str, Any] = {
            "ratio": spec.ratios[i],
            "target": round(budgets[i]) if not token_mode else None,
            "achieved": achieved,
            "unique": n_unique[i],
            "train": len(train),
            "validation": len(val),
            "upsampling": round(achieved / n_unique[i], 4) if n_unique[i] else 0.0,
        }
        if token_mode:
            entry["target_tokens"] = round(budgets[i])
            entry["achieved_tokens"] = int(cost[train].sum() + cost[val].sum())
        stats.append(entry)
    del held
    cat = lambda parts: np.concatenate(parts) if parts else np.empty(0, dtype=at)  # noqa: E731
    return Selection(train=cat(train_parts), validation=cat(val_parts), mix=stats)


def leaks(idx: Index, sel: Selection, cfg: NearConfig) -> tuple[np.ndarray, np.ndarray]:
    """Train records that near-duplicate a validation record: (record, validation record of).

    Exact copies cannot cross the split (it is drawn from unique records), but a
    paraphrase can.
    """
    from postmix.dedup import near

    assert idx.bands is not None
    sigs = near.SignatureStore(idx.sigs, cfg.num_perm)
    return near.leaks(idx.bands, sigs, np.unique(sel.train), sel.validation, cfg.threshold)


def without_leaks(sel: Selection, source: np.ndarray, hit: np.ndarray) -> Selection:
    """The selection with every repeat of a leaking record out of train (mix stats follow)."""
    if not len(hit):
        return sel
    keep = ~np.isin(sel.train, hit)
    stats = [dict(s) for s in sel.mix]
    for si, s in enumerate(stats):
        lost = int((~keep & (source[sel.train] == si)).sum())
        s["train"] -= lost
        s["achieved"] -= lost
    return Selection(train=sel.train[keep], validation=sel.validation, mix=stats)
