"""N-gram overlap decontamination: a record matches a benchmark item it shares n-grams with.

Words are normalized (lowercase, punctuation and symbols stripped) and hashed
to 64 bits in numpy (`postmix.dedup.shingle`), the same words and hashing the
near dedup uses. The index is a sorted array of the benchmark n-gram hashes:
checking a batch is one vectorized `searchsorted`, no Python per n-gram.

Rules, per record and benchmark item:
- an item of at least `n` words matches when the record holds one of its
  n-grams and the share of the item's distinct n-grams found is at least
  `min_overlap` (0 = any one n-gram, the GPT-3 / Llama practice);
- an item shorter than `n` words but of at least `min_words` words matches
  when all its words appear in the record as one contiguous run (score 1);
- an item shorter than `min_words` words ("What is Atlantis?") matches only a
  record text that is exactly the item (score 1): found inside longer text, a
  question that short is ordinary language, not a leak.
Items with no word at all cannot match (counted as `unmatchable`).
"""

from __future__ import annotations

import numpy as np

from postmix.decontam.benchmarks import Item
from postmix.decontam.common import Match, Pieces
from postmix.dedup import shingle


class NgramIndex:
    """Hashed n-grams of every benchmark item, built once before the workers fork."""

    def __init__(self, items: list[Item], n: int, min_overlap: float, min_words: int) -> None:
        self.items, self.n, self.min_overlap, self.min_words = items, n, min_overlap, min_words
        pieces = Pieces.of_items(items)
        grams = shingle.ngrams(shingle.words(pieces.texts), n, whole_short=True)
        item = pieces.owner[grams.row]
        entries = np.unique(np.rec.fromarrays([grams.hashes, item, grams.length], names="h,i,n"))
        self._hash = entries["h"]
        self._item = entries["i"].astype(np.int64)
        self._length = entries["n"].astype(np.int64)
        self._total = np.bincount(self._item[self._length == n], minlength=len(items))
        runs = (self._length >= min_words) & (self._length < n)
        self._run_lengths = sorted(set(self._length[runs].tolist()))
        self.unmatchable = len(items) - len(np.unique(self._item))

    def _lookup(self, grams: shingle.Ngrams) -> tuple[np.ndarray, np.ndarray]:
        """(n-gram index, entry index) for every index entry of the same hash and length."""
        lo = np.searchsorted(self._hash, grams.hashes, side="left")
        count = np.searchsorted(self._hash, grams.hashes, side="right") - lo
        gram = np.repeat(np.arange(len(count)), count)
        within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        entry = np.repeat(lo, count) + within
        same = self._length[entry] == grams.length[gram]
        return gram[same], entry[same]

    def _passes(self, words: shingle.Words) -> list[shingle.Ngrams]:
        """The record n-grams to look up: n-grams, runs as long as short items, short texts."""
        whole = shingle.ngrams(words, self.n, whole_short=True)
        full = whole.length == self.n
        exact = whole.length < min(self.min_words, self.n)
        runs = [shingle.ngrams(words, k, whole_short=False) for k in self._run_lengths]
        return [_select(whole, full), *runs, _select(whole, exact)]

    def check(self, records: list[dict], fields: list[str]) -> list[Match | None]:
        pieces = Pieces.of_records(records, fields)
        words = shingle.words(pieces.texts)
        rec, item, score = [np.empty(0, np.int64)], [np.empty(0, np.int64)], [np.empty(0)]
        where = [np.empty((0, 3), np.int64)]
        for k, grams in enumerate(self._passes(words)):
            gram, entry = self._lookup(grams)
            if not len(gram):
                continue
            owner, it = pieces.owner[grams.row[gram]], self._item[entry]
            if k == 0:
                # distinct item n-grams found per (record, item), as a share of the item's
                pair = owner * len(self.items) + it
                _, first = np.unique(
                    np.rec.fromarrays([pair, grams.hashes[gram]]), return_index=True
                )
                keys, at, found = np.unique(pair[first], return_index=True, return_counts=True)
                share = found / self._total[keys % len(self.items)]
                ok = share >= self.min_overlap
                owner, it, share = (
                    keys[ok] // len(self.items),
                    keys[ok] % len(self.items),
                    share[ok],
                )
                gram = gram[first[at[ok]]]
            else:
                share = np.ones(len(gram))
            rec.append(owner)
            item.append(it)
            score.append(share)
            where.append(np.stack([grams.row[gram], grams.start[gram], grams.length[gram]], 1))
        return self._best(pieces, len(records), rec, item, score, where)

    def _best(
        self,
        pieces: Pieces,
        n_records: int,
        rec: list[np.ndarray],
        item: list[np.ndarray],
        score: list[np.ndarray],
        where: list[np.ndarray],
    ) -> list[Match | None]:
        out: list[Match | None] = [None] * n_records
        r, it, sc = np.concatenate(rec), np.concatenate(item), np.concatenate(score)
        if not len(r):
            return out
        loc = np.concatenate(where)
        order = np.lexsort((it, -sc, r))
        first = order[np.r_[True, r[order][1:] != r[order][:-1]]]
        for k in first.tolist():
            piece, start, length = loc[k].tolist()
            words = shingle.words_of(pieces.texts[piece])[start : start + length]
            found = self.items[it[k]]
            out[r[k]] = Match(found.benchmark, found.item_id, float(sc[k]), " ".join(words))
        return out


def _select(grams: shingle.Ngrams, mask: np.ndarray) -> shingle.Ngrams:
    return shingle.Ngrams(
        grams.hashes[mask], grams.row[mask], grams.start[mask], grams.length[mask]
    )
