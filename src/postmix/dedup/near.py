"""Near-duplicate removal: MinHash LSH over word shingles, resolved on arrays.

Stage one (forked workers, per batch of records)::

    sk = sketch(batch, cfg)  # signatures: uint32 (n, num_perm); keys: uint64 (n, bands)
    sig_file.write(sk.signatures.tobytes())  # a file next to the spill file
    keys.append(sk.keys)  # returned with the other per-record arrays

Main process, on arrays only (no text is ever held)::

    sigs = SignatureStore([...paths in record order...], cfg.num_perm)
    dup_of = resolve(keys, rank, sigs, cfg.threshold)                # -1 kept, else kept index
    dup_of = resolve_against(keys, rank, sigs, cfg.threshold, reference=m1, target=m2)
    train_rows, val_rows = leaks(keys, sigs, train_idx, val_idx, cfg.threshold)

Signatures are rensa's R-MinHash (a well-kept Rust implementation; ~10x
datasketch) over 64-bit hashes of normalized word n-grams (`shingle`). Band
keys group candidates; a band collision alone is not trusted: every candidate
pair is verified on the full signatures read back from the signature files
(equal slots / num_perm, an unbiased Jaccard estimate, must reach the
threshold less a small statistical slack, see `slots_needed`). So a removed
record always names a kept record it was verified against, and chains of
band collisions never merge unrelated records.

Memory, per record: band keys 8 B x bands (168 B at the 0.8 default) in RAM;
the signature, 4 B x num_perm (512 B), on disk in a memmap (the page cache
holds what verification touches); ~40 B of per-band temporaries (one band at
a time) and ~16 B per candidate pair. One 128 GB machine therefore resolves
about 500M records (84 GB of keys; 256 GB of signatures on disk); 1M records
resolve in ~1.5 s.

rensa runs its batches on a Rayon thread pool, and a Rayon pool does not
survive fork(): a worker forked after the parent used rensa hangs forever.
The pool is therefore created here with a single thread (parallelism comes
from the worker processes), which forked children can use safely.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from postmix.dedup import shingle
from postmix.dedup.config import NearConfig
from postmix.schema import all_text, prompt_text


def _import_rensa_single_threaded() -> Any:
    """Import rensa and start its thread pool with one thread (see the module docstring)."""
    previous = os.environ.get("RAYON_NUM_THREADS")
    os.environ["RAYON_NUM_THREADS"] = "1"
    try:
        import rensa

        warm = np.arange(4096, dtype=np.uint64)
        rensa.RMinHash.digest_matrix_from_flat_token_hashes(warm, np.arange(4097), 8, 0)
    finally:
        if previous is None:
            del os.environ["RAYON_NUM_THREADS"]
        else:
            os.environ["RAYON_NUM_THREADS"] = previous
    return rensa


rensa = _import_rensa_single_threaded()

VERIFY_Z = 1.28  # verification slack, in binomial standard errors of the Jaccard estimate
WINDOW = 4  # per band bucket, each record is compared with the first and the previous WINDOW
VERIFY_CHUNK = 65_536  # candidate pairs compared per numpy pass


def text_of(rec: dict[str, Any], field: str) -> str:
    """The text a record is compared by: its prompt, or the whole conversation."""
    return prompt_text(rec) if field == "prompt" else all_text(rec)


def signatures(texts: list[str], cfg: NearConfig) -> np.ndarray:
    """R-MinHash signatures (uint32, n x num_perm) of the texts' word shingles.

    A text with no word gets the empty signature (all slots 0xFFFFFFFF); its
    band keys are 0 and it is never a candidate.
    """
    grams = shingle.ngrams(shingle.words(texts), cfg.shingle, whole_short=True)
    offsets = np.zeros(len(texts) + 1, dtype=np.uint64)
    np.cumsum(np.bincount(grams.row, minlength=len(texts)), out=offsets[1:])
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
        grams.hashes, offsets, cfg.num_perm, cfg.seed
    )
    flat = itertools.chain.from_iterable(matrix.to_rows())
    return np.fromiter(flat, dtype=np.uint32, count=len(texts) * cfg.num_perm).reshape(
        len(texts), cfg.num_perm
    )


def band_keys(sig: np.ndarray, cfg: NearConfig) -> np.ndarray:
    """One 64-bit key per band (uint64, n x bands); 0 marks an empty text."""
    bands, rows = cfg.bands
    n = len(sig)
    cells = sig[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    key = np.zeros((n, bands), dtype=np.uint64)
    for r in range(rows):
        key = shingle.mix64(key ^ cells[:, :, r] ^ np.uint64(r << 32))
    key[key == 0] = 1
    key[(sig == np.uint32(0xFFFFFFFF)).all(axis=1)] = 0
    return key


class Signatures(Protocol):
    """Row access to signatures by record index: an array, a memmap or a SignatureStore."""

    def __getitem__(self, index: np.ndarray) -> np.ndarray: ...


class SignatureStore:
    """Signature files written by the workers, read back lazily as one (n, num_perm) array.

    `order[i]` is the row, in the concatenation of the files, of record i (the
    main process may reorder records; the default keeps file order).
    """

    def __init__(
        self, paths: list[str | Path], num_perm: int, order: np.ndarray | None = None
    ) -> None:
        row_bytes = 4 * num_perm
        self._maps = [
            np.memmap(p, dtype=np.uint32, mode="r").reshape(-1, num_perm)
            if os.path.getsize(p)
            else np.empty((0, num_perm), np.uint32)
            for p in paths
        ]
        sizes = [os.path.getsize(p) // row_bytes for p in paths]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._order = order
        self.num_perm = num_perm

    def __len__(self) -> int:
        return len(self._order) if self._order is not None else int(self._starts[-1])

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        rows = self._order[index] if self._order is not None else np.asarray(index)
        file_of = np.searchsorted(self._starts, rows, side="right") - 1
        out = np.empty((len(rows), self.num_perm), dtype=np.uint32)
        for f in np.unique(file_of):
            sel = file_of == f
            out[sel] = self._maps[f][rows[sel] - self._starts[f]]
        return out


def _priority(rank: np.ndarray) -> np.ndarray:
    """Records in keep order: by rank, then by index (so equal ranks are still a total order)."""
    return np.argsort(np.asarray(rank), kind="stable")


def _pairs(keys: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (earlier, later) in positions of `order`, deduplicated.

    Per band, records with equal keys form a bucket, kept in `order`; each
    member is paired with the bucket's first WINDOW members and its WINDOW
    predecessors. That bounds pairs per record while a real duplicate (which
    shares many bands with its original) is still paired with it.
    """
    n = len(order)
    codes = []
    for band in range(keys.shape[1]):
        col = keys[order, band]
        shared = _maybe_shared(col)
        sort = shared[np.argsort(col[shared], kind="stable")]
        ks = col[sort]
        same = np.flatnonzero(ks[1:] == ks[:-1])
        if not len(same):
            continue
        head = np.r_[True, ks[1:] != ks[:-1]]
        group_start = np.maximum.accumulate(np.where(head, np.arange(len(ks)), 0))
        later = same + 1
        for d in range(1, WINDOW + 1):
            prev = later[later - d >= group_start[later]] - d
            codes.append(_code(sort[prev], sort[prev + d], n))
        for d in range(WINDOW):
            first = group_start[later] + d
            ok = first < later
            codes.append(_code(sort[first[ok]], sort[later[ok]], n))
    if not codes:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    unique = np.unique(np.concatenate(codes))
    return unique // n, unique % n


