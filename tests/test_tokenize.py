"""Assistant-only labels for every template, on a byte-level BPE and on a SentencePiece model.

The masks are checked three ways: the built-in verifier (which must also catch
tampered labels), transformers' own `apply_chat_template(...,
return_assistant_tokens_mask=True)` on the same template, and direct decoding.
"""

from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import pytest

from postmix import tokenize as tokenize_mod
from postmix.templates import TEMPLATES, TemplateError, TokenizerRenderer, bind, jinja_template
from postmix.tokenize import (
    IGNORE,
    MaskError,
    OverLengthError,
    Sequences,
    codec,
    tokenize_batch,
    verify_batch,
)
from postmix.tokenize import layout as layout_mod
from postmix.tokenizer import load_tokenizer, read_spm
from tests.conftest import shared_file
from tests.templates.conversations import CONVERSATIONS
from tests.tiny import bpe_tokenizer, corpus, sentencepiece_model

KINDS = ("bpe", "spm")


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    return {
        "bpe": bpe_tokenizer(root / "bpe"),
        "spm": load_tokenizer(str(sentencepiece_model(root))),
    }


@pytest.fixture(params=["byte table", "decoder"])
def check_path(request, monkeypatch):
    """Run a test with the byte-table fast path, then with offsets + the tokenizer's decoder."""
    if request.param == "decoder":
        monkeypatch.setattr(layout_mod, "token_bytes", lambda backend: None)
    tokenize_mod._CODECS.clear()
    yield request.param
    tokenize_mod._CODECS.clear()


def bound(tokenizers, kind: str, name: str, special_tokens: str = "text"):
    tok = copy.deepcopy(tokenizers[kind])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tok, bind(tok, name, special_tokens)


def sft(messages, i=0):
    return {"id": f"r{i}", "kind": "sft", "messages": messages}


def runs(labels: np.ndarray) -> list[tuple[int, int]]:
    mask = labels != IGNORE
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def chat_ids(tok, messages, gen: bool = False) -> list[int]:
    return tok.apply_chat_template(
        messages, tokenize=True, return_dict=True, add_generation_prompt=gen
    )["input_ids"]


def decode(tok, ids) -> str:
    """Decode after an anchor token, so SentencePiece keeps a leading space."""
    anchor = tok._tokenizer.encode("a", add_special_tokens=False).ids[-1:]
    head = tok._tokenizer.decode(anchor, skip_special_tokens=False)
    return tok._tokenizer.decode(anchor + list(ids), skip_special_tokens=False)[len(head) :]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", list(TEMPLATES))
