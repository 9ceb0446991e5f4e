"""The byte layout's checks against plain Python: token bytes word by word, character offsets,
chunk bounds, and the collector threshold while a batch runs."""

from __future__ import annotations

import gc
from itertools import chain

import numpy as np
import pytest

from postmix.collect import rare_collections
from postmix.templates import bind
from postmix.tokenize import Layout, codec, tokenize_batch
from postmix.tokenize.batch import CHUNK, HEAD, TAIL, _chunks
from postmix.tokenize.records import cumsum0
from tests.tiny import bpe_tokenizer, sentencepiece_model

LONG = "<|a long added token, three words|>"  # compared in 8-byte words: 5 of them
TEXTS = [
    "<s>plain ascii</s>",
    f"{LONG}{LONG} long tokens at the start, and at the end {LONG}",
    "accents: déjà vu, naïve café",
    "emoji 🙂🙂 and 中文 text",
    "",
    "x" * 40,
    "  two leading spaces\n\n\ttab",
]


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    from postmix.tokenizer import load_tokenizer

    spm = sentencepiece_model(tmp_path_factory.mktemp("spm"), 1200, "bpe")
    toks = {"bpe": bpe_tokenizer(tmp_path_factory.mktemp("bpe")), "spm": load_tokenizer(str(spm))}
    for tok in toks.values():
        tok.add_tokens([LONG], special_tokens=True)
    return toks


def encode(tok, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    encoded = [e.ids for e in codec(tok).backend.encode_batch(texts, add_special_tokens=False)]
    offsets = cumsum0(np.fromiter(map(len, encoded), dtype=np.int64))
    return np.fromiter(chain.from_iterable(encoded), dtype=np.int32), offsets


@pytest.mark.parametrize("name", ["bpe", "spm"])
def test_a_text_is_placed_only_where_every_byte_of_its_tokens_matches(tokenizers, name) -> None:
    """Each byte of each text changed in turn (same length): placed only when unchanged."""
    tok = tokenizers[name]
    cd = codec(tok)
    ids, offsets = encode(tok, TEXTS)
    table = cd.table.table
    assert int(table.length[ids].max()) > 8  # tokens longer than one compared word
    assert Layout(cd.table, ids, offsets, TEXTS).ok.all()
    for k, text in enumerate(TEXTS):
        for c in range(len(text)):
            swapped = "#" if text[c] != "#" else "%"
            if len(swapped.encode()) != len(text[c].encode()):
                continue
            changed = [*TEXTS[:k], text[:c] + swapped + text[c + 1 :], *TEXTS[k + 1 :]]
            ok = Layout(cd.table, ids, offsets, changed).ok
            assert ok.tolist() == [j != k for j in range(len(TEXTS))], (k, c)


def test_byte_offsets_are_utf8_prefix_lengths(tokenizers) -> None:
    tok = tokenizers["bpe"]
    ids, offsets = encode(tok, TEXTS)
    lay = Layout(codec(tok).table, ids, offsets, TEXTS)
    pairs = [(k, c) for k, text in enumerate(TEXTS) for c in range(len(text) + 1)]
    which = np.array([k for k, _ in pairs])
    chars = np.array([c for _, c in pairs])
    got = lay.byte_offsets(which, chars)
    assert got.tolist() == [len(TEXTS[k][:c].encode()) for k, c in pairs]


@pytest.mark.parametrize("n", [0, 1, 63, 100, 448, 500, 2000, 5000])
def test_chunks_cover_the_records_in_order_small_at_both_ends(n) -> None:
    bounds = _chunks(n)
    starts, ends = [a for a, _ in bounds], [b for _, b in bounds]
    assert starts == [0, *ends][: len(starts)] and ends[-1:] == ([n] if n else [])
    sizes = [b - a for a, b in bounds]
    assert max(sizes, default=0) <= CHUNK and all(sizes)
    if n >= sum(HEAD) + sum(TAIL):
        assert sizes[: len(HEAD)] == list(HEAD) and sizes[-len(TAIL) :] == list(TAIL)


@pytest.mark.filterwarnings("ignore:template chatml")
def test_the_collector_threshold_is_raised_only_while_a_batch_runs(tokenizers) -> None:
    before = gc.get_threshold()
    with rare_collections(12_345):
        assert gc.get_threshold() == (max(before[0], 12_345), *before[1:])
    assert gc.get_threshold() == before
    tok = tokenizers["bpe"]
    renderer = bind(tok, "chatml", "text")
    seen = []
    real = renderer.render

    def render(*args, **kwargs):
        seen.append(gc.get_threshold()[0])
        return real(*args, **kwargs)

    renderer.render = render
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    tokenize_batch([{"id": 0, "kind": "sft", "messages": msgs}], tok, renderer)
    assert seen and min(seen) >= 10_000
    assert gc.get_threshold() == before
