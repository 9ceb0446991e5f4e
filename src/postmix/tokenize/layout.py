"""Where tokens lie in their text: the tokenizer's codec, byte layout and character ranges.

For byte-exact tokenizers (byte-level BPE, SentencePiece) the tokens' byte
lengths (`postmix.tokenizer.TokenBytes`) place every token of a chunk with one
numpy cumsum, so text is encoded without offsets; other tokenizers (or a text
the byte table cannot place) use the encoder's character offsets. Whether a
text's tokens spell exactly its bytes is checked 8 bytes at a time (`Words`).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from postmix.tokenize.records import MaskError, cumsum0
from postmix.tokenizer import TokenBytes, token_bytes


def fast_backend(tok: Any) -> Any:
    """The Rust `tokenizers.Tokenizer` behind a Hugging Face tokenizer."""
    from tokenizers import Tokenizer

    backend = getattr(tok, "_tokenizer", tok)
    if not isinstance(backend, Tokenizer):
        raise TypeError("tokenization needs a fast (Rust `tokenizers`) tokenizer")
    return backend


WORD = 8  # bytes compared at once
MASKS = np.array([(1 << 8 * n) - 1 for n in range(WORD + 1)], dtype=np.uint64)


def _words(data: np.ndarray) -> np.ndarray:
    """The little-endian 8-byte word starting at every byte of `data` and at its end."""
    padded = np.concatenate((data, np.zeros(WORD, dtype=np.uint8)))
    return np.ndarray((len(data) + 1,), dtype="<u8", buffer=padded, strides=(1,))


@dataclass(frozen=True)
class Words:
    """A byte table as words: each token's first 8 bytes (`head`, under `mask`), and the blob."""

    table: TokenBytes
    head: np.ndarray
    mask: np.ndarray
    blob: np.ndarray

    @classmethod
    def of(cls, table: TokenBytes) -> Words:
        """Built once per codec, so a chunk gathers one word per token instead of its bytes."""
        blob = _words(table.blob)
        mask = MASKS.take(np.minimum(table.length, WORD))
        return cls(table, blob.take(table.offset) & mask, mask, blob)


@dataclass
class Codec:
    """A tokenizer's Rust backend and byte table, built once per tokenizer and vocabulary size."""

    backend: Any
    table: Words | None
    size: int


_CODECS: weakref.WeakKeyDictionary[Any, Codec] = weakref.WeakKeyDictionary()


def codec(tok: Any) -> Codec:
    """The tokenizer's codec, cached (rebuilt when tokens are added to it)."""
    backend = fast_backend(tok)
    size = backend.get_vocab_size(with_added_tokens=True)
    cached = _CODECS.get(backend)
    if cached is None or cached.size != size:
        table = token_bytes(backend)
        cached = _CODECS[backend] = Codec(backend, table and Words.of(table), size)
    return cached


