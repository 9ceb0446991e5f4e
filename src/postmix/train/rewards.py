"""Reward functions for `postmix grpo`, by name or by dotted path.

TRL calls each with `prompts`, `completions` (strings, or lists of messages
for conversational prompts), `completion_ids` and every other dataset column
as a keyword (here `answer`, the reference the pipeline put in `meta.answer`),
and expects one float (or None: no opinion) per completion.

Answers are read with the same extractors the converters use
(`postmix.formats.answers`): the last `\\boxed{}`, GSM8K's `#### N`, or a
final "The answer is ..." line.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

from postmix.formats.answers import reference_answer
from postmix.formats.reasoning import BLOCKS, TAGS, split_inline

Reward = Callable[..., list[float | None]]

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or the content of its assistant messages."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content") or "" for m in completion if m.get("role") == "assistant")


def extract_answer(text: str) -> str | None:
    """The final answer a completion states: `\\boxed{}`, then `#### N`, then "The answer is"."""
    return reference_answer(text)


def normalize(answer: str) -> str:
    """Compare answers as numbers where they are numbers ("1,000" = "1000.0"), else as text."""
    a = answer.strip().strip("$").replace(",", "").removesuffix(".").strip()
    if _NUMBER.fullmatch(a):
        return repr(float(a))
    return " ".join(a.lower().split())


def math_answer(
    completions: list[Any], answer: list[str | None] | None = None, **_: Any
) -> list[float | None]:
    """1.0 when the final answer equals the reference, else 0.0 (None: no reference)."""
    refs = answer or [None] * len(completions)
    out: list[float | None] = []
    for completion, ref in zip(completions, refs):
        if ref is None:
            out.append(None)
            continue
        got = extract_answer(completion_text(completion))
        out.append(float(got is not None and normalize(got) == normalize(str(ref))))
    return out


def answer_format(completions: list[Any], **_: Any) -> list[float | None]:
    """1.0 when a final answer can be read at all (boxed, `####` or stated), else 0.0."""
    return [float(extract_answer(completion_text(c)) is not None) for c in completions]


def think_then_answer(text: str) -> bool:
    """One reasoning block that opens the text and holds some reasoning, then a non-empty answer.

    Blank reasoning, a missing answer, or a second (or doubled) tag anywhere is
    the layout a think-then-answer policy must not learn.
    """
    reasoning, answer = split_inline(text)
    if not reasoning or not reasoning.strip() or not answer.strip():
        return False
    return not any(tag in reasoning or tag in answer for tag in TAGS)


def think_format(
    completions: list[Any], *, opened_by_prompt: bool = False, **_: Any
) -> list[float | None]:
    """1.0 for `<think>…</think>` then an answer (`think_then_answer`), else 0.0.

    `opened_by_prompt`: the chat template ends the prompt with `<think>` (R1
    distills, Qwen3 thinking mode), so completions start inside the block.
    """
    opening = BLOCKS[0][0] if opened_by_prompt else ""
    return [float(think_then_answer(opening + completion_text(c))) for c in completions]


def length_penalty(
    completions: list[Any],
    completion_ids: list[list[int]] | None = None,
    *,
    target: int = 128,
    limit: int = 256,
    **_: Any,
) -> list[float | None]:
    """0 up to `target` tokens, falling linearly to -1 at `limit` tokens and beyond."""
    lengths = [len(ids) for ids in completion_ids] if completion_ids else [0] * len(completions)
    span = max(limit - target, 1)
    return [-min(max(n - target, 0) / span, 1.0) for n in lengths]


BUILTIN: dict[str, Reward] = {
    "math_answer": math_answer,
    "answer_format": answer_format,
    "think_format": think_format,
    "length_penalty": length_penalty,
}


def named(fn: Reward, name: str, options: dict[str, Any]) -> Reward:
    """`fn` with its options bound, under the name TRL logs it by (`rewards/<name>/mean`)."""
    if not options:
        return fn

    def bound(*args: Any, **kwargs: Any) -> list[float | None]:
        return fn(*args, **kwargs, **options)

    bound.__name__ = name
    return bound


def load_reward(name: str, options: dict[str, Any] | None = None) -> Reward:
    """A built-in reward by name, or a function by `pkg.module:function` / `pkg.module.function`."""
    options = options or {}
    if name in BUILTIN:
        return named(BUILTIN[name], name, options)
    module, sep, attr = name.partition(":") if ":" in name else name.rpartition(".")
    if not sep or not module:
        raise ValueError(
            f"unknown reward {name!r}: built-in ones are {', '.join(BUILTIN)}, "
            "or give a dotted path such as my_rewards:score"
        )
    fn = getattr(importlib.import_module(module), attr, None)
    if not callable(fn):
        raise ValueError(f"reward {name!r}: {module} has no function {attr!r}")
    return named(fn, attr, options)
