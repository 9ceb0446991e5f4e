"""Chat templates: the built-in formats, the tokenizer's own one, and binding one to a tokenizer.

`bind(tok, name, special_tokens=...)` is the one entry point the pipeline
needs: it returns a renderer (`render(messages, add_generation_prompt, tools)
-> (text, reply spans)`) and writes the template into `tok.chat_template`, so
the tokenizer saved next to the data formats prompts at inference exactly as
the data was formatted for training.

Modules: `spec` and `builtin` (the built-in formats as data), `tools` (their
tools schema), `from_tokenizer` and `sentinels` (`template: tokenizer`: any
chat template, replies found with sentinels), `stock` (the families trl
ships, and their training variants), `sandbox` (rendering untrusted
templates with limits).
"""

from __future__ import annotations

import warnings
from typing import Any, Literal, Protocol

from postmix.templates.builtin import SPECS
from postmix.templates.from_tokenizer import TokenizerRenderer
from postmix.templates.sandbox import TemplateError
from postmix.templates.spec import (
    Rendered,
    Span,
    SpecRenderer,
    TemplateSpec,
    jinja_template,
    reply_text,
)

__all__ = [
    "TEMPLATES",
    "Rendered",
    "Renderer",
    "Span",
    "SpecRenderer",
    "TemplateError",
    "TemplateSpec",
    "TokenizerRenderer",
    "bind",
    "get",
    "jinja_template",
    "missing_tokens",
    "names",
    "reply_text",
]

TEMPLATES: dict[str, TemplateSpec] = {spec.name: spec for spec in SPECS}
SpecialTokens = Literal["text", "add"]


class Renderer(Protocol):
    name: str
    bos: str
    eos: str

    def render(
        self,
        messages: list[dict[str, Any]],
        add_generation_prompt: bool = False,
        tools: list[dict[str, Any]] | None = None,
    ) -> Rendered: ...


def names() -> list[str]:
    """Names a recipe's `template:` accepts."""
    return [*TEMPLATES, "tokenizer"]


def get(name: str) -> TemplateSpec:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ValueError(f"unknown template {name!r}; known: {', '.join(names())}") from None


def missing_tokens(tok: Any, tokens: tuple[str, ...]) -> list[str]:
    """The tokens that this tokenizer does not encode as one token of their own."""
    backend = tok._tokenizer
    return [t for t in tokens if len(backend.encode(t, add_special_tokens=False).ids) != 1]


def bind(tok: Any, name: str, special_tokens: SpecialTokens = "text") -> Renderer:
    """A renderer for template `name` on `tok`, installing the template in `tok.chat_template`.

    Special tokens of the template that the tokenizer lacks are added to it
    (`special_tokens="add"`: the trainer then resizes the embeddings) or left as
    plain text (`"text"`, the default, with a warning).
    """
    if name == "tokenizer":
        return TokenizerRenderer(tok)
    spec = get(name)
    if special_tokens not in ("text", "add"):
        raise ValueError(f"special_tokens must be 'text' or 'add', not {special_tokens!r}")
    missing = missing_tokens(tok, spec.special_tokens)
    if missing and special_tokens == "add":
        tok.add_special_tokens(
            {"extra_special_tokens": missing}, replace_extra_special_tokens=False
        )
    elif missing:
        warnings.warn(
            f"template {name}: the tokenizer has no tokens {', '.join(missing)}; they are "
            "encoded as plain text (set special_tokens: add to add them)",
            stacklevel=2,
        )
    if spec.uses("eos") and not tok.eos_token:
        raise ValueError(f"template {name} ends replies with the eos token; the tokenizer has none")
    tok.chat_template = jinja_template(spec)
    return SpecRenderer(spec, tok.bos_token or "", tok.eos_token or "")