class Layout:
    """Where the tokens of a flat batch lie in the stream of their decoded bytes.

    Token k covers bytes `cum[k]:cum[k + 1]` of the batch decoded end to end;
    byte 0 of text r is at `origin[r]`. A text is placed (`ok`) when its tokens
    decode to exactly its bytes (after the dummy-prefix space SentencePiece may
    put before it), which fixes where each of its tokens lies.
    """

    def __init__(
        self, words: Words, ids: np.ndarray, offsets: np.ndarray, texts: list[str]
    ) -> None:
        table = words.table
        data = [t.encode() for t in texts]
        nbytes = np.fromiter(map(len, data), dtype=np.int64, count=len(texts))
        length = table.length[ids]
        self.cum = cumsum0(length)
        start = self.cum[offsets[:-1]]
        extra = self.cum[offsets[1:]] - start - nbytes
        phantom = np.zeros(len(texts), dtype=bool)
        maybe = np.flatnonzero(extra == 1)
        if len(maybe):
            first = ids[offsets[maybe]]
            lead = table.blob[np.minimum(table.offset[first], len(table.blob) - 1)]
            phantom[maybe] = (table.length[first] > 0) & (lead == 0x20)
        self.ok = (extra == 0) | phantom
        self.origin = start + phantom
        self.texts = texts
        self._chars: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        lengths = self.cum[offsets[1:]] - start
        want = b"".join(
            (b" " + d if p else d) if ok else bytes(n)
            for d, p, ok, n in zip(data, phantom.tolist(), self.ok.tolist(), lengths.tolist())
        )
        bad = _mismatches(words, ids, length, self.cum, want)
        if len(bad):
            self.ok[np.searchsorted(offsets, bad, "right") - 1] = False

    def byte_offsets(self, which: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """UTF-8 byte offsets of character `positions[i]` in text `which[i]`."""
        wide, first, cum = self._chars or self._char_bytes()
        out = positions.astype(np.int64)
        sel = np.flatnonzero(wide[which])
        if len(sel):
            at = first[which[sel]]
            out[sel] = cum[at + out[sel]] - cum[at]
        return out

    def _char_bytes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which texts are not ASCII, and the UTF-8 offset of each of their characters.

        Character c of such a text k is at `cum[first[k] + c] - cum[first[k]]`:
        one pass over all of them together, built when first asked for.
        """
        wide = np.fromiter((not t.isascii() for t in self.texts), dtype=bool, count=len(self.texts))
        texts = [self.texts[k] for k in np.flatnonzero(wide).tolist()]
        cp = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
        width = 1 + (cp >= 0x80).astype(np.int64) + (cp >= 0x800) + (cp >= 0x10000)
        first = np.zeros(len(self.texts), dtype=np.int64)
        first[wide] = cumsum0(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))[:-1]
        self._chars = wide, first, cumsum0(width)
        return self._chars

    def locate(self, which: np.ndarray, b0: np.ndarray, b1: np.ndarray) -> tuple[np.ndarray, ...]:
        """Token range [ts, te) covering bytes b0:b1 of placed text `which` (batch indices)."""
        ts = np.searchsorted(self.cum[1:], b0 + self.origin[which], "right")
        te = np.searchsorted(self.cum[:-1], b1 + self.origin[which], "left")
        bad = np.flatnonzero(te <= ts)
        if len(bad):
            raise MaskError(f"no token covers bytes {b0[bad[0]]}:{b1[bad[0]]} of its text")
        return ts, te

    def bytes_of(self, which: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Byte offset in text `which` where each token starts (a dummy-prefix space: -1)."""
        return self.cum[tokens] - self.origin[which]


def _mismatches(
    words: Words, ids: np.ndarray, length: np.ndarray, cum: np.ndarray, want: bytes
) -> np.ndarray:
    """The tokens (`length` bytes each) whose bytes differ from bytes `cum[k]:cum[k + 1]` of `want`.

    Compared a word of up to 8 bytes at a time, so the cost follows the tokens,
    not the bytes: every token's first word, then the further words of the
    long ones.
    """
    got = _words(np.frombuffer(want, dtype=np.uint8))
    differ = (got.take(cum[:-1]) & words.mask[ids]) != words.head[ids]
    long = np.flatnonzero(length > WORD)
    if len(long):
        more = (length[long] - 1) // WORD
        tok = np.repeat(long, more)
        at = WORD * (np.arange(1, len(tok) + 1) - np.repeat(cumsum0(more)[:-1], more))
        mask = MASKS.take(np.minimum(length.take(tok) - at, WORD))
        start = words.table.offset[ids[tok]] + at
        seg = ((words.blob.take(start) ^ got.take(cum.take(tok) + at)) & mask) != 0
        differ[tok[seg]] = True
    return np.flatnonzero(differ)


def token_ranges(
    cd: Codec,
    lay: Layout | None,
    offsets: np.ndarray,
    texts: list[str],
    queries: np.ndarray,
    encs: list[Any] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Global token range [ts, te) of each query row (text index, char start, char end)."""
    which, c0, c1 = queries.T
    ts = np.zeros(len(queries), dtype=np.int64)
    te = np.zeros(len(queries), dtype=np.int64)
    placed = np.zeros(len(texts), dtype=bool)
    if lay is not None:
        placed = lay.ok
        sel = np.flatnonzero(placed[which])
        b0, b1 = lay.byte_offsets(np.repeat(which, 2), queries[:, 1:].ravel()).reshape(-1, 2).T
        ts[sel], te[sel] = lay.locate(which[sel], b0[sel], b1[sel])
    rest = np.flatnonzero(~placed[which])
    if encs is None:
        slow = sorted(set(which[rest].tolist()))
        encs = dict(zip(slow, cd.backend.encode_batch([texts[k] for k in slow], False)))
    for q in rest:
        k = int(which[q])
        first, last = char_range(encs[k], int(c0[q]), int(c1[q]))
        ts[q], te[q] = first + offsets[k], last + offsets[k]
    return ts, te


def char_range(enc: Any, start: int, end: int) -> tuple[int, int]:
    """Tokens covering characters start:end from encoder offsets (straddling tokens included)."""
    first = next((t for c in range(start, end) if (t := enc.char_to_token(c)) is not None), None)
    if first is None:
        raise MaskError(f"no token covers characters {start}:{end}")
    last = next(t for c in range(end - 1, start - 1, -1) if (t := enc.char_to_token(c)) is not None)
    return first, last + 1
