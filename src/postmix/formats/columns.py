"""Generic column mapping, for any source no dedicated converter reads.

The recipe names the columns (`a.b` reaches nested fields, `a.0` list items).
Which columns a kind needs is checked when the options are validated, if the
validation context carries the kind, and otherwise on the first row. Never
inferred from columns: it only runs when a recipe asks for it.

Reasoning and RL answers have their own columns: `reasoning` holds the
reply's trace (s1K's `thinking_trajectories`; an inline `<think>` block in the
response is read as well); `answer` is a reference answer taken as it is, and
`solution` a worked solution the answer is read out of (`answer_from`, see
`formats/answers.py`) when `answer` is unset or empty. A row whose solution
states no answer is dropped as `no_reference_answer`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

from postmix.formats.alpaca import user_turn
from postmix.formats.answers import AnswerFrom, reference_answer
from postmix.formats.base import ConvertContext, Converter
from postmix.formats.messages import as_messages
from postmix.formats.reasoning import with_reasoning
from postmix.schema import InvalidRow, Message, Skip, message, record

# Options each kind cannot do without.
NEEDS: dict[str, tuple[str, ...]] = {
    "sft": ("prompt", "response"),
    "preference": ("prompt", "chosen", "rejected"),
    "prompt": ("prompt",),
    "text": ("text",),
}
_PROMPT_PARTS = ("response", "system", "input", "chosen", "rejected", "answer", "solution")


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str | None = None
    response: str | None = None
    system: str | None = None
    input: str | None = None
    chosen: str | None = None
    rejected: str | None = None
    text: str | None = None
    answer: str | None = None
    solution: str | None = None
    answer_from: AnswerFrom = "auto"
    reasoning: str | None = None
    meta: list[str] = []

    @model_validator(mode="after")
    def _coherent(self, info: ValidationInfo) -> Options:
        if self.prompt is None and self.text is None:
            raise ValueError("set `prompt` (conversations) or `text` (documents)")
        if (self.chosen is None) != (self.rejected is None):
            raise ValueError("`chosen` and `rejected` are set together")
        dangling = [n for n in _PROMPT_PARTS if getattr(self, n) is not None]
        if self.prompt is None and dangling:
            raise ValueError(f"{', '.join(dangling)} need `prompt`")
        if self.reasoning is not None and self.response is None:
            raise ValueError("`reasoning` is the trace of `response`: set `response`")
        kind = (info.context or {}).get("kind")
        missing = self.missing_for(kind) if kind else []
        if missing:
            raise ValueError(f"kind {kind!r} needs {', '.join(missing)}")
        return self

    def missing_for(self, kind: str) -> list[str]:
        """The options `kind` needs that are not set."""
        return [name for name in NEEDS.get(kind, ()) if getattr(self, name) is None]


@lru_cache(maxsize=256)
def _segments(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def lookup(row: dict[str, Any], path: str) -> Any:
    """The value at `path`, or None; a key that itself contains dots is tried first."""
    if path in row:
        return row[path]
    value: Any = row
    for seg in _segments(path):
        if isinstance(value, dict):
            value = value.get(seg)
        elif (
            isinstance(value, list)
            and seg.lstrip("-").isdigit()
            and -len(value) <= int(seg) < len(value)
        ):
            value = value[int(seg)]
        else:
            return None
    return value


def required(row: dict[str, Any], path: str) -> Any:
    value = lookup(row, path)
    if value is None:
        raise InvalidRow(f"missing column {path!r}")
    return value


def prompt_turns(row: dict[str, Any], opts: Options) -> list[Message]:
    """System (when set and present) plus the prompt, with `input` joined as in Alpaca."""
    prompt = required(row, opts.prompt)
    extra = lookup(row, opts.input) if opts.input else None
    if isinstance(prompt, str):
        if not isinstance(extra, (str, type(None))):
            raise InvalidRow(f"column {opts.input!r} is not text")
        msgs = [message("user", user_turn(prompt, extra))]
    elif extra:
        raise InvalidRow("`input` can only join a text prompt")
    else:
        msgs = as_messages(prompt, "user")
    system = lookup(row, opts.system) if opts.system else None
    if system and not (msgs and msgs[0]["role"] == "system"):
        msgs.insert(0, message("system", system))
    return msgs


def reference(row: dict[str, Any], opts: Options) -> Any:
    """The `answer` column's value, else the answer the `solution` column states."""
    answer = lookup(row, opts.answer) if opts.answer else None
    if answer not in (None, "") or opts.solution is None:
        return answer
    solution = required(row, opts.solution)
    if not isinstance(solution, str):
        raise InvalidRow(f"column {opts.solution!r} is not text")
    answer = reference_answer(solution, opts.answer_from)
    if answer is None:
        raise Skip("no_reference_answer", f"answer_from: {opts.answer_from}")
    return answer


def trace(row: dict[str, Any], path: str) -> str | None:
    """The reasoning column: text, or a list of texts (s1K keeps one trajectory in a list)."""
    value = lookup(row, path)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = "\n\n".join(value)
    if value is not None and not isinstance(value, str):
        raise InvalidRow(f"column {path!r} is not text")
    return value


def convert(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    opts: Options = ctx.options
    if not isinstance(row, dict):
        raise InvalidRow(f"row is {type(row).__name__}, expected an object")
    missing = opts.missing_for(ctx.kind)
    if missing:
        raise InvalidRow(f"format 'columns' with kind {ctx.kind!r} needs options {missing}")
    meta = {path: value for path in opts.meta if (value := lookup(row, path)) is not None}
    answer = reference(row, opts)
    if answer is not None:
        meta["answer"] = answer
    if ctx.kind == "text":
        text = required(row, opts.text)
        if not isinstance(text, str):
            raise InvalidRow(f"column {opts.text!r} is not text")
        return [record("text", [], text=text, meta=meta)]
    msgs = prompt_turns(row, opts)
    if ctx.kind == "preference":
        chosen = as_messages(required(row, opts.chosen), "assistant")
        rejected = as_messages(required(row, opts.rejected), "assistant")
        return [record("preference", msgs, chosen=chosen, rejected=rejected, meta=meta)]
    if ctx.kind == "prompt":
        return [record("prompt", msgs, meta=meta)]
    response = as_messages(required(row, opts.response), "assistant")
    if opts.reasoning is not None and response:
        response[-1] = with_reasoning(response[-1], trace(row, opts.reasoning))
    return [record("sft", msgs + response, meta=meta)]


CONVERTER = Converter(
    name="columns",
    kinds=("sft", "preference", "prompt", "text"),
    convert=convert,
    options=Options,
    doc=__doc__ or "",
)
