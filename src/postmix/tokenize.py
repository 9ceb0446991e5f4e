"""Canonical records → token ids and loss labels, a batch at a time, with a built-in verifier.

Each record is rendered whole by the template's renderer and encoded whole by
the Rust tokenizer, a chunk of records per call: the full string, exactly as
inference sees it, never segments glued together. Labels come from the reply
character spans. For byte-exact tokenizers (byte-level BPE, SentencePiece) the
tokens' byte lengths (`postmix.tokenizer.TokenBytes`) place every token of a
chunk with one numpy cumsum, so text is encoded without offsets and labels are
set with vectorized numpy; other tokenizers (or a text the byte table cannot
place) use the encoder's character offsets. `verify_batch` then checks that
every trained run decodes to exactly its reply and end token.

What each kind produces (what TRL consumes pre-tokenized):
- sft: `input_ids` + `labels` (-100 where not trained); SFTTrainer takes them as is.
- text: the same, every token trained, eos appended.
- preference: `prompt_ids`, `chosen_ids`, `rejected_ids` (the keys of TRL's
  DPO collator): the shared prompt with its generation prompt, then each side's
  reply tokens through its end token.
- prompt: `input_ids` of the prompt with the generation prompt (RL / GRPO).
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain
from typing import Any, Literal

import numpy as np

from postmix.templates import Renderer, Span, TemplateError
from postmix.tokenizer import TokenBytes, token_bytes

IGNORE = -100
CHUNK = 512  # records per encoder call
TRAIN_ON = ("all_assistant", "last_assistant", "all")
OVER_LENGTH = ("drop", "truncate", "error")
TrainOn = Literal["all_assistant", "last_assistant", "all"]
OverLength = Literal["drop", "truncate", "error"]


class OverLengthError(ValueError):
    """A record longer than max_length under `over_length: error`."""


class MaskError(ValueError):
    """Trained tokens that do not decode to exactly the replies they should train."""


@dataclass(slots=True)
class TokenizedRecord:
    """One record's ids (numpy int32); which fields are set depends on the kind (module doc)."""

    id: Any
    kind: str
    input_ids: np.ndarray | None = None
    labels: np.ndarray | None = None
    prompt_ids: np.ndarray | None = None
    chosen_ids: np.ndarray | None = None
    rejected_ids: np.ndarray | None = None
    truncated: bool = False

    @property
    def n_tokens(self) -> int:
        if self.kind == "preference":
            return len(self.prompt_ids) + len(self.chosen_ids) + len(self.rejected_ids)
        return len(self.input_ids)

    @property
    def n_trainable(self) -> int:
        if self.kind == "preference":
            return len(self.chosen_ids) + len(self.rejected_ids)
        if self.labels is None:
            return 0
        return int(np.count_nonzero(self.labels != IGNORE))


@dataclass
class Sequences:
    """A batch of token sequences laid flat, and the spans each must train: what is verified.

    Sequence k is `ids[offsets[k]:offsets[k + 1]]`; `trained` marks the tokens
    with a label; `spans[k]` lists, in order, the text spans its trained runs
    must decode to.
    """

    ids: np.ndarray
    trained: np.ndarray
    offsets: np.ndarray
    texts: list[str]
    spans: list[list[Span]]
    records: list[Any]

    @classmethod
    def of(cls, items: Iterable[tuple[np.ndarray, np.ndarray, str, list[Span], Any]]) -> Sequences:
        """From (ids, trained, text, spans, record id) per sequence."""
        rows = list(items)
        lengths = np.fromiter((len(r[0]) for r in rows), dtype=np.int64, count=len(rows))
        return cls(
            np.concatenate([np.zeros(0, np.int32)] + [r[0] for r in rows]),
            np.concatenate([np.zeros(0, bool)] + [r[1] for r in rows]).astype(bool),
            _cumsum0(lengths),
            [r[2] for r in rows],
            [r[3] for r in rows],
            [r[4] for r in rows],
        )


@dataclass(slots=True)
class _Plan:
    index: int
    rec: dict[str, Any]
    texts: list[str]
    spans: list[list[Span]]
    prompt_chars: int = 0


def fast_backend(tok: Any) -> Any:
    """The Rust `tokenizers.Tokenizer` behind a Hugging Face tokenizer."""
    from tokenizers import Tokenizer

    backend = getattr(tok, "_tokenizer", tok)
    if not isinstance(backend, Tokenizer):
        raise TypeError("tokenization needs a fast (Rust `tokenizers`) tokenizer")
    return backend


@dataclass
class Codec:
    """A tokenizer's Rust backend and byte table, built once per tokenizer and vocabulary size."""

    backend: Any
    table: TokenBytes | None
    size: int


