"""Every built-in template: the Python renderer equals its Jinja twin; binding to a tokenizer."""

from __future__ import annotations

import copy

import pytest
from transformers.utils.chat_template_utils import render_jinja_template

from postmix.templates import (
    TEMPLATES,
    SpecRenderer,
    TemplateError,
    bind,
    get,
    jinja_template,
    missing_tokens,
    names,
    reply_text,
)
from tests.templates.conversations import CONVERSATIONS
from tests.tiny import bpe_tokenizer

BOS, EOS = "<s>", "</s>"


@pytest.fixture(scope="module")
def bpe(tmp_path_factory):
    return bpe_tokenizer(tmp_path_factory.mktemp("bpe"))


def jinja_render(spec, messages, gen):
    texts, marks = render_jinja_template(
        [messages],
        chat_template=jinja_template(spec),
        return_assistant_tokens_mask=True,
        add_generation_prompt=gen,
        bos_token=BOS,
        eos_token=EOS,
    )
    return texts[0], marks[0]


@pytest.mark.parametrize("name", list(TEMPLATES))
@pytest.mark.parametrize("conv", range(len(CONVERSATIONS)))
def test_python_renderer_equals_jinja(name: str, conv: int) -> None:
    spec, messages = get(name), CONVERSATIONS[conv]
    renderer = SpecRenderer(spec, BOS, EOS)
    for gen in (False, True):
        for upto in range(1, len(messages) + 1):
            text, spans = renderer.render(messages[:upto], gen)
            jtext, marks = jinja_render(spec, messages[:upto], gen)
            assert text == jtext
            assert [(s.start, s.end) for s in spans] == marks


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_spans_hold_reply_and_end_token(name: str) -> None:
    renderer = SpecRenderer(get(name), BOS, EOS)
    end = renderer.end_text
    spec = get(name)
    prompt, lead = (x.replace("{bos}", BOS) for x in (spec.gen_prompt, spec.lead))
    assert end, "every template trains an end-of-turn marker"
    for messages in CONVERSATIONS:
        text, spans = renderer.render(messages)
        replies = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        assert [s.index for s in spans] == replies
        for s in spans:
            assert text[s.start : s.end] == lead + reply_text(messages[s.index]) + end
            assert s.lo <= s.start and s.end <= s.hi
            assert text[: s.lo] == renderer.render(messages[: s.index])[0]
            assert text[: s.start] == renderer.render(messages[: s.index], True)[0]
            assert text[s.lo : s.start] == prompt


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_generation_prompt_is_a_prefix_of_the_reply(name: str) -> None:
    renderer = SpecRenderer(get(name), BOS, EOS)
    for messages in CONVERSATIONS:
        full = renderer.render(messages)[0]
        prompt = renderer.render(messages[:-1], True)[0]
        assert full.startswith(prompt)
        assert reply_text(messages[-1]) in full[len(prompt) :]


def test_reply_text_renders_reasoning_and_tool_calls() -> None:
    msg = CONVERSATIONS[2][3]
    assert reply_text(msg) == (
        "Checking Köln too.\n<tool_call>\n"
        '{"name": "weather", "arguments": {"city": "Köln"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "time", "arguments": {}}\n</tool_call>'
    )
    assert reply_text(CONVERSATIONS[5][1]).startswith("<think>\n2 + 2 = 4, easy.\n</think>\n\n")


def test_system_prompt_defaults_and_merging() -> None:
    convo = CONVERSATIONS[0]
    assert "You are a helpful assistant." in SpecRenderer(get("qwen")).render(convo)[0]
    assert "You are a helpful assistant." not in SpecRenderer(get("chatml")).render(convo)[0]
    text = SpecRenderer(get("llama-2"), BOS, EOS).render(CONVERSATIONS[1])[0]
    assert text.startswith("<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nName a colour. [/INST]")
    text = SpecRenderer(get("gemma"), BOS, EOS).render(CONVERSATIONS[1])[0]
    assert text.startswith("<s><start_of_turn>user\nYou are terse.\n\nName a colour.<end_of_turn>")


def test_names_and_unknown_template() -> None:
    assert set(names()) >= {
        "chatml",
        "llama-2",
        "llama-3",
        "vicuna",
        "alpaca",
        "zephyr",
        "mistral",
        "gemma",
        "phi-3",
        "qwen",
        "instruct",
        "chat",
        "chatml_plain",
        "tokenizer",
    }
    with pytest.raises(ValueError, match="known: chatml"):
        get("nope")


def test_bind_writes_the_template_into_the_tokenizer(bpe) -> None:
    tok = copy.deepcopy(bpe)
    with pytest.warns(UserWarning, match="<|im_start|>"):
        renderer = bind(tok, "chatml")
    messages = CONVERSATIONS[1]
    assert tok.apply_chat_template(messages, tokenize=False) == renderer.render(messages)[0]
    prompt = tok.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    assert prompt == renderer.render(messages[:-1], True)[0]


def test_special_tokens_text_keeps_vocab_add_adds_them(bpe) -> None:
    tok = copy.deepcopy(bpe)
    size = len(tok)
    assert missing_tokens(tok, get("chatml").special_tokens) == ["<|im_start|>", "<|im_end|>"]
    with pytest.warns(UserWarning):
        bind(tok, "chatml", "text")
    assert len(tok) == size
    bind(tok, "chatml", "add")
    assert len(tok) == size + 2
    assert missing_tokens(tok, get("chatml").special_tokens) == []
    assert "<|im_end|>" in tok.all_special_tokens
    with pytest.raises(ValueError, match="special_tokens"):
        bind(tok, "chatml", "maybe")  # type: ignore[arg-type]


def test_bind_needs_eos_and_chat_template(bpe) -> None:
    tok = copy.deepcopy(bpe)
    tok.eos_token = None
    with pytest.raises(ValueError, match="eos"):
        bind(tok, "alpaca")
    tok = copy.deepcopy(bpe)
    tok.chat_template = None
    with pytest.raises(TemplateError, match="no chat_template"):
        bind(tok, "tokenizer")