def test_masks_match_apply_chat_template_and_decode_to_replies(
    tokenizers, kind, name, check_path
) -> None:
    tok, renderer = bound(tokenizers, kind, name)
    assert (codec(tok).table is None) == (check_path == "decoder")
    out = tokenize_batch([sft(c, i) for i, c in enumerate(CONVERSATIONS)], tok, renderer)
    for conv, rec in zip(CONVERSATIONS, out):
        ref = tok.apply_chat_template(
            conv, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        assert rec.input_ids.tolist() == ref["input_ids"]
        assert (rec.labels != IGNORE).astype(int).tolist() == ref["assistant_masks"]
        assert (rec.labels[rec.labels != IGNORE] == rec.input_ids[rec.labels != IGNORE]).all()
        replies = [m for m in conv if m["role"] == "assistant"]
        spans = runs(rec.labels)
        assert len(spans) == len(replies)
        for (a, b), msg in zip(spans, replies):
            text = decode(tok, rec.input_ids[a:b])
            assert text.rstrip().endswith(renderer.end_text.rstrip())
            assert msg["content"].strip() in text


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["chatml", "llama-3", "gemma", "phi-3"])
def test_added_special_tokens_are_single_trained_end_tokens(tokenizers, kind, name) -> None:
    tok, renderer = bound(tokenizers, kind, name, "add")
    rec = tokenize_batch([sft(CONVERSATIONS[1])], tok, renderer)[0]
    end_id = tok.convert_tokens_to_ids(TEMPLATES[name].assistant[1])
    for _, b in runs(rec.labels):
        assert rec.labels[b - 1] == end_id
    ref = tok.apply_chat_template(
        CONVERSATIONS[1], tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    assert (rec.labels != IGNORE).astype(int).tolist() == ref["assistant_masks"]


@pytest.mark.parametrize("kind", KINDS)
def test_eos_after_each_reply_is_trained(tokenizers, kind) -> None:
    tok, renderer = bound(tokenizers, kind, "alpaca")
    rec = tokenize_batch([sft(CONVERSATIONS[7])], tok, renderer)[0]
    spans = runs(rec.labels)
    assert len(spans) == 4
    assert all(rec.labels[b - 1] == tok.eos_token_id for _, b in spans)


def tamperings(labels: np.ndarray, ids: np.ndarray) -> list[np.ndarray]:
    """Labels that are wrong in the ways masks usually are."""
    (a, b), *_ = runs(labels)
    out = []
    no_end = labels.copy()
    no_end[b - 1] = IGNORE  # the end-of-turn token is not trained: the model never stops
    out.append(no_end)
    shifted = np.full_like(labels, IGNORE)
    shifted[a + 1 : b + 1] = ids[a + 1 : b + 1]  # off by one
    out.append(shifted)
    wider = labels.copy()
    wider[a - 2 : a] = ids[a - 2 : a]  # trains on the assistant header
    out.append(wider)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_verifier_catches_wrong_masks(tokenizers, kind, check_path) -> None:
    tok, renderer = bound(tokenizers, kind, "chatml")
    assert (codec(tok).table is None) == (check_path == "decoder")
    recs = [sft(c, i) for i, c in enumerate(CONVERSATIONS)]
    out = tokenize_batch(recs, tok, renderer)
    text, spans = renderer.render(CONVERSATIONS[3])
    rec = out[3]
    ok = Sequences.of([(rec.input_ids, rec.labels != IGNORE, text, spans, "r3")])
    verify_batch(tok, ok)
    for labels in tamperings(rec.labels, rec.input_ids):
        bad = Sequences.of([(rec.input_ids, labels != IGNORE, text, spans, "r3")])
        with pytest.raises(MaskError, match="r3"):
            verify_batch(tok, bad)
    wrong_text = text.replace("Bonjour", "Bonsoir")
    with pytest.raises(MaskError):
        verify_batch(
            tok, Sequences.of([(rec.input_ids, rec.labels != IGNORE, wrong_text, spans, 3)])
        )


@pytest.mark.parametrize("kind", KINDS)
def test_train_on_variants_and_train_false(tokenizers, kind, check_path) -> None:
    tok, renderer = bound(tokenizers, kind, "chatml")
    conv = CONVERSATIONS[7]
    last = tokenize_batch([sft(conv)], tok, renderer, train_on="last_assistant")[0]
    assert len(runs(last.labels)) == 1
    assert decode(tok, last.input_ids[last.labels != IGNORE]) == "4, done.<|im_end|>"
    every = tokenize_batch([sft(conv)], tok, renderer, train_on="all")[0]
    assert (every.labels[1:] == every.input_ids[1:]).all()  # [0]: maybe a bare SentencePiece "▁"
    skipped = copy.deepcopy(conv)
    skipped[3]["train"] = False
    rec = tokenize_batch([sft(skipped)], tok, renderer)[0]
    texts = [decode(tok, rec.input_ids[a:b]) for a, b in runs(rec.labels)]
    assert texts == ["1<|im_end|>", "3<|im_end|>", "4, done.<|im_end|>"]
    skipped[7]["train"] = False
    out = tokenize_batch([sft(skipped)], tok, renderer, train_on="last_assistant")
    assert out == ["no_trained_tokens"]
    for m in skipped:
        m["train"] = False
    assert tokenize_batch([sft(skipped)], tok, renderer) == ["no_trained_tokens"]
    with pytest.raises(ValueError, match="train_on"):
        tokenize_batch([sft(conv)], tok, renderer, train_on="assistant")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
def test_empty_replies_are_dropped_with_a_reason(tokenizers, kind) -> None:
    tok, renderer = bound(tokenizers, kind, "vicuna")
    empty = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "  "}]
    middle = [*CONVERSATIONS[1][:2], {"role": "assistant", "content": ""}, *CONVERSATIONS[1][3:]]
    out = tokenize_batch([sft(empty), sft(CONVERSATIONS[0]), sft(middle)], tok, renderer)
    assert out[0] == "empty_reply" and out[2] == "empty_reply"
    assert out[1].n_trainable > 0


