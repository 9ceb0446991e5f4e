"""Tokenizers that cannot represent every text: exact masks on what they can, losses reported.

A SentencePiece model trained with the library's defaults (nmt_nfkc,
remove_extra_whitespaces, add_dummy_prefix, no byte fallback) turns newlines
into spaces and unseen characters into <unk>; one with `identity`
normalization and byte fallback only collapses spaces. The replies are
normalized by the sentencepiece library itself to say what each trained run
must decode to.
"""

from __future__ import annotations

import copy
import io
import warnings
from pathlib import Path

import numpy as np
import pytest

from postmix.templates import bind
from postmix.tokenize import (
    IGNORE,
    MaskError,
    RoundTripError,
    Sequences,
    lost,
    tokenize_batch,
    verify_batch,
)
from postmix.tokenizer import load_tokenizer
from tests.templates.conversations import CONVERSATIONS
from tests.tiny import corpus

spm = pytest.importorskip("sentencepiece")


def train(path: Path, **options) -> Path:
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()), model_writer=buf, vocab_size=500, minloglevel=2, **options
    )
    path.write_bytes(buf.getvalue())
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("spm")
    return {
        "defaults": train(root / "defaults.model"),
        "identity": train(
            root / "identity.model", normalization_rule_name="identity", byte_fallback=True
        ),
    }


def bound(path: Path, name: str):
    tok = load_tokenizer(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tok, bind(tok, name, "add")


def runs(labels: np.ndarray) -> list[tuple[int, int]]:
    mask = labels != IGNORE
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def words(s: str) -> str:
    return " ".join(s.split())


RECORDS = [{"id": i, "kind": "sft", "messages": c} for i, c in enumerate(CONVERSATIONS)]


@pytest.mark.parametrize("name", ["llama-2", "chatml", "alpaca", "zephyr"])
def test_default_sentencepiece_masks_are_the_normalized_replies(models, name) -> None:
    tok, renderer = bound(models["defaults"], name)
    sp = spm.SentencePieceProcessor(model_file=str(models["defaults"]))
    out = tokenize_batch(RECORDS, tok, renderer)
    for conv, rec in zip(CONVERSATIONS, out):
        assert not isinstance(rec, str), rec
        replies = [m for m in conv if m["role"] == "assistant"]
        trained = [
            words(tok._tokenizer.decode(rec.input_ids[a:b].tolist(), skip_special_tokens=False))
            for a, b in runs(rec.labels)
        ]
        assert len(trained) == len(replies)
        for run, m in zip(trained, replies):
            normalized = words(sp.decode(sp.encode(m["content"])).replace(" ⁇ ", "<unk>"))
            assert words(normalized.replace("⁇", "<unk>")) in run, (normalized, run)
            assert run.endswith(words(renderer.end_text.replace("</s>", " </s>")).strip())
        for m in conv:
            if m["role"] != "assistant" and m["content"].strip():
                user = words(sp.decode(sp.encode(m["content"])).replace("⁇", "<unk>"))
                assert not any(user in run for run in trained), (user, trained)


def test_default_sentencepiece_reports_what_it_loses(models) -> None:
    tok, renderer = bound(models["defaults"], "chatml")
    out = tokenize_batch(RECORDS, tok, renderer)
    assert "newlines" in out[0].lost  # "<|im_start|>user\nHi": the newline becomes a space
    assert "unknown_characters" in out[3].lost  # 🙂, 你好 were never seen in training
    assert "unicode_normalization" in out[3].lost  # NFKC: "，" -> ","
    assert "whitespace" in out[4].lost  # "  spaces around  " collapses
    assert all("newlines" in rec.lost for rec in out)
    with pytest.raises(RoundTripError, match="record 0"):
        tokenize_batch(RECORDS, tok, renderer, strict=True)


def test_identity_sentencepiece_with_byte_fallback_only_loses_whitespace(models) -> None:
    tok, renderer = bound(models["identity"], "llama-2")
    out = tokenize_batch(RECORDS, tok, renderer)
    assert {c for rec in out for c in rec.lost} == {"whitespace", "newlines"}
    assert out[3].lost == ("whitespace",)  # 🙂 and 你好 survive as bytes; " </s>" loses its space
    assert out[4].lost == ("newlines", "whitespace")  # "  spaces  ", a reply ending in "\n"
    with pytest.raises(RoundTripError, match=r"record 0: .*whitespace"):
        tokenize_batch(RECORDS, tok, renderer, strict=True)


def test_a_wrong_mask_on_a_lossy_tokenizer_still_fails(models) -> None:
    tok, renderer = bound(models["defaults"], "chatml")
    rec = tokenize_batch([RECORDS[1]], tok, renderer)[0]
    text, spans = renderer.render(CONVERSATIONS[1])
    decoded = [tok._tokenizer.decode(rec.input_ids.tolist(), skip_special_tokens=False)]
    good = rec.labels != IGNORE
    verify_batch(tok, Sequences.of([(rec.input_ids, good, text, spans, "r1")]), None, decoded)
    (a, b), *_ = runs(rec.labels)
    shifted, no_end, header = good.copy(), good.copy(), good.copy()
    shifted[a], shifted[b] = False, True
    no_end[b - 1] = False
    header[a - 2 : a] = True
    for bad in (shifted, no_end, header):
        seqs = Sequences.of([(rec.input_ids, bad, text, spans, "r1")])
        with pytest.raises(MaskError, match="r1"):
            verify_batch(tok, seqs, None, decoded)


def test_loss_categories() -> None:
    assert lost("a\nb", "a b") == ("newlines",)
    assert lost("a  b", "a b") == ("whitespace",)
    assert lost("a 🙂 b", "a <unk> b", "<unk>") == ("unknown_characters",)
    assert lost("a 🙂 b", "a  b") == ("unknown_characters",)
    assert lost("ﬁne，ok", "fine,ok") == ("unicode_normalization",)
    assert lost("same", "same") == ()


def test_no_round_trip_loss_on_a_byte_level_tokenizer(tmp_path) -> None:
    from tests.tiny import bpe_tokenizer

    tok = bpe_tokenizer(tmp_path)
    renderer = bind(copy.deepcopy(tok), "chat")
    assert all(not r.lost for r in tokenize_batch(RECORDS, tok, renderer, strict=True))


def test_nfc_normalizer_gets_exact_masks_and_reports_the_normalization(tmp_path) -> None:
    import unicodedata

    from tokenizers import normalizers

    from tests.tiny import bpe_tokenizer

    tok = bpe_tokenizer(tmp_path)
    tok._tokenizer.normalizer = normalizers.NFC()  # as Qwen2's tokenizer has it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        renderer = bind(tok, "chatml", "add")
    decomposed = unicodedata.normalize("NFD", "Café crème")
    conv = [
        {"role": "user", "content": "Say " + decomposed},
        {"role": "assistant", "content": decomposed + " ok."},
    ]
    plain = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Café."}]
    nfd, nfc = tokenize_batch(
        [{"id": 1, "kind": "sft", "messages": conv}, {"id": 2, "kind": "sft", "messages": plain}],
        tok,
        renderer,
    )
    assert nfd.lost == ("unicode_normalization",) and nfc.lost == ()
    trained = nfd.input_ids[nfd.labels != IGNORE].tolist()
    assert tok._tokenizer.decode(trained, skip_special_tokens=False) == (
        "Café crème ok.<|im_end|>"  # the reply as NFC, and nothing of the user turn
    )
