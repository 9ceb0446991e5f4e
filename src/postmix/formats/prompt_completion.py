"""Prompt/completion pairs: legacy OpenAI fine-tuning files and TRL's prompt-completion layout.

Legacy files hold two strings: the completion starts with a space (OpenAI's
advice for its tokenizer) and ends with an end-of-text marker (`<|endoftext|>`,
`</s>`) that would otherwise be trained as literal text; both are stripped.
TRL's conversational variant holds message lists on both sides (and a KTO
`label`, kept as `meta["label"]`). Prompt records keep the completion as
`meta["answer"]` unless the label marks it as undesirable.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from postmix.formats.base import ConvertContext, Converter
from postmix.formats.kto import labelled
from postmix.formats.messages import as_messages, chat_meta
from postmix.schema import record, require


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strip_markers: list[str] = ["<|endoftext|>", "</s>"]


def strip_end_markers(text: str, markers: list[str]) -> str:
    """`text` without trailing end markers (repeated or separated by whitespace)."""
    text = text.rstrip()
    stripped = True
    while stripped:
        stripped = False
        for marker in markers:
            if marker and text.endswith(marker):
                text = text[: -len(marker)].rstrip()
                stripped = True
    return text


def convert(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    prompt_raw, completion_raw = require(row, "prompt", "completion")
    prompt = as_messages(prompt_raw.strip() if isinstance(prompt_raw, str) else prompt_raw, "user")
    completion = as_messages(completion_raw, "assistant")
    if completion:
        last = completion[-1]
        last["content"] = strip_end_markers(last["content"], ctx.options.strip_markers).lstrip()
    meta = chat_meta(row)
    if ctx.kind == "prompt":
        if completion and meta.get("label", True):
            meta["answer"] = completion[-1]["content"]
        return [record("prompt", prompt, meta=meta)]
    return [labelled(ctx.kind, prompt + completion, meta.get("label"), meta=meta)]


CONVERTER = Converter(
    name="prompt_completion",
    kinds=("sft", "prompt", "kto"),
    convert=convert,
    columns=(frozenset({"prompt", "completion"}), frozenset({"prompt", "completion", "label"})),
    hub_ids=("trl-lib/tldr", "trl-lib/kto-mix-14k"),
    options=Options,
    doc=__doc__ or "",
)
