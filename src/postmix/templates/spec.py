"""One declarative chat-template spec, two derivations: a Jinja chat template and a Python renderer.

The Jinja string goes into the output tokenizer's config (so inference formats
prompts exactly as training did) and marks every reply with `{% generation %}`
for `apply_chat_template(..., return_assistant_tokens_mask=True)`. The Python
renderer produces the same text about 20x faster than Jinja and reports the
character span of each reply, which is what the tokenizer turns into labels.
A test renders many conversations both ways and compares them.

Strings may hold the placeholders `{bos}` and `{eos}`: the tokenizer's own bos
and eos tokens (`bos_token` / `eos_token` in the Jinja template).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from postmix.templates.tools import jinja_prelude, with_tools

PLACEHOLDER = re.compile(r"\{(bos|eos)\}")
THINK = ("<think>\n", "\n</think>\n\n")
TOOL_CALL = ("<tool_call>\n", "\n</tool_call>")


@dataclass(frozen=True)
class TemplateSpec:
    """How one chat format lays out turns.

    `assistant` is (prefix, end): `end` closes every reply and is trained with
    it (the end-of-turn token, so the model learns to stop); `after_reply` is
    untrained text after it. A spec without a `system` turn merges the system
    prompt into the first user turn as `system_in_user[0] + system + system_in_user[1]`.
    `generation_prompt` (default: the assistant prefix) must be a prefix of the
    assistant prefix; the rest of the prefix (the space of `[/INST] reply`) is
    produced by the model, so it belongs to the trained span.
    """

    name: str
    user: tuple[str, str]
    assistant: tuple[str, str]
    after_reply: str = ""
    system: tuple[str, str] | None = None
    system_in_user: tuple[str, str] = ("", "\n\n")
    tool: tuple[str, str] | None = None
    begin: str = ""
    default_system: str = ""
    generation_prompt: str | None = None
    special_tokens: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if not self.assistant[0].startswith(self.gen_prompt):
            raise ValueError(
                f"{self.name}: generation prompt is not a prefix of the assistant prefix"
            )

    @property
    def gen_prompt(self) -> str:
        return self.assistant[0] if self.generation_prompt is None else self.generation_prompt

    @property
    def lead(self) -> str:
        """The part of the assistant prefix after the generation prompt: the model writes it."""
        return self.assistant[0][len(self.gen_prompt) :]

    @property
    def tool_turn(self) -> tuple[str, str]:
        return self.tool or self.user

    def uses(self, placeholder: str) -> bool:
        """Whether any string of the spec holds `{bos}` / `{eos}`."""
        strings = (
            *self.user,
            *self.assistant,
            self.after_reply,
            *(self.system or ()),
            *self.system_in_user,
            *self.tool_turn,
            self.begin,
            self.gen_prompt,
        )
        return any(f"{{{placeholder}}}" in s for s in strings)


class Span(NamedTuple):
    """A trained character span of a rendered conversation.

    `start:end` is the reply and its end token; `lo:start` and `end:hi` are the
    template text around it, the only text a token straddling the span's edges
    may also cover (see `postmix.tokenize.verify_batch`). `body` is where the
    reply's text after its reasoning block starts (-1: no reasoning rendered),
    so `train_reasoning: false` can leave that block untrained.
    """

    start: int
    end: int
    lo: int
    hi: int
    index: int  # position of the message in the conversation
    body: int = -1


Rendered = tuple[str, list[Span]]


def think_block(message: dict[str, Any]) -> str:
    """The rendered reasoning of an assistant message ('' when it has none)."""
    reasoning = message.get("reasoning_content")
    return THINK[0] + reasoning + THINK[1] if reasoning else ""


def reply_text(message: dict[str, Any]) -> str:
    """The trained body of an assistant message: reasoning, content, then tool calls."""
    content = message.get("content") or ""
    calls = message.get("tool_calls")
    if not calls:
        return think_block(message) + content
    parts = [think_block(message), content]
    for i, call in enumerate(calls):
        if content or i:
            parts.append("\n")
        parts.append(TOOL_CALL[0] + tool_call_json(call) + TOOL_CALL[1])
    return "".join(parts)


def tool_call_json(call: dict[str, Any]) -> str:
    """`{"name": ..., "arguments": ...}`, string arguments kept verbatim (as in Qwen's template)."""
    fn = call.get("function") or call
    args = fn.get("arguments", {})
    args_json = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
    return (
        '{"name": '
        + json.dumps(fn["name"], ensure_ascii=False)
        + ', "arguments": '
        + args_json
        + "}"
    )


class SpecRenderer:
    """Fast pure-Python rendering of a spec, with `{bos}`/`{eos}` resolved for one tokenizer."""

    def __init__(self, spec: TemplateSpec, bos: str = "", eos: str = "") -> None:
        self.spec = spec
        self.name = spec.name
        self.bos = bos
        self.eos = eos

        def sub(s: str) -> str:
            return s.replace("{bos}", bos).replace("{eos}", eos)

        self._begin = sub(spec.begin)
        self._user = tuple(map(sub, spec.user))
        self._reply = tuple(map(sub, spec.assistant))
        self._after = sub(spec.after_reply)
        self._system = tuple(map(sub, spec.system)) if spec.system else None
        self._merge = tuple(map(sub, spec.system_in_user))
        self._tool = tuple(map(sub, spec.tool_turn))
        self._gen = sub(spec.gen_prompt)
        self._lead = sub(spec.lead)
        self._default = spec.default_system

    @property
    def end_text(self) -> str:
        """The trained end-of-turn text after each reply."""
        return self._reply[1]

    def render(
        self,
        messages: list[dict[str, Any]],
        add_generation_prompt: bool = False,
        tools: list[dict[str, Any]] | None = None,
    ) -> Rendered:
        """The conversation's text and the span of every reply (`tools` in the system prompt)."""
        given = len(messages)
        messages = with_tools(messages, tools, self._default)
        shift = len(messages) - given  # a system turn added for the tools: not the caller's
        out = [self._begin]
        pos = len(self._begin)
        spans: list[Span] = []
        pending = ""
        if self._default and (not messages or messages[0]["role"] != "system"):
            if self._system:
                s = self._system[0] + self._default + self._system[1]
                out.append(s)
                pos += len(s)
            else:
                pending = self._default
        for i, m in enumerate(messages):
            role = m["role"]
            if role == "assistant":
                body = self._lead + reply_text(m) + self._reply[1]
                start = pos + len(self._gen)
                stop = start + len(body)
                out += (self._gen, body, self._after)
                think = len(think_block(m)) if "reasoning_content" in m else 0
                after_think = start + len(self._lead) + think if think else -1
                hi = stop + len(self._after)
                spans.append(Span(start, stop, pos, hi, i - shift, after_think))
                pos = stop + len(self._after)
                continue
            if role == "system":
                if self._system:
                    s = self._system[0] + m["content"] + self._system[1]
                else:
                    pending = m["content"]
                    continue
            elif role == "tool":
                s = self._tool[0] + m["content"] + self._tool[1]
            else:
                head = self._user[0]
                if pending:
                    head += self._merge[0] + pending + self._merge[1]
                    pending = ""
                s = head + m["content"] + self._user[1]
            out.append(s)
            pos += len(s)
        if add_generation_prompt:
            out.append(self._gen)
        return "".join(out), spans


def _lit(s: str) -> str:
    """Jinja output of a spec string: quoted literals and bos_token/eos_token variables."""
    out = []
    for i, piece in enumerate(PLACEHOLDER.split(s)):
        if i % 2:
            out.append("{{- " + piece + "_token -}}")
        elif piece:
            out.append("{{- " + json.dumps(piece) + " -}}")
    return "".join(out)


def _jinja_reply() -> str:
    """Jinja twin of `reply_text`."""
    return (
        "{%- if message.get('reasoning_content') -%}"
        + _lit(THINK[0])
        + "{{- message['reasoning_content'] -}}"
        + _lit(THINK[1])
        + "{%- endif -%}"
        "{{- message['content'] -}}"
        "{%- for call in message.get('tool_calls') or [] -%}"
        "{%- if message['content'] or not loop.first -%}{{- '\\n' -}}{%- endif -%}"
        "{%- set fn = call.get('function') or call -%}"
        "{%- set args = fn.get('arguments', {}) -%}"
        + _lit(TOOL_CALL[0])
        + "{{- '{\"name\": ' -}}{{- fn['name'] | tojson -}}{{- ', \"arguments\": ' -}}"
        "{%- if args is string -%}{{- args -}}{%- else -%}{{- args | tojson -}}{%- endif -%}"
        "{{- '}' -}}" + _lit(TOOL_CALL[1]) + "{%- endfor -%}"
    )


def jinja_template(spec: TemplateSpec) -> str:
    """The spec as a Hugging Face chat template with `{% generation %}` around every reply."""
    sys_turn = spec.system
    default = json.dumps(spec.default_system)
    lines = [jinja_prelude(spec.default_system)]
    if sys_turn is None:
        lines.append("{%- set ns = namespace(pending=" + default + ") -%}")
        if spec.default_system:
            lines.append(
                "{%- if messages and messages[0]['role'] == 'system' -%}"
                "{%- set ns.pending = '' -%}{%- endif -%}"
            )
    lines.append(_lit(spec.begin))
    if sys_turn is not None and spec.default_system:
        lines.append(
            "{%- if not messages or messages[0]['role'] != 'system' -%}"
            + _lit(sys_turn[0])
            + "{{- "
            + default
            + " -}}"
            + _lit(sys_turn[1])
            + "{%- endif -%}"
        )
    lines.append("{%- for message in messages -%}")
    lines.append("{%- if message['role'] == 'assistant' -%}")
    lines.append(
        _lit(spec.gen_prompt)
        + "{%- generation -%}"
        + _lit(spec.lead)
        + _jinja_reply()
        + _lit(spec.assistant[1])
        + "{%- endgeneration -%}"
        + _lit(spec.after_reply)
    )
    lines.append("{%- elif message['role'] == 'system' -%}")
    if sys_turn is None:
        lines.append("{%- set ns.pending = message['content'] -%}")
    else:
        lines.append(_lit(sys_turn[0]) + "{{- message['content'] -}}" + _lit(sys_turn[1]))
    lines.append("{%- elif message['role'] == 'tool' -%}")
    lines.append(_lit(spec.tool_turn[0]) + "{{- message['content'] -}}" + _lit(spec.tool_turn[1]))
    lines.append("{%- else -%}")
    lines.append(_lit(spec.user[0]))
    if sys_turn is None:
        lines.append(
            "{%- if ns.pending -%}"
            + _lit(spec.system_in_user[0])
            + "{{- ns.pending -}}"
            + _lit(spec.system_in_user[1])
            + "{%- set ns.pending = '' -%}{%- endif -%}"
        )
    lines.append("{{- message['content'] -}}" + _lit(spec.user[1]))
    lines.append("{%- endif -%}")
    lines.append("{%- endfor -%}")
    lines.append("{%- if add_generation_prompt -%}" + _lit(spec.gen_prompt) + "{%- endif -%}")
    return "\n".join(line for line in lines if line) + "\n"
