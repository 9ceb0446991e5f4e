"""Anthropic hh-rlhf: `{chosen, rejected}` transcripts of "Human:" / "Assistant:" turns.

Turns are separated by `"\\n\\nHuman: "` / `"\\n\\nAssistant: "`: a turn starts
only at a speaker tag preceded by a blank line (or at the very start), so
"Human:" quoted inside a reply does not split it; spaces after the colon and
around turns are stripped. The two transcripts normally share every turn but
the last assistant reply: that shared part is the prompt and the two final
replies are `chosen` / `rejected`. A transcript that ends with an empty
"Assistant:" gives an empty reply, which the structure check drops later.

Some real pairs diverge before their last reply. Those keep the chosen side's
prompt, the final reply of each side, and `meta["prompt_mismatch"] = True`, so
a filter can drop them; the key is absent on well-formed pairs.
"""

from __future__ import annotations

import re
from typing import Any

from postmix.formats.base import ConvertContext, Converter
from postmix.schema import InvalidRow, Message, message, record, require

# A literal "\n\n" prefix lets the regex engine skip ahead (a `\A\s*|` alternative made
# every position a candidate: 23 µs per transcript against 5 µs). `parse` puts the
# separator in front of the transcript so its first turn splits the same way.
_TURN = re.compile(r"\n\n(Human|Assistant):")
_ROLES: dict[str, str] = {"Human": "user", "Assistant": "assistant"}


def parse(transcript: Any, side: str) -> list[Message]:
    """The turns of one transcript; text outside any turn makes it unreadable."""
    if not isinstance(transcript, str):
        raise InvalidRow(f"{side!r} is {type(transcript).__name__}, expected a transcript string")
    parts = _TURN.split("\n\n" + transcript.lstrip())
    if len(parts) < 3:
        raise InvalidRow(f"{side!r} has no 'Human:'/'Assistant:' turns")
    if parts[0].strip():
        raise InvalidRow(f"{side!r} has text before its first turn")
    return [
        message(_ROLES[who], text.strip())
        for who, text in zip(parts[1::2], parts[2::2], strict=True)
    ]


def split_reply(turns: list[Message]) -> tuple[list[Message], Message]:
    """The prompt and the final assistant reply (empty when the transcript ends on a user turn)."""
    if turns[-1]["role"] == "assistant":
        return turns[:-1], turns[-1]
    return turns, message("assistant", "")


def convert(row: dict[str, Any], ctx: ConvertContext) -> list[dict[str, Any]]:
    chosen_raw, rejected_raw = require(row, "chosen", "rejected")
    chosen_turns = parse(chosen_raw, "chosen")
    if ctx.kind == "sft":
        return [record("sft", chosen_turns)]
    rejected_turns = parse(rejected_raw, "rejected")
    prompt, chosen = split_reply(chosen_turns)
    rejected_prompt, rejected = split_reply(rejected_turns)
    meta = {} if prompt == rejected_prompt else {"prompt_mismatch": True}
    if ctx.kind == "prompt":
        return [record("prompt", prompt, meta=meta)]
    return [record("preference", prompt, chosen=[chosen], rejected=[rejected], meta=meta)]


CONVERTER = Converter(
    name="hh_rlhf",
    kinds=("preference", "sft", "prompt"),
    convert=convert,
    columns=(frozenset({"chosen", "rejected"}),),
    hub_ids=("anthropic/hh-rlhf",),
    doc=__doc__ or "",
)
