"""Chat templates render with limits: runaway loops, huge outputs and escapes stop with one line."""

from __future__ import annotations

import copy
import time

import pytest
from transformers.utils.chat_template_utils import render_jinja_template

from postmix.templates import TemplateError, bind, sandbox
from postmix.tokenize import tokenize_batch
from tests.templates.stock import CHAT, TOOL_CHAT, TOOLS, stock_dir, stock_names
from tests.tiny import bpe_tokenizer

RECORD = {"id": "r", "kind": "sft", "messages": CHAT[1:3]}
RUNAWAY = {
    "nested loops": "{% for a in range(100000) %}{% for b in range(100000) %}"
    "{% endfor %}{% endfor %}{{ messages[0].content }}",
    "nested output": "{% for a in range(100000) %}{% for b in range(100000) %}xy"
    "{% endfor %}{% endfor %}",
    "huge string": "{{ 'x' * 1000000000 }}",
    "recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
}
ESCAPES = (
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ messages.__class__ }}",
    "{{ namespace(_x=1) }}",
    "{{ raise_exception.__globals__ }}",
)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return bpe_tokenizer(tmp_path_factory.mktemp("bpe"))


def with_template(base, source: str):
    tok = copy.deepcopy(base)
    tok.chat_template = source
    return tok


@pytest.mark.parametrize("case", list(RUNAWAY))
def test_runaway_templates_stop_with_one_line(base, monkeypatch, case) -> None:
    monkeypatch.setattr(sandbox, "TIME_LIMIT", 1.0)
    monkeypatch.setattr(sandbox, "OUTPUT_LIMIT", 1 << 20)
    tok = with_template(base, RUNAWAY[case])
    began = time.monotonic()
    with pytest.raises(TemplateError, match="stopped") as err:
        tokenize_batch([RECORD], tok, bind(tok, "tokenizer"))
    assert time.monotonic() - began < 10
    message = str(err.value)
    assert "\n" not in message and "chat template of" in message
    assert err.value.__cause__ is None and err.value.__suppress_context__


@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_escapes_are_one_line_errors(base, source) -> None:
    tok = with_template(base, source)
    with pytest.raises(TemplateError, match="blocked by the sandbox") as err:
        tokenize_batch([RECORD], tok, bind(tok, "tokenizer"))
    assert "\n" not in str(err.value) and str(tok.name_or_path) in str(err.value)


def test_syntax_errors_name_the_template_and_line(base) -> None:
    tok = with_template(base, "{% for m in messages %}\n{{ m.content }\n{% endfor %}")
    with pytest.raises(TemplateError, match="syntax error on line 2"):
        bind(tok, "tokenizer")


def test_stock_template_errors_name_the_template(base) -> None:
    tok = with_template(base, (stock_dir() / "gemma.jinja").read_text())
    with pytest.raises(
        TemplateError,
        match=r"^chat template gemma: System role not supported \(at message 0, system\); remove",
    ):
        tokenize_batch([{"id": 1, "kind": "sft", "messages": CHAT}], tok, bind(tok, "tokenizer"))


@pytest.mark.parametrize("name", stock_names())
def test_sandbox_renders_like_transformers(name) -> None:
    source = (stock_dir() / f"{name}.jinja").read_text()
    compiled = sandbox.compile_template(source, name)
    for messages, tools in ((CHAT[1:], None), (TOOL_CHAT, TOOLS)):
        for gen in (False, True):
            try:
                ref = render_jinja_template(
                    [messages],
                    tools=tools,
                    chat_template=source,
                    add_generation_prompt=gen,
                    bos_token="<s>",
                    eos_token="</s>",
                )[0][0]
            except Exception:  # the template refuses this conversation: so must the sandbox
                with pytest.raises(TemplateError):
                    sandbox.render(
                        compiled, name, messages, gen, tools, bos_token="<s>", eos_token="</s>"
                    )
                continue
            ours = sandbox.render(
                compiled, name, messages, gen, tools, bos_token="<s>", eos_token="</s>"
            )
            if "strftime_now" not in source:
                assert ours == ref