@pytest.mark.parametrize("kind", KINDS)
def test_over_length_policies(tokenizers, kind) -> None:
    tok, renderer = bound(tokenizers, kind, "chatml")
    rec = sft(CONVERSATIONS[1])
    full = tokenize_batch([rec], tok, renderer)[0]
    n = len(full.input_ids)
    a, _ = runs(full.labels)[0]
    assert tokenize_batch([rec], tok, renderer, max_length=n)[0].n_tokens == n
    assert tokenize_batch([rec], tok, renderer, max_length=n - 1) == ["too_long"]
    cut = tokenize_batch([rec], tok, renderer, max_length=a + 1, over_length="truncate")[0]
    assert cut.truncated and len(cut.input_ids) == a + 1 and cut.n_trainable == 1
    assert (cut.input_ids == full.input_ids[: a + 1]).all()
    out = tokenize_batch([rec], tok, renderer, max_length=a, over_length="truncate")
    assert out == ["prompt_too_long"]
    with pytest.raises(OverLengthError):
        tokenize_batch([rec], tok, renderer, max_length=n - 1, over_length="error")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["chatml", "llama-2", "chat", "gemma"])
def test_preference_records(tokenizers, kind, name) -> None:
    tok, renderer = bound(tokenizers, kind, name)
    prompt = CONVERSATIONS[1][:-1]
    chosen = [{"role": "assistant", "content": "Green, then red."}]
    rejected = [{"role": "assistant", "content": "I refuse to name colours. 🙂"}]
    rec = {"id": "p", "kind": "preference", "messages": prompt, "chosen": chosen}
    rec["rejected"] = rejected
    out = tokenize_batch([rec], tok, renderer)[0]
    full = chat_ids(tok, prompt + chosen)
    assert (np.concatenate([out.prompt_ids, out.chosen_ids]).tolist()) == full[
        : out.n_tokens - len(out.rejected_ids)
    ]
    for side, ids in ((chosen, out.chosen_ids), (rejected, out.rejected_ids)):
        text = decode(tok, ids)
        assert text.strip().startswith(side[0]["content"][:5])
        assert text.endswith(renderer.end_text)
    gen = chat_ids(tok, prompt, gen=True)
    assert gen[: len(out.prompt_ids)] == out.prompt_ids.tolist()
    assert len(out.prompt_ids) >= len(gen) - 1
    short = tokenize_batch(
        [rec], tok, renderer, max_length=len(out.prompt_ids) + 2, over_length="truncate"
    )[0]
    assert len(short.chosen_ids) == len(short.rejected_ids) == 2
    out = tokenize_batch(
        [rec], tok, renderer, max_length=len(out.prompt_ids), over_length="truncate"
    )
    assert out == ["prompt_too_long"]
    assert tokenize_batch([{**rec, "rejected": []}], tok, renderer) == ["empty_reply"]


@pytest.mark.parametrize("kind", KINDS)
def test_prompt_and_text_records(tokenizers, kind) -> None:
    tok, renderer = bound(tokenizers, kind, "llama-3")
    messages = CONVERSATIONS[1][:-1]
    prompt, text, empty = tokenize_batch(
        [
            {"id": "q", "kind": "prompt", "messages": messages},
            {"id": "t", "kind": "text", "text": "A plain document.\nSecond line, café."},
            {"id": "e", "kind": "text", "text": " "},
        ],
        tok,
        renderer,
    )
    ref = chat_ids(tok, messages, gen=True)
    assert prompt.input_ids.tolist() == ref and prompt.labels is None
    assert text.input_ids[0] == tok.bos_token_id and text.labels[0] == IGNORE
    assert (text.labels[1:] == text.input_ids[1:]).all()
    assert text.input_ids[-1] == tok.eos_token_id
    assert decode(tok, text.input_ids[1:-1]) == "A plain document.\nSecond line, café."
    assert empty == "empty_text"
    cut = tokenize_batch(
        [{"id": "q", "kind": "prompt", "messages": messages}],
        tok,
        renderer,
        max_length=5,
        over_length="truncate",
    )[0]
    assert cut.input_ids.tolist() == ref[-5:]


@pytest.mark.parametrize("kind", KINDS)
def test_tokenizer_template_with_generation_markers(tokenizers, kind) -> None:
    tok, builtin = bound(tokenizers, kind, "zephyr")
    own = bind(tok, "tokenizer")
    recs = [sft(c, i) for i, c in enumerate(CONVERSATIONS)]
    for a, b in zip(tokenize_batch(recs, tok, builtin), tokenize_batch(recs, tok, own)):
        assert (a.input_ids == b.input_ids).all() and (a.labels == b.labels).all()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["chatml", "llama-2", "chat", "phi-3"])
