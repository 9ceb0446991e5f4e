"""Normalized words and hashed word n-grams of many texts at once, in numpy.

Near dedup (MinHash shingles) and n-gram decontamination both need, for every
text, the 64-bit hashes of its word n-grams. Building n-gram strings per text
in Python costs more than the MinHash itself, so a batch is normalized and
encoded once, and words and n-grams are hashed with array arithmetic over the
batch's bytes: no Python object per word.

Normalization: lowercase; every character that is not a letter, digit or
other word character (punctuation, symbols, whitespace, controls, in every
script) separates words; each CJK ideograph or kana is a word of its own, so
unspaced scripts still get n-grams. `words_of` gives the same words as
strings, for showing a matched n-gram.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

import numpy as np

# Word bytes after lowercasing: ASCII letters/digits and every byte of a non-ASCII character
# (non-ASCII punctuation and spaces are turned into ASCII spaces first, see `_table`).
_WORD_BYTE = np.zeros(256, dtype=bool)
_WORD_BYTE[ord("0") : ord("9") + 1] = True
_WORD_BYTE[ord("a") : ord("z") + 1] = True
_WORD_BYTE[0x80:] = True
_BYTE_VALUE = np.where(_WORD_BYTE, np.arange(1, 257, dtype=np.uint64), np.uint64(0))
_WORD_RE = re.compile(r"[0-9a-z\u0080-\U0010ffff]+")

_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
# Planes 3-13 and 15-16 hold no separators (unassigned or private use): skip them when building.
_ASSIGNED = (range(0x80, 0x30000), range(0xE0000, 0xE1000))
_SEPARATOR_CATEGORIES = ("P", "S", "Z", "Cc", "Cf")

_P = np.uint64(0x9E3779B97F4A7C15)  # odd multipliers: byte-in-word and word-in-n-gram positions
_Q = 0xC2B2AE3D27D4EB4F
_MASK = (1 << 64) - 1
BATCH_BYTES = 1 << 21  # texts hashed per numpy pass: bounds the temporaries to ~100 MB


@cache
def _table() -> dict[int, str]:
    """str.translate table for non-ASCII text: separators to a space, CJK characters spaced out."""
    table: dict[int, str] = {}
    for cp in (cp for block in _ASSIGNED for cp in block):
        if unicodedata.category(chr(cp)).startswith(_SEPARATOR_CATEGORIES):
            table[cp] = " "
    for lo, hi in _CJK_RANGES:
        for cp in range(lo, hi + 1):
            table.setdefault(cp, f" {chr(cp)} ")
    return table


def normalize(text: str) -> str:
    """Lowercased text whose non-ASCII separators are spaces (ASCII ones are handled as bytes)."""
    text = text.lower()
    return text if text.isascii() else text.translate(_table())


def words_of(text: str) -> list[str]:
    """The normalized words of one text, exactly the ones `words` hashes."""
    return _WORD_RE.findall(normalize(text))


def mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: spreads polynomial hashes over all 64 bits."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@dataclass
class Words:
    """Hashed words of a batch of texts: word i belongs to text `row[i]`, in text order."""

    hashes: np.ndarray  # uint64, one per word
    row: np.ndarray  # int64, non-decreasing
    n_rows: int

    def counts(self) -> np.ndarray:
        return np.bincount(self.row, minlength=self.n_rows)


def _powers(size: int) -> tuple[np.ndarray, np.ndarray]:
    """P**i and P**-i mod 2**64 for i < size (P is odd, hence invertible)."""
    inverse = np.uint64(pow(int(_P), -1, 1 << 64))
    return (
        np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _P)]),
        np.cumprod(np.r_[np.uint64(1), np.full(size - 1, inverse)]),
    )


_cached_powers = cache(_powers)


def _hash_chunk(encoded: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Word hashes and their text index for texts joined by a separator byte.

    A word's hash is the polynomial sum of its bytes at their positions in the
    chunk, shifted back to position 0 by the inverse power of its start: one
    multiply and one segmented sum for the whole chunk.
    """
    buf = np.frombuffer(b" ".join(encoded), dtype=np.uint8)
    word = _WORD_BYTE[buf]
    begins = word.copy()
    begins[1:] &= ~word[:-1]
    starts = np.flatnonzero(begins)
    if not len(starts):
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    # one text longer than a batch gets its own, uncached, powers
    fits = len(buf) <= BATCH_BYTES
    power, inverse = _cached_powers(BATCH_BYTES) if fits else _powers(len(buf))
    terms = _BYTE_VALUE[buf] * power[: len(buf)]
    hashes = mix64(np.add.reduceat(terms, starts) * inverse[starts])
    text_starts = np.cumsum([0] + [len(e) + 1 for e in encoded[:-1]])
    return hashes, np.searchsorted(text_starts, starts, side="right") - 1


def words(texts: list[str]) -> Words:
    """Hash the normalized words of every text; batch-independent (a word's hash is its bytes')."""
    encoded = [normalize(t).encode() for t in texts]
    hashes, rows, first, size = [], [], 0, 0
    for i, e in enumerate([*encoded, None]):
        if e is None or (size + len(e) > BATCH_BYTES and i > first):
            h, r = _hash_chunk(encoded[first:i])
            hashes.append(h)
            rows.append(r + first)
            first, size = i, 0
        if e is not None:
            size += len(e) + 1
    return Words(np.concatenate(hashes), np.concatenate(rows), len(texts))


@dataclass
class Ngrams:
    """Hashed n-grams: n-gram i comes from text `row[i]`, starting at its word `start[i]`."""

    hashes: np.ndarray  # uint64
    row: np.ndarray  # int64, non-decreasing
    start: np.ndarray  # int64, word index within its text
    length: np.ndarray  # int64, words in the n-gram (n, or fewer for a whole short text)


def ngrams(w: Words, n: int, *, whole_short: bool) -> Ngrams:
    """Hashes of every run of `n` consecutive words inside one text.

    With `whole_short`, a text of 1..n-1 words gets one n-gram made of all its
    words; its hash equals that of the same words as a `len(words)`-gram of a
    longer text, which is how short benchmark questions are found inside
    training text.
    """
    total = len(w.hashes)
    counts = w.counts()
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    padded = np.concatenate([w.hashes, np.zeros(n, np.uint64)])
    acc = np.zeros(total, np.uint64)
    weight = 1
    short_rows = np.empty(0, np.int64)
    short_hashes = np.empty(0, np.uint64)
    for k in range(n):
        acc += padded[k : k + total] * np.uint64(weight)
        weight = (weight * _Q) & _MASK
        if whole_short and k < n - 1:
            rows = np.flatnonzero(counts == k + 1)
            short_rows = np.concatenate([short_rows, rows])
            short_hashes = np.concatenate([short_hashes, acc[first[rows]]])
    starts = np.arange(max(total - n + 1, 0), dtype=np.int64)
    full = starts[w.row[starts] == w.row[starts + n - 1]] if len(starts) else starts
    row = np.concatenate([w.row[full], short_rows])
    start = np.concatenate([full - first[w.row[full]], np.zeros(len(short_rows), np.int64)])
    length = np.concatenate([np.full(len(full), n, np.int64), counts[short_rows]])
    hashes = mix64(np.concatenate([acc[full], short_hashes]))
    order = np.argsort(row, kind="stable")
    return Ngrams(hashes[order], row[order], start[order], length[order])