_CODECS: weakref.WeakKeyDictionary[Any, Codec] = weakref.WeakKeyDictionary()


def codec(tok: Any) -> Codec:
    """The tokenizer's codec, cached (rebuilt when tokens are added to it)."""
    backend = fast_backend(tok)
    size = backend.get_vocab_size(with_added_tokens=True)
    cached = _CODECS.get(backend)
    if cached is None or cached.size != size:
        cached = _CODECS[backend] = Codec(backend, token_bytes(backend), size)
    return cached


def _cumsum0(a: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(a, dtype=np.int64)))


class _Layout:
    """Where the tokens of a flat batch lie in the stream of their decoded bytes.

    Token k covers bytes `cum[k]:cum[k + 1]` of the batch decoded end to end;
    byte 0 of text r is at `origin[r]`. A text is placed (`ok`) when its tokens
    decode to exactly its bytes (after the dummy-prefix space SentencePiece may
    put before it), which fixes where each of its tokens lies.
    """

    def __init__(
        self, table: TokenBytes, ids: np.ndarray, offsets: np.ndarray, texts: list[str]
    ) -> None:
        data = [t.encode() for t in texts]
        nbytes = np.fromiter(map(len, data), dtype=np.int64, count=len(texts))
        self.cum = _cumsum0(table.length[ids])
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
        self._widths: dict[int, np.ndarray] = {}
        decoded = table.decode(ids)
        plain = np.delete(decoded, start[phantom]) if phantom.any() else decoded
        if not (self.ok.all() and plain.tobytes() == b"".join(data)):
            raw = decoded.tobytes()
            for k in np.flatnonzero(self.ok).tolist():
                a = int(self.origin[k])
                self.ok[k] = raw[a : a + int(nbytes[k])] == data[k]

    def byte_offsets(self, which: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """UTF-8 byte offsets of character `positions[i]` in text `which[i]` (`which` sorted)."""
        out = positions.astype(np.int64)
        wide = [k for k in np.unique(which).tolist() if not self.texts[k].isascii()]
        lo, hi = np.searchsorted(which, wide), np.searchsorted(which, wide, "right")
        for k, a, b in zip(wide, lo.tolist(), hi.tolist()):
            if k not in self._widths:
                cp = np.frombuffer(self.texts[k].encode("utf-32-le"), dtype=np.uint32)
                width = 1 + (cp >= 0x80).astype(np.int64) + (cp >= 0x800) + (cp >= 0x10000)
                self._widths[k] = _cumsum0(width)
            out[a:b] = self._widths[k][out[a:b]]
        return out

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


def _token_ranges(
    cd: Codec,
    lay: _Layout | None,
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
        first, last = _char_range(encs[k], int(c0[q]), int(c1[q]))
        ts[q], te[q] = first + offsets[k], last + offsets[k]
    return ts, te


def _char_range(enc: Any, start: int, end: int) -> tuple[int, int]:
    """Tokens covering characters start:end from encoder offsets (straddling tokens included)."""
    first = next((t for c in range(start, end) if (t := enc.char_to_token(c)) is not None), None)
    if first is None:
        raise MaskError(f"no token covers characters {start}:{end}")
    last = next(t for c in range(end - 1, start - 1, -1) if (t := enc.char_to_token(c)) is not None)
    return first, last + 1


def tokenize_batch(
    records: Sequence[dict[str, Any]],
    tok: Any,
    renderer: Renderer,
    *,
    train_on: TrainOn = "all_assistant",
    max_length: int | None = None,
    over_length: OverLength = "drop",
    verify: bool = True,
) -> list[TokenizedRecord | str]:
    """Tokenize canonical records; a string in the result is the record's drop reason.

    Drop reasons: `empty_reply` (an assistant turn with nothing in it),
    `empty_text`, `no_trained_tokens` (every reply excluded by `train_on` or
    `train: false`), `too_long` (`over_length: drop`) and `prompt_too_long`
    (`truncate` would leave no trained token). The arrays of one chunk of
    records are views into shared buffers.

    Records go through in chunks of CHUNK: while the Rust encoder (which
    releases the GIL) encodes one chunk on a helper thread, Python renders the
    next and labels and verifies the previous one.
    """
    if train_on not in TRAIN_ON:
        raise ValueError(f"train_on must be one of {TRAIN_ON}, not {train_on!r}")
    if over_length not in OVER_LENGTH:
        raise ValueError(f"over_length must be one of {OVER_LENGTH}, not {over_length!r}")
    cd = codec(tok)
    out: list[TokenizedRecord | str] = [""] * len(records)
    with ThreadPoolExecutor(1) as pool:
        pending = None
        for start in range(0, len(records), CHUNK):
            plans = []
            for i in range(start, min(start + CHUNK, len(records))):
                plan = _plan(i, records[i], renderer, train_on)
                if isinstance(plan, str):
                    out[i] = plan
                else:
                    plans.append(plan)
            texts = [text for p in plans for text in p.texts]
            job = plans, texts, pool.submit(_encode, cd, texts)
            if pending:
                _finish(tok, cd, *pending, out, verify)
            pending = job
        if pending:
            _finish(tok, cd, *pending, out, verify)
    if max_length is not None:
        out = [r if isinstance(r, str) else fit(r, max_length, over_length) for r in out]
    return out


def _encode(cd: Codec, texts: list[str]) -> list[Any]:
    """One encoder call for a chunk (with character offsets only when there is no byte table)."""
    if cd.table is not None:
        return cd.backend.encode_batch_fast(texts, add_special_tokens=False)
    return cd.backend.encode_batch(texts, add_special_tokens=False)


def _finish(
    tok: Any,
    cd: Codec,
    plans: list[_Plan],
    texts: list[str],
    encoding: Future[list[Any]],
    out: list[TokenizedRecord | str],
    verify: bool,
) -> None:
    """Labels of a chunk of encoded records, verified, into `out`."""
    encs = encoding.result()
    encoded = [e.ids for e in encs]
    offsets = _cumsum0(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
    ids = np.fromiter(chain.from_iterable(encoded), dtype=np.int32, count=int(offsets[-1]))
    spans = [s for p in plans for s in p.spans]
    lay = _Layout(cd.table, ids, offsets, texts) if cd.table is not None else None
    queries = np.array(
        [(k, s.start, s.end) for k, text_spans in enumerate(spans) for s in text_spans],
        dtype=np.int64,
    ).reshape(-1, 3)
    ts, te = _token_ranges(cd, lay, offsets, texts, queries, None if lay else encs)
    size = len(ids) + 1
    trained = np.cumsum(np.bincount(ts, minlength=size) - np.bincount(te, minlength=size))[:-1] > 0
    first_query = _cumsum0(np.fromiter(map(len, spans), dtype=np.int64, count=len(spans)))
    first_text = _cumsum0(np.fromiter((len(p.texts) for p in plans), dtype=np.int64))[:-1]
    for p, k in zip(plans, first_text.tolist()):
        if p.rec["kind"] == "preference":
            starts = ts[first_query[k]], ts[first_query[k + 1]]
            out[p.index] = _pair(p, ids, offsets, k, trained, starts)
    labels = np.where(trained, ids, IGNORE).astype(np.int32)
    for p, a, b in zip(plans, offsets[first_text].tolist(), offsets[first_text + 1].tolist()):
        kind = p.rec["kind"]
        if kind != "preference":
            out[p.index] = TokenizedRecord(
                p.rec.get("id"),
                kind,
                input_ids=ids[a:b],
                labels=None if kind == "prompt" else labels[a:b],
            )
    if verify:
        records_of = [p.rec.get("id") for p in plans for _ in p.texts]
        verify_batch(tok, Sequences(ids, trained, offsets, texts, spans, records_of), lay)


def _pair(
    p: _Plan,
    ids: np.ndarray,
    offsets: np.ndarray,
    k: int,
    trained: np.ndarray,
    reply_starts: tuple[int, int],
) -> TokenizedRecord:
    """Split both sides at their first reply token; the prompt is the part both share."""
    chosen, rejected = ids[offsets[k] : offsets[k + 1]], ids[offsets[k + 1] : offsets[k + 2]]
    cut = min(reply_starts[0] - int(offsets[k]), reply_starts[1] - int(offsets[k + 1]))
    differ = np.flatnonzero(chosen[:cut] != rejected[:cut])
    n = int(differ[0]) if len(differ) else cut
    trained[offsets[k] + n : offsets[k + 1]] = True
    trained[offsets[k + 1] + n : offsets[k + 2]] = True
    return TokenizedRecord(
        p.rec.get("id"),
        "preference",
        prompt_ids=chosen[:n],
        chosen_ids=chosen[n:],
        rejected_ids=rejected[n:],
    )


def _empty_reply(m: dict[str, Any]) -> bool:
    content = m.get("content")
    return (not content or content.isspace()) and not m.get("tool_calls")


def _plan(i: int, rec: dict[str, Any], renderer: Renderer, train_on: str) -> _Plan | str:
    """Render one record: the texts to encode and the spans to train in each."""
    kind = rec["kind"]
    if kind == "text":
        body = rec.get("text") or ""
        if not body or body.isspace():
            return "empty_text"
        if not renderer.eos:
            raise ValueError("text records end with the eos token; the tokenizer has none")
        text = renderer.bos + body + renderer.eos
        s = len(renderer.bos)
        return _Plan(i, rec, [text], [[Span(s, len(text), s, len(text), -1)]])
    msgs = rec["messages"]
    sides = [rec.get("chosen") or [], rec.get("rejected") or []] if kind == "preference" else []
    parts = (msgs, *sides)
    if not all(sides) or any(
        _empty_reply(m) for part in parts for m in part if m["role"] == "assistant"
    ):
        return "empty_reply"
    tools = rec.get("tools")
    if kind == "prompt":
        return _Plan(i, rec, [renderer.render(msgs, True, tools)[0]], [[]])
    if kind == "preference":
        return _plan_pair(i, rec, renderer, sides)
    text, spans = renderer.render(msgs, False, tools)
    if train_on == "all":
        trained = [Span(0, len(text), 0, len(text), -1)]
    else:
        trained = [s for s in spans if msgs[s.index].get("train", True) is not False]
        if train_on == "last_assistant":
            trained = [s for s in trained[-1:] if s.index == spans[-1].index]
    if not trained:
        return "no_trained_tokens"
    return _Plan(i, rec, [text], [trained])


def _plan_pair(
    i: int, rec: dict[str, Any], renderer: Renderer, sides: list[list[dict[str, Any]]]
) -> _Plan:
    """Prompt + each side, cut right after the side's last end token."""
    msgs, tools = rec["messages"], rec.get("tools")
    prompt = renderer.render(msgs, True, tools)[0]
    texts, checks = [], []
    for side in sides:
        text, spans = renderer.render(msgs + side, False, tools)
        own = [s for s in spans if s.index >= len(msgs)]
        if not own or not text.startswith(prompt):
            raise TemplateError("the rendered prompt is not a prefix of prompt + reply")
        text = text[: own[-1].end]
        texts.append(text)
        checks.append([Span(len(prompt), len(text), own[0].lo, len(text), -1)])
    return _Plan(i, rec, texts, checks, len(prompt))


def fit(r: TokenizedRecord, max_length: int, policy: OverLength) -> TokenizedRecord | str:
    """Apply the over-length policy: keep, drop, raise, or truncate keeping a trained token."""
    if r.kind == "preference":
        n = len(r.prompt_ids) + max(len(r.chosen_ids), len(r.rejected_ids))
    else:
        n = len(r.input_ids)
    if n <= max_length:
        return r
    if policy == "error":
        raise OverLengthError(f"record {r.id}: {n} tokens > max_length {max_length}")
    if policy == "drop":
        return "too_long"
    if r.kind == "preference":
        room = max_length - len(r.prompt_ids)
        if room < 1:
            return "prompt_too_long"
        return dataclasses.replace(
            r, chosen_ids=r.chosen_ids[:room], rejected_ids=r.rejected_ids[:room], truncated=True
        )
    if r.kind == "prompt":
        return dataclasses.replace(r, input_ids=r.input_ids[-max_length:], truncated=True)
    labels = r.labels[:max_length]
    if not np.any(labels != IGNORE):
        return "prompt_too_long"
    return dataclasses.replace(r, input_ids=r.input_ids[:max_length], labels=labels, truncated=True)


def verify_batch(tok: Any, batch: Sequences, layout: _Layout | None = None) -> None:
    """Raise MaskError unless every trained run decodes to exactly its reply (+ end token).

    Trained run k of a sequence must be the smallest run of whole tokens that
    covers its span k (the reply and its end token, `start:end`), and may cover
    beyond it only template text next to the reply (`lo:start`, `end:hi`): what
    a token straddling the edge carries, like the space of `Assistant: Hi` that
    byte-level BPE merges into ` Hi`, or SentencePiece's `▁`.

    With a byte table every sequence is decoded whole and must equal its text
    byte for byte, which fixes each token's position; otherwise (or for a text
    that does not round-trip) each run is decoded by the tokenizer's own
    decoder. `layout` reuses the one tokenization built.
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
    bounds = np.array([s[:4] for spans in batch.spans for s in spans], dtype=np.int64)
    bounds = bounds.reshape(-1, 4)
    which = np.repeat(np.arange(n), want)
    placed = np.zeros(n, dtype=bool)
    if cd.table is not None and len(bounds):
        lay = layout or _Layout(cd.table, batch.ids, offsets, batch.texts)
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
    _decode_check(cd.backend, batch, which[rest], run_start[rest], run_stop[rest], bounds[rest])


def _decode_check(
    backend: Any,
    batch: Sequences,
    which: np.ndarray,
    run_start: np.ndarray,
    run_stop: np.ndarray,
    bounds: np.ndarray,
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
