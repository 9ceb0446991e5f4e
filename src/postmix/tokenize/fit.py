"""The over-length policy: keep, drop, raise, or truncate keeping a trained token."""

from __future__ import annotations

import dataclasses

import numpy as np

from postmix.tokenize.records import IGNORE, OverLength, OverLengthError, TokenizedRecord


def fit(r: TokenizedRecord, max_length: int, policy: OverLength) -> TokenizedRecord | str:
    """Apply the over-length policy to one record; a string is its drop reason.

    Truncation marks `cut_reply` when it cuts a reply before its end-of-turn
    token (the model then never sees where that reply stops), and drops a pair
    whose two sides become identical (`identical_after_truncation`): such a
    pair has no preference left to learn.
    """
    if r.kind == "preference":
        n = len(r.prompt_ids) + max(len(r.chosen_ids), len(r.rejected_ids))
    else:
        n = len(r.input_ids)
    if n <= max_length:
        return r
    if policy == "error":
        raise OverLengthError(f"record {r.id}: {n} tokens > max_length {max_length}")
    if policy == "drop":
        return "too_long"
    if r.kind == "preference":
        room = max_length - len(r.prompt_ids)
        if room < 1:
            return "prompt_too_long"
        chosen, rejected = r.chosen_ids[:room], r.rejected_ids[:room]
        if len(chosen) == len(rejected) and np.array_equal(chosen, rejected):
            return "identical_after_truncation"
        cut = len(r.chosen_ids) > room or len(r.rejected_ids) > room
        return dataclasses.replace(
            r, chosen_ids=chosen, rejected_ids=rejected, truncated=True, cut_reply=cut
        )
    if r.kind == "prompt":
        return dataclasses.replace(r, input_ids=r.input_ids[-max_length:], truncated=True)
    labels = r.labels[:max_length]
    if not np.any(labels != IGNORE):
        return "prompt_too_long"
    cut = bool(labels[-1] != IGNORE and r.labels[max_length] != IGNORE)
    return dataclasses.replace(
        r, input_ids=r.input_ids[:max_length], labels=labels, truncated=True, cut_reply=cut
    )
