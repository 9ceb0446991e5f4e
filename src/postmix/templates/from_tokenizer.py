"""`template: tokenizer`: render with the tokenizer's own chat template and find every reply in it.

Replies are found with sentinels, not with `{% generation %}` markers (which
most stock templates lack, and some misplace): the conversation is rendered a
second time with every text field replaced by a unique sentinel, and the
sentinel text is aligned with the real one. A reply then runs from the end
of the generation prompt (what the template adds for
`add_generation_prompt`) to its end-of-turn token (the last special token the
template puts after the reply whatever follows it). This holds for templates
that rewrite history (Qwen3 drops earlier reasoning, DeepSeek-R1 prefills
`<think>`), since every position comes from the one rendering that is
trained. A stock template with a known training variant (`stock.py`) is
rendered with that variant. Where a reply cannot be located exactly the
record fails with the template's name, the turn and what to do.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate
from typing import Any

from postmix.templates import sandbox
from postmix.templates.sandbox import TemplateError
from postmix.templates.sentinels import Sentinels, align, common_prefix, stop_pattern
from postmix.templates.spec import THINK, Rendered, Span
from postmix.templates.stock import identify

CLOSE_TAG = re.compile(r"</[^<>\s]{1,40}>")
GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """The whitespace around a span: all a straddling token may add to it."""
    lo, hi = start, end
    while lo > 0 and text[lo - 1].isspace():
        lo -= 1
    while hi < len(text) and text[hi].isspace():
        hi += 1
    return lo, hi


def _inline_reasoning(message: dict[str, Any]) -> dict[str, Any]:
    """Reasoning written into the content as `<think>…</think>`, for templates that ignore it."""
    reasoning = next((message[k] for k in sandbox.REASONING_FIELDS if message.get(k)), None)
    rest = {k: v for k, v in message.items() if k not in sandbox.REASONING_FIELDS}
    if reasoning is None or message["role"] != "assistant":
        return rest
    return {**rest, "content": THINK[0] + reasoning + THINK[1] + (message.get("content") or "")}


class TokenizerRenderer:
    """Renders with the tokenizer's chat template and reports reply spans like `SpecRenderer`."""

    name = "tokenizer"

    def __init__(self, tok: Any) -> None:
        template = tok.chat_template
        if isinstance(template, dict):
            template = template.get("default")
        if not template:
            raise TemplateError("template: tokenizer, but the tokenizer has no chat_template")
        known = identify(template)
        where = getattr(tok, "name_or_path", "") or "the tokenizer"
        self.label = f"chat template {known.name}" if known else f"chat template of {where}"
        self.template: str = known.training if known and known.training else template
        sandbox.compile_template(self.template, self.label)  # a syntax error fails here
        self.marked = bool(GENERATION.search(self.template))  # informational: spans ignore it
        self.kwargs = dict(tok.special_tokens_map)
        self.bos = tok.bos_token or ""
        self.eos = tok.eos_token or ""
        special = {t.content for t in tok.added_tokens_decoder.values() if t.special}
        self.stops = stop_pattern(special | set(tok.all_special_tokens))
        self._headers: dict[tuple[str, str], str] = {}
        self.reads_reasoning = self._reads_reasoning()

    def _reads_reasoning(self) -> bool:
        """Whether the template renders a final reply's `reasoning_content` (else it is inlined)."""
        probe = [
            {"role": "user", "content": "PMXQuserZ"},
            {"role": "assistant", "content": "PMXQreplyZ", "reasoning_content": "PMXQthinkZ"},
        ]
        try:
            return "PMXQthinkZ" in self._render(probe, False, None)
        except TemplateError:
            return True

    def _render(self, messages: list[dict[str, Any]], gen: bool, tools: Any) -> str:
        # compiled templates are cached by source, and the renderer stays picklable
        compiled = sandbox.compile_template(self.template, self.label)
        return sandbox.render(compiled, self.label, messages, gen, tools, **self.kwargs)

    def render(
        self,
        messages: list[dict[str, Any]],
        add_generation_prompt: bool = False,
        tools: list[dict[str, Any]] | None = None,
    ) -> Rendered:
        given = messages
        if not self.reads_reasoning:
            messages = [_inline_reasoning(m) for m in messages]
        try:
            text = self._render(messages, add_generation_prompt, tools)
        except TemplateError as exc:
            raise self._at_turn(exc, messages, tools) from None
        marks = Sentinels(messages, text)
        sent_text = self._render(marks.messages, add_generation_prompt, tools)
        pieces = marks.split(sent_text)
        sent = _Sent(sent_text, pieces, align(text, pieces, marks, self.label))
        spans = []
        replies = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        for i in replies:
            own = marks.pieces_of(i, pieces, self.label)
            if i == replies[-1] and not set(marks.marks_of(i, "reasoning")) <= set(pieces):
                raise TemplateError(
                    f"{self.label}: drops the reasoning of reply {i}; set reasoning: none to "
                    "train without it, or use a chat template that renders reasoning"
                )
            start = self._start(marks, sent, own[0], i, tools)
            end = self._end(marks, sent, own, i, len(messages), tools)
            body = self._body(marks, sent, own, i)
            a, b = sent.real(start), sent.real(end)
            lo, hi = _widen(text, a, b)
            spans.append(Span(a, b, lo, hi, i, -1 if body < 0 else sent.real(body)))
            content = (given[i].get("content") or "").strip()
            if a >= b or (content and content.split()[0] not in text[a:b]):
                raise TemplateError(
                    f"{self.label}: reply {i} is not inside the span found for it: "
                    f"{text[a:b][:80]!r}; use a template that renders each reply once"
                )
        return text, spans

    def _at_turn(self, exc: TemplateError, messages: list[dict[str, Any]], tools: Any) -> Exception:
        """The template's own error, with the first message whose rendering raises it."""
        for k in range(len(messages)):
            try:
                self._render(messages[: k + 1], False, tools)
            except TemplateError:
                role = messages[k]["role"]
                return TemplateError(
                    f"{exc} (at message {k}, {role}); remove or rewrite such turns with a "
                    "transform, or use a built-in template"
                )
        return exc

    def _start(self, marks: Sentinels, sent: _Sent, first: int, i: int, tools: Any) -> int:
        """Where reply i starts: the end of the generation prompt before its first sentinel."""
        reply_at = sent.at[first]
        prompt = self._render(marks.messages[:i], True, tools)
        found = list(marks.pattern.finditer(prompt))
        if found:
            last = found[-1].group()
            anchor = sent.text.rfind(last, 0, reply_at)
            if anchor < 0:
                anchor, tail = 0, prompt
            else:
                anchor += len(last)
                tail = prompt[found[-1].end() :]
        else:
            anchor, tail = 0, prompt
        start = anchor + common_prefix(sent.text[anchor:reply_at], tail)
        for m in self.stops.finditer(sent.text, max(0, start - 40), start + 40):
            if m.start() < start < m.end():  # never split a special token
                start = m.start()
        header = self._header(marks, tools)
        if header and sent.text.startswith(header, start) and start + len(header) <= reply_at:
            start += len(header)  # a turn header the prompt lacked (after tool output, Gemma 4)
        return min(start, reply_at)

    def _header(self, marks: Sentinels, tools: Any) -> str:
        """What the generation prompt adds after a user turn: the assistant's turn header."""
        key = (marks.prefix, repr(tools))
        if key not in self._headers:
            probe = {**marks.probe, "content": marks.prefix + "Z"}
            bare = self._render([probe], False, tools)
            prompt = self._render([probe], True, tools)
            self._headers[key] = prompt[len(bare) :] if prompt.startswith(bare) else ""
        return self._headers[key]

    def _end(
        self, marks: Sentinels, sent: _Sent, own: list[int], i: int, n: int, tools: Any
    ) -> int:
        """Just after reply i's end-of-turn token: the last special token kept whatever follows."""
        last = sent.pieces[own[-1]]
        after = sent.at[own[-1] + 1]
        actual = sent.text[after : sent.at[own[-1] + 2]]
        if i == n - 1:
            other_msgs = [*marks.messages[: i + 1], marks.probe]
        else:
            other_msgs = marks.messages[: i + 1]
        other = self._render(other_msgs, False, tools)
        k = other.rfind(last)
        shared = actual[: common_prefix(actual, other[k + len(last) :])] if k >= 0 else ""
        stops = list(self.stops.finditer(shared))
        if stops:
            return after + stops[-1].end()
        cut = len(shared.rstrip())  # an end marker that is plain text (no special tokens)
        if cut and not any(m.start() < cut < m.end() for m in self.stops.finditer(actual)):
            return after + cut
        first = self.stops.search(actual)
        if first is None:
            raise TemplateError(
                f"{self.label}: reply {i} is not followed by an end-of-turn token the tokenizer "
                "knows as special, so the model would never learn to stop; add that token to the "
                "tokenizer's special tokens or use a built-in template"
            )
        return after + first.end()

    def _body(self, marks: Sentinels, sent: _Sent, own: list[int], i: int) -> int:
        """Where reply i's text after its reasoning block starts (-1: no reasoning rendered)."""
        idx = [j for j in own if marks.field(sent.pieces[j]) == (i, "reasoning")]
        if not idx:
            return -1
        j = idx[0]
        after = sent.at[j + 1]
        later = [k for k in own if k > j]
        limit = sent.at[later[0]] if later else after
        glue = sent.text[after:limit]
        close = self.stops.search(glue) or CLOSE_TAG.search(glue)
        pos = after + (close.end() if close else len(glue))
        while pos < limit and sent.text[pos].isspace():
            pos += 1
        return pos


class _Sent:
    """The sentinel rendering: its pieces, where each starts, and where each is in the real text."""

    def __init__(self, text: str, pieces: list[str], starts: list[int]) -> None:
        self.text = text
        self.pieces = pieces
        self.at = list(accumulate(map(len, pieces), initial=0))
        self.starts = starts

    def real(self, pos: int) -> int:
        """The position in the real rendering of position `pos` of the sentinel one."""
        j = bisect_right(self.at, pos) - 1
        j = min(j, len(self.pieces) - 1)
        if j % 2:  # inside a marker: only its start maps
            return self.starts[j] if pos == self.at[j] else self.starts[j + 1]
        return self.starts[j] + pos - self.at[j]