def test_tokenizer_template_without_markers_is_probed(tokenizers, kind, name) -> None:
    tok, builtin = bound(tokenizers, kind, name)
    tok.chat_template = jinja_template(TEMPLATES[name]).replace("{%- generation -%}", "")
    tok.chat_template = tok.chat_template.replace("{%- endgeneration -%}", "")
    own = bind(tok, "tokenizer")
    assert isinstance(own, TokenizerRenderer) and not own.marked
    recs = [sft(c, i) for i, c in enumerate(CONVERSATIONS)]
    for a, b in zip(tokenize_batch(recs, tok, builtin), tokenize_batch(recs, tok, own)):
        assert (a.input_ids == b.input_ids).all()
        assert (a.labels == b.labels).all()


def test_tokenizer_template_that_hides_replies_fails_loudly(tokenizers) -> None:
    tok = copy.deepcopy(tokenizers["bpe"])
    tok.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: "
        "{% if m['role'] == 'assistant' %}[reply]{% else %}{{ m['content'] }}{% endif %}\n"
        "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}"
    )
    with pytest.raises(TemplateError, match="reply 1"):
        tokenize_batch([sft(CONVERSATIONS[0])], tok, bind(tok, "tokenizer"))
    tok.chat_template = (
        "{% for m in messages %}{% if loop.last %}{{ m['role'] }}: {{ m['content'] }}\n"
        "{% endif %}{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}"
    )
    with pytest.raises(TemplateError, match="differently"):
        tokenize_batch([sft(CONVERSATIONS[1])], tok, bind(tok, "tokenizer"))


def test_sentencepiece_conversion_matches_sentencepiece(tmp_path) -> None:
    spm = pytest.importorskip("sentencepiece")
    texts = [*corpus(200, seed=7), "  two leading", "tab\there", "x" * 300, "", "🙂🙂 zh 中文"]
    for model_type in ("bpe", "unigram"):
        size = 1200 if model_type == "bpe" else 500
        path = sentencepiece_model(tmp_path, size, model_type, f"{model_type}.model")
        ref = spm.SentencePieceProcessor(model_file=str(path))
        versioned = path.with_name("tokenizer.model.v3")  # mistral-common's naming
        versioned.write_bytes(path.read_bytes())
        tok = load_tokenizer(str(versioned))
        assert read_spm(path).model_type == (2 if model_type == "bpe" else 1)
        assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<s>", "</s>", "<pad>")
        for text in texts:
            if text.startswith(" "):
                continue  # HF's SentencePiece conversion (legacy=False) differs here by design
            ids = tok._tokenizer.encode(text, add_special_tokens=False).ids
            assert ids == ref.encode(text), text
            assert tok.decode(ids) == ref.decode(ids)


def test_real_conversations_with_tool_calls(tokenizers, shared_data) -> None:
    from postmix.formats.base import ConvertContext
    from postmix.formats.sharegpt import CONVERTER

    rows = json.loads(
        shared_file(shared_data, "hiyouga__LLaMA-Factory/glaive_toolcall_en_demo.json").read_text()
    )
    ctx = ConvertContext(kind="sft", options=None, seed=0, source="glaive")
    recs = [r for i, row in enumerate(rows) for r in CONVERTER.convert(row, ctx)]
    for i, r in enumerate(recs):
        r["id"] = i
    assert sum(1 for r in recs for m in r["messages"] if m.get("tool_calls")) > 100
    for kind in KINDS:
        for name in ("qwen", "llama-3", "instruct"):
            tok, renderer = bound(tokenizers, kind, name)
            out = tokenize_batch(recs, tok, renderer)
            reasons = [r for r in out if isinstance(r, str)]
            assert set(reasons) <= {"empty_reply"}
            assert len(reasons) < len(recs) // 10


def test_real_conversation_and_missing_turn(tokenizers, shared_data) -> None:
    from postmix.formats.base import ConvertContext
    from postmix.formats.sharegpt import CONVERTER

    ctx = ConvertContext(kind="sft", options=None, seed=0, source="axolotl")
    [full] = CONVERTER.convert(
        json.loads(
            shared_file(shared_data, "axolotl-ai-cloud__axolotl/conversation.json").read_text()
        ),
        ctx,
    )
    [holey] = CONVERTER.convert(
        json.loads(
            shared_file(
                shared_data, "axolotl-ai-cloud__axolotl/conversation.missingturns.json"
            ).read_text()
        ),
        ctx,
    )
    for kind in KINDS:
        for name in TEMPLATES:
            tok, renderer = bound(tokenizers, kind, name)
            good, bad = tokenize_batch([full, holey], tok, renderer)
            assert bad == "empty_reply"
            assert len(runs(good.labels)) == sum(m["role"] == "assistant" for m in full["messages"])
