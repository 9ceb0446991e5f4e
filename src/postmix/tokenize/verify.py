"""The mask verifier: every trained run decodes to exactly its reply and end token."""

from __future__ import annotations

from typing import Any

import numpy as np

from postmix.templates import Span
from postmix.tokenize.layout import Layout, codec
from postmix.tokenize.records import MaskError, Sequences, span_rows


def verify_batch(
    tok: Any,
    batch: Sequences,
    layout: Layout | None = None,
    round_trips: list[str | None] | None = None,
    rows: np.ndarray | None = None,
) -> None:
    """Raise MaskError unless every trained run decodes to exactly its reply (+ end token).

    Trained run k of a sequence must be the smallest run of whole tokens that
    covers its span k (the reply and its end token, `start:end`), and may cover
    beyond it only template text next to the reply (`lo:start`, `end:hi`): what
    a token straddling the edge carries, like the space of `Assistant: Hi` that
    byte-level BPE merges into ` Hi`, or SentencePiece's `▁`.

    With a byte table every sequence is decoded whole and must equal its text
    byte for byte, which fixes each token's position; otherwise (or for a text
    that does not round-trip) each run is decoded by the tokenizer's own
    decoder. `layout` reuses the one tokenization built, `rows` its `span_rows`.

    A text the tokenizer cannot represent exactly (`round_trips[k]` holds what
    it decodes to) is checked against what the tokenizer makes of each reply:
    the run must decode to the reply's own round trip, up to whitespace.
    """
    n = len(batch.texts)
    if not n:
        return
    cd = codec(tok)
    offsets, t = batch.offsets, batch.trained
    ntok = np.diff(offsets)
    before = np.concatenate(([False], t[:-1]))
    before[offsets[:-1][ntok > 0]] = False
    after = np.concatenate((t[1:], [False]))
    after[offsets[1:][ntok > 0] - 1] = False
    run_start = np.flatnonzero(t & ~before)
    run_stop = np.flatnonzero(t & ~after) + 1
    want = np.fromiter(map(len, batch.spans), dtype=np.int64, count=n)
    got = np.bincount(np.searchsorted(offsets, run_start, "right") - 1, minlength=n)
    if (got != want).any():
        k = int(np.flatnonzero(got != want)[0])
        raise MaskError(f"record {batch.records[k]}: {got[k]} trained runs for {want[k]} replies")
    bounds = (span_rows(batch.spans) if rows is None else rows)[:, :4]
    which = np.repeat(np.arange(n), want)
    placed = np.zeros(n, dtype=bool)
    if cd.table is not None and len(bounds):
        lay = layout or Layout(cd.table, batch.ids, offsets, batch.texts)
        placed = lay.ok
        sel = np.flatnonzero(placed[which])
        start, end, lo, hi = (
            lay.byte_offsets(np.repeat(which, 4), bounds.ravel()).reshape(-1, 4)[sel].T
        )
        ts, te, w = run_start[sel], run_stop[sel], which[sel]
        a, first_end = np.maximum(lay.bytes_of(w, ts), 0), lay.bytes_of(w, ts + 1)
        last_start, b = lay.bytes_of(w, te - 1), lay.bytes_of(w, te)
        inside = (lo <= a) & (a <= start) & (end <= b) & (b <= hi)
        bad = np.flatnonzero(~inside | (first_end <= start) | (last_start >= end))
        if len(bad):
            j = bad[0]
            q = sel[j]
            text = batch.texts[which[q]]
            got = text.encode()[a[j] : b[j]].decode(errors="replace")
            raise MaskError(
                f"record {batch.records[which[q]]}: trained tokens decode to {got!r}, "
                f"expected {text[bounds[q, 0] : bounds[q, 1]]!r}"
            )
    rest = np.flatnonzero(~placed[which])
    lossy = [k for k, t in enumerate(round_trips or ()) if t is not None]
    _decode_check(
        cd.backend, batch, which[rest], run_start[rest], run_stop[rest], bounds[rest], set(lossy)
    )


def _decode_check(
    backend: Any,
    batch: Sequences,
    which: np.ndarray,
    run_start: np.ndarray,
    run_stop: np.ndarray,
    bounds: np.ndarray,
    lossy: set[int],
) -> None:
    """Decode each run, and the run less its first or its last token, with the tokenizer's decoder.

    The run must cover its span and neither shorter run may: the trained tokens
    are the smallest token cover of the reply. Runs are decoded after an anchor
    token, since SentencePiece decoders drop a space at the start of the text.
    """
    if not len(which):
        return
    anchor = backend.encode("a", add_special_tokens=False).ids[-1:]
    head = backend.decode(anchor, skip_special_tokens=False)
    seqs = []
    for a, b in zip(run_start.tolist(), run_stop.tolist()):
        seqs += [anchor + batch.ids[x:y].tolist() for x, y in ((a, b), (a + 1, b), (a, b - 1))]
    decoded = backend.decode_batch(seqs, skip_special_tokens=False)
    at_start = (run_start == batch.offsets[which]).tolist()
    for j, (k, row) in enumerate(zip(which.tolist(), bounds)):
        span, text = Span(*map(int, row), -1), batch.texts[k]
        run, less_first, less_last = (
            t[len(head) :] if t.startswith(head) else None for t in decoded[3 * j : 3 * j + 3]
        )
        shorter = [less_first, less_last]
        if at_start[j] and not text.startswith(" "):  # SentencePiece's dummy-prefix space
            run, less_last = (t[1:] if t and t[0] == " " else t for t in (run, less_last))
            shorter = [less_last] if less_first == run else [less_first, less_last]
        reply = text[span.start : span.end]
        if k in lossy and run is not None and _same_after_round_trip(backend, run, reply):
            continue
        covered = run is not None and _covers(run, text, span)
        if not covered or any(t is not None and _covers(t, text, span) for t in shorter):
            raise MaskError(
                f"record {batch.records[k]}: trained tokens decode to {run!r}, "
                f"expected {text[span.start : span.end]!r}"
            )


def _covers(decoded: str, text: str, span: Span) -> bool:
    """Whether `decoded == text[a:b]` for some lo <= a <= start, end <= b <= hi."""
    core = text[span.start : span.end]
    k = decoded.find(core)
    while k >= 0:
        a = span.start - k
        b = a + len(decoded)
        if span.lo <= a and b <= span.hi and text[a:b] == decoded:
            return True
        k = decoded.find(core, k + 1)
    return False


def _same_after_round_trip(backend: Any, run: str, reply: str) -> bool:
    """Whether a trained run decodes to the reply as the tokenizer represents it.

    The reply is encoded and decoded on its own: a normalizing tokenizer maps
    it to the same text it maps it to inside the conversation, up to the
    whitespace at its edges and runs of whitespace, which these tokenizers
    collapse.
    """
    ids = backend.encode(reply, add_special_tokens=False).ids
    want = backend.decode(ids, skip_special_tokens=False)
    return run.split() == want.split()