def _maybe_shared(col: np.ndarray) -> np.ndarray:
    """Positions whose key may occur twice (a superset), in order: what is worth sorting.

    Counting keys by their low bits in ~4 buckets per key is one linear pass
    and leaves about a fifth of the column; sorting only that is ~5x faster.
    """
    bits = min(max(len(col).bit_length() + 2, 16), 26)  # counts: at most 512 MB
    low = (col & np.uint64((1 << bits) - 1)).astype(np.int64)
    counts = np.bincount(low, minlength=1 << bits)
    return np.flatnonzero((counts[low] > 1) & (col != 0))


def _code(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """One int64 per pair (a, b) with a < b (positions in keep order)."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return lo.astype(np.int64) * n + hi


def slots_needed(threshold: float, num_perm: int) -> int:
    """Equal signature slots that make a candidate pair a near duplicate.

    The estimate (equal slots / num_perm) is unbiased but noisy, so a pair
    exactly at the threshold would pass only half the time. Accepting down to
    VERIFY_Z binomial standard errors below the threshold (0.045 at 0.8/128)
    keeps >= 90% of pairs at the threshold, while a pair 0.1 below it passes
    well under 1% of the time.
    """
    slack = VERIFY_Z * math.sqrt(threshold * (1 - threshold) / num_perm)
    return math.ceil((threshold - slack) * num_perm - 1e-9)


def _verified(
    a: np.ndarray, b: np.ndarray, sigs: Signatures, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """The candidate pairs (record indices) whose signatures agree enough."""
    keep = np.zeros(len(a), dtype=bool)
    for lo in range(0, len(a), VERIFY_CHUNK):
        sa, sb = sigs[a[lo : lo + VERIFY_CHUNK]], sigs[b[lo : lo + VERIFY_CHUNK]]
        need = slots_needed(threshold, sa.shape[1])
        keep[lo : lo + VERIFY_CHUNK] = (sa == sb).sum(axis=1) >= need
    return a[keep], b[keep]


def resolve(keys: np.ndarray, rank: np.ndarray, sigs: Signatures, threshold: float) -> np.ndarray:
    """dup_of (int64): -1 for a kept record, else the index of the kept record it duplicates.

    Greedy in keep order (ascending `rank`, then index): a record is removed
    when it is a verified near duplicate of an already kept record, and then
    names the first such record. Removed records never remove others, so a
    chain A~B~C with A !~ C keeps A and C.
    """
    n = len(keys)
    dup_of = np.full(n, -1, dtype=np.int64)
    order = _priority(rank)
    early, late = _pairs(keys, order)
    if not len(early):
        return dup_of
    a, b = _verified(order[early], order[late], sigs, threshold)
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    early, late = position[a], position[b]
    sort = np.lexsort((early, late))
    kept = bytearray(b"\x01") * n
    parent_of = np.full(n, -1, dtype=np.int64)
    # later records after earlier ones, each with its candidates in keep order: a record's
    # fate is final before any later record looks at it
    for node, parent in zip(late[sort].tolist(), early[sort].tolist()):
        if kept[node] and kept[parent]:
            kept[node] = 0
            parent_of[node] = parent
    removed = np.flatnonzero(parent_of >= 0)
    dup_of[order[removed]] = order[parent_of[removed]]
    return dup_of


def resolve_against(
    keys: np.ndarray,
    rank: np.ndarray,
    sigs: Signatures,
    threshold: float,
    *,
    reference: np.ndarray,
    target: np.ndarray,
) -> np.ndarray:
    """One-sided: dup_of[i] = the first (by rank) `reference` record that target i duplicates.

    Reference records are never removed, and targets are not compared with
    each other; records in neither mask are left alone (-1).
    """
    reference, target = np.asarray(reference, bool), np.asarray(target, bool)
    n = len(keys)
    dup_of = np.full(n, -1, dtype=np.int64)
    live = np.flatnonzero(reference | target)
    # references first (in rank order), then targets: bucket heads are references
    order = live[np.lexsort((np.arange(len(live)), np.asarray(rank)[live], target[live]))]
    early, late = _pairs(keys, order)
    a, b = order[early], order[late]
    cross = reference[a] & target[b]
    a, b = _verified(a[cross], b[cross], sigs, threshold)
    if not len(b):
        return dup_of
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(len(order))
    sort = np.lexsort((position[a], b))
    first = np.r_[True, b[sort][1:] != b[sort][:-1]]
    dup_of[b[sort][first]] = a[sort][first]
    return dup_of


def leaks(
    keys: np.ndarray,
    sigs: Signatures,
    train: np.ndarray,
    validation: np.ndarray,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Train records that near-duplicate a validation record: (train index, validation index).

    `train` and `validation` are record indices into `keys`/`sigs`; the
    validation record named is the first of `validation` order that matches.
    """
    n = len(keys)
    rank = np.zeros(n, dtype=np.int64)
    rank[validation] = np.arange(len(validation))
    reference = np.zeros(n, dtype=bool)
    reference[validation] = True
    target = np.zeros(n, dtype=bool)
    target[train] = True
    dup_of = resolve_against(
        keys, rank, sigs, threshold, reference=reference, target=target & ~reference
    )
    hit = np.flatnonzero(dup_of >= 0)
    return hit, dup_of[hit]


@dataclass
class Sketch:
    """What one worker batch yields: signatures to spill, band keys to return."""

    signatures: np.ndarray
    keys: np.ndarray


def sketch(records: list[dict[str, Any]], cfg: NearConfig) -> Sketch:
    """Signatures and band keys of a batch of canonical records (worker side)."""
    sig = signatures([text_of(r, cfg.field) for r in records], cfg)
    return Sketch(sig, band_keys(sig, cfg))
