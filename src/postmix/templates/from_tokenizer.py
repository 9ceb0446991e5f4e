"""`template: tokenizer`: render with the tokenizer's own chat template and find every reply in it.

A template with `{% generation %}` markers says where replies are. One without
them is probed: rendering messages[:i] with the generation prompt and then
messages[:i+1], the difference holds reply i; it must also be where the whole
conversation has it, and must contain the message's content. When a reply
cannot be located this way the record fails loudly instead of training on
an empty or misplaced mask.
"""

from __future__ import annotations

import re
from typing import Any

from postmix.templates.spec import Rendered, Span

GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")


class TemplateError(ValueError):
    """A chat template whose replies cannot be located exactly."""


def common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix (binary search on C-level slice compares)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """The whitespace around a marked span: all a straddling token may add to it."""
    lo, hi = start, end
    while lo > 0 and text[lo - 1].isspace():
        lo -= 1
    while hi < len(text) and text[hi].isspace():
        hi += 1
    return lo, hi


class TokenizerRenderer:
    """Renders with `tok.chat_template` and reports reply spans like `SpecRenderer`."""

    name = "tokenizer"

    def __init__(self, tok: Any) -> None:
        template = tok.chat_template
        if isinstance(template, dict):
            template = template.get("default")
        if not template:
            raise TemplateError("template: tokenizer, but the tokenizer has no chat_template")
        self.template: str = template
        self.marked = bool(GENERATION.search(template))
        self.kwargs = dict(tok.special_tokens_map)
        self.bos = tok.bos_token or ""
        self.eos = tok.eos_token or ""

    def _render(
        self, messages: list[dict[str, Any]], gen: bool, tools: Any = None, marks: bool = False
    ) -> tuple[str, list[tuple[int, int]]]:
        from transformers.utils.chat_template_utils import render_jinja_template

        texts, indices = render_jinja_template(
            [messages],
            tools=tools,
            chat_template=self.template,
            return_assistant_tokens_mask=marks,
            add_generation_prompt=gen,
            **self.kwargs,
        )
        return texts[0], indices[0] if marks else []

    def render(
        self,
        messages: list[dict[str, Any]],
        add_generation_prompt: bool = False,
        tools: list[dict[str, Any]] | None = None,
    ) -> Rendered:
        if self.marked:
            text, spans = self._marked(messages, add_generation_prompt, tools)
        else:
            text = self._render(messages, add_generation_prompt, tools)[0]
            spans = self._probed(messages, text, tools)
        for span in spans:
            content = (messages[span.index].get("content") or "").strip()
            if span.start >= span.end or content not in text[span.start : span.end]:
                raise TemplateError(
                    f"reply {span.index} is not inside the span the chat template gives it: "
                    f"{text[span.start : span.end]!r}"
                )
        return text, spans

    def _marked(self, messages: list[dict[str, Any]], gen: bool, tools: Any) -> Rendered:
        text, blocks = self._render(messages, gen, tools, marks=True)
        replies = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        if len(blocks) != len(replies):
            raise TemplateError(
                f"the chat template marks {len(blocks)} generation blocks "
                f"for {len(replies)} replies"
            )
        return text, [Span(s, e, *_widen(text, s, e), i) for (s, e), i in zip(blocks, replies)]

    def _probed(self, messages: list[dict[str, Any]], full: str, tools: Any) -> list[Span]:
        spans = []
        for i, m in enumerate(messages):
            if m["role"] != "assistant":
                continue
            prompt = self._render(messages[:i], True, tools)[0]
            bare = self._render(messages[:i], False, tools)[0]
            upto = self._render(messages[: i + 1], False, tools)[0]
            if not (upto.startswith(prompt) and full.startswith(prompt)):
                raise TemplateError(
                    f"the chat template renders the conversation before reply {i} differently "
                    "on its own than inside the whole conversation; add {% generation %} markers"
                )
            start = len(prompt)
            shared = common_prefix(upto[start:], full[start:])
            reply = upto[start : start + shared].rstrip()
            lo = len(bare) if prompt.startswith(bare) else start
            spans.append(Span(start, start + len(reply), lo, start + shared, i))
        return spans
