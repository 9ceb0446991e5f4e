"""UltraFeedback, binarized or raw.

Binarized (HuggingFaceH4, Argilla's cleaned copy): `chosen` / `rejected` are
whole conversations, `[{role, content}]`, ending with the assistant reply. The
turns before the trailing assistant turn(s) are the prompt and must be equal on
both sides (a pair answering different prompts is malformed); a side holding
only the reply takes its prompt from the `prompt` column. Scores, prompt id and
models go to `meta` (`score_chosen`, `score_rejected`, `prompt_id`,
`chosen_model`, `rejected_model`).

Raw (openbmb/UltraFeedback): `{instruction, completions: [{response, model,
overall_score, fine-grained_score, ...}]}`. The best completion (by the
`score` option; the first one on a tie) is chosen; the rejected one is drawn,
seeded per instruction, among the completions scoring strictly lower, the
recipe H4 used to build the binarized set. A row whose completions all tie is
dropped as `no_pair`.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from postmix.formats.base import ConvertContext, Converter
from postmix.formats.messages import to_messages
from postmix.schema import InvalidRow, Message, Skip, message, record, require
from postmix.steps import record_rng_seed


class Options(BaseModel):
    """How raw completions are ranked (binarized rows are already ranked).

    `fine-grained_score`, the mean of the four aspect ratings, is what H4's
    corrected binarization ranks by; `overall_score` is the critique's rating.
    """

    model_config = ConfigDict(extra="forbid")

    score: Literal["fine-grained_score", "overall_score"] = "fine-grained_score"


# Upstream column → meta key (H4 and Argilla spell the same facts differently).
_META_FIELDS: dict[str, str] = {
    "score_chosen": "score_chosen",
    "chosen-rating": "score_chosen",
    "score_rejected": "score_rejected",
    "rejected-rating": "score_rejected",
    "prompt_id": "prompt_id",
    "chosen-model": "chosen_model",
    "rejected-model": "rejected_model",
}


def split_replies(conv: list[Message]) -> tuple[list[Message], list[Message]]:
    """The prompt and the trailing assistant turn(s) of a conversation."""
    end = len(conv)
    while end and conv[end - 1]["role"] == "assistant":
        end -= 1
    return conv[:end], conv[end:]


def from_binarized(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    chosen_raw, rejected_raw = require(row, "chosen", "rejected")
    prompt, chosen = split_replies(to_messages(chosen_raw))
    rejected_prompt, rejected = split_replies(to_messages(rejected_raw))
    if prompt != rejected_prompt:
        raise InvalidRow("chosen and rejected answer different prompts")
    if not prompt:
        prompt = [message("user", require(row, "prompt")[0])]
    meta = {key: row[col] for col, key in _META_FIELDS.items() if row.get(col) is not None}
    if ctx.kind == "sft":
        return [record("sft", [*prompt, *chosen], meta=meta)]
    if ctx.kind == "prompt":
        return [record("prompt", prompt, meta=meta)]
    return [record("preference", prompt, chosen=chosen, rejected=rejected, meta=meta)]


def score(completion: Any, field: str) -> float:
    """A completion's rank score; a missing or non-numeric one makes the row malformed."""
    value = require(completion, field)[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRow(f"completion {field!r} is {value!r}, expected a number")
    return float(value)


def completion_reply(
    completion: dict[str, Any], scored: float, side: str
) -> tuple[Message, dict[str, Any]]:
    """A completion as an assistant message, and its score and model as `meta` entries."""
    meta: dict[str, Any] = {f"score_{side}": scored}
    if completion.get("model") is not None:
        meta[f"{side}_model"] = completion["model"]
    return message("assistant", require(completion, "response")[0]), meta


def from_completions(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    instruction, completions = require(row, "instruction", "completions")
    if not isinstance(completions, list):
        raise InvalidRow("'completions' must be a list")
    prompt = [message("user", instruction)]
    if ctx.kind == "prompt":
        return [record("prompt", prompt)]
    if not completions:
        raise Skip("no_pair", "no completions")
    scores = [score(c, ctx.options.score) for c in completions]
    best = max(range(len(scores)), key=scores.__getitem__)
    chosen, meta = completion_reply(completions[best], scores[best], "chosen")
    if ctx.kind == "sft":
        return [record("sft", [*prompt, chosen], meta=meta)]
    lower = [i for i, s in enumerate(scores) if s < scores[best]]
    if not lower:
        raise Skip("no_pair", f"all {len(scores)} completions score {scores[best]}")
    worst = random.Random(record_rng_seed(ctx.seed, instruction)).choice(lower)
    rejected, rejected_meta = completion_reply(completions[worst], scores[worst], "rejected")
    meta.update(rejected_meta)
    return [record("preference", prompt, chosen=[chosen], rejected=[rejected], meta=meta)]


def convert(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    if isinstance(row, dict) and "completions" in row:
        return from_completions(row, ctx)
    return from_binarized(row, ctx)


CONVERTER = Converter(
    name="ultrafeedback",
    kinds=("preference", "sft", "prompt"),
    convert=convert,
    columns=(
        frozenset(
            {
                "prompt",
                "prompt_id",
                "chosen",
                "rejected",
                "messages",
                "score_chosen",
                "score_rejected",
            }
        ),
        frozenset({"prompt", "chosen", "rejected", "score_chosen", "score_rejected"}),
        frozenset({"prompt", "chosen", "chosen-rating", "rejected", "rejected-rating"}),
        frozenset({"source", "instruction", "models", "completions"}),
        frozenset({"instruction", "completions"}),
    ),
    hub_ids=(
        "huggingfaceh4/ultrafeedback_binarized",
        "argilla/ultrafeedback-binarized-preferences-cleaned",
        "openbmb/ultrafeedback",
    ),
    options=Options,
    doc=__doc__ or "",
)
