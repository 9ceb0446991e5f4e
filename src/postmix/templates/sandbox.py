"""Rendering untrusted chat templates with limits: time, output size, and one-line errors.

Chat templates come from tokenizer directories people download; Jinja's
immutable sandbox already blocks attribute escapes. On top of it a render
here stops with a `TemplateError` naming the template when it runs past its
time or output budget (nested loops over `range`), recurses without end, or
touches something the sandbox blocks: one line, no Jinja traceback. The
environment matches the one transformers renders chat templates with, so the
text is the one inference sees.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError, safe_range

TIME_LIMIT = 10.0  # seconds per render
OUTPUT_LIMIT = 16 << 20  # characters per render
CHECK_EVERY = 4096  # range items between clock reads
REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


class TemplateError(ValueError):
    """A chat template that cannot be rendered, or whose replies cannot be located exactly."""


class _Budget:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise _Exceeded(f"ran longer than {self.seconds:g} s")


class _Exceeded(Exception):
    """Raised inside a render that passed its budget (never escapes `render`)."""


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _check() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.check()


class _Generation(Extension):
    """`{% generation %}...{% endgeneration %}`: its body (postmix finds reply spans otherwise)."""

    tags: ClassVar[set[str]] = {"generation"}

    def parse(self, parser: jinja2.parser.Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body).set_lineno(lineno)


class _Limited(ImmutableSandboxedEnvironment):
    """The immutable sandbox, reading the clock on every call and attribute access.

    `*` and `**` are checked before they run: `'x' * 10**9` or `9 ** 9 ** 9`
    would otherwise take the memory or the CPU in one step.
    """

    intercepted_binops = frozenset(("*", "**"))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check()
        if operator == "*":
            count = right if isinstance(left, (str, list, tuple)) else left
            if isinstance(count, int) and count > OUTPUT_LIMIT:
                raise _Exceeded(f"repeats a sequence {count} times")
        elif isinstance(right, int) and abs(right) > 10_000:
            raise _Exceeded(f"raises to the power {right}")
        return super().call_binop(context, operator, left, right)

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check()
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _check()
        return super().getitem(obj, argument)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        """A blocked attribute is an error at once (Jinja's default renders it as '')."""
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__} object")


def _range(*args: int) -> Iterator[int]:
    """The sandbox's bounded `range`, reading the clock as it goes."""
    for i, value in enumerate(safe_range(*args)):
        if i % CHECK_EVERY == 0:
            _check()
        yield value


def _raise(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(
    x: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: Any = None,
    sort_keys: bool = False,
) -> str:
    return json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


class _Namespace(jinja2.utils.Namespace):
    """`namespace()` without underscore attributes (as transformers has it)."""

    def __init__(*args: Any, **kwargs: Any) -> None:
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name in attrs:
            _Namespace._check_name(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        _Namespace._check_name(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check_name(name: Any) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise SecurityError(f"namespace attribute {name!r} starts with an underscore")


@lru_cache(maxsize=64)
def compile_template(source: str, name: str = "chat template") -> jinja2.Template:
    """The template compiled in the limited sandbox (a syntax error is a one-line TemplateError)."""
    env = _Limited(
        trim_blocks=True, lstrip_blocks=True, extensions=[_Generation, "jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = _tojson
    env.globals.update(
        raise_exception=_raise,
        strftime_now=lambda fmt: datetime.now().strftime(fmt),
        range=_range,
        dict=lambda *a, **k: dict(*a, **k),
        namespace=_Namespace,
    )
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{name}: syntax error on line {exc.lineno}: {exc.message}") from None


def with_reasoning_aliases(message: dict[str, Any]) -> dict[str, Any]:
    """The message with its reasoning under every name templates read (as transformers has it)."""
    reasoning = next((message[k] for k in REASONING_FIELDS if message.get(k) is not None), None)
    if reasoning is None:
        return message
    return {"thinking": reasoning, **message, "reasoning_content": reasoning}


def render(
    template: jinja2.Template,
    name: str,
    messages: list[dict[str, Any]],
    add_generation_prompt: bool = False,
    tools: list[dict[str, Any]] | None = None,
    *,
    seconds: float | None = None,
    max_chars: int | None = None,
    **kwargs: Any,
) -> str:
    """Render a conversation, stopping with a one-line TemplateError past the limits.

    The limits default to TIME_LIMIT and OUTPUT_LIMIT (read at each call).
    """
    messages = [with_reasoning_aliases(m) for m in messages]
    max_chars = OUTPUT_LIMIT if max_chars is None else max_chars
    token = _BUDGET.set(_Budget(TIME_LIMIT if seconds is None else seconds))
    out: list[str] = []
    size = 0
    try:
        for piece in template.generate(
            messages=messages, tools=tools, add_generation_prompt=add_generation_prompt, **kwargs
        ):
            size += len(piece)
            if size > max_chars:
                raise _Exceeded(f"rendered more than {max_chars} characters")
            out.append(piece)
            _check()
    except _Exceeded as exc:
        raise TemplateError(f"{name}: stopped, the template {exc}") from None
    except SecurityError as exc:
        raise TemplateError(f"{name}: blocked by the sandbox: {_one_line(exc)}") from None
    except RecursionError:
        raise TemplateError(f"{name}: stopped, the template recurses without end") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{name}: {_one_line(exc)}") from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        raise TemplateError(f"{name}: {type(exc).__name__}: {_one_line(exc)}") from None
    finally:
        _BUDGET.reset(token)
    return "".join(out)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500]
