"""What a lossy tokenizer cannot represent: the round trip of a text, named by category.

A tokenizer that normalizes text (SentencePiece with `nmt_nfkc`,
`remove_extra_whitespaces` and no byte fallback; NFC normalizers) decodes a
text to something else than it was given. Masks on such a tokenizer are
checked against what it can represent, and each record says what its round
trip lost, so a run can report it once instead of failing or hiding it.
"""

from __future__ import annotations

import difflib
from typing import Any

UNK = "\x00"  # one character for the unknown token while diffing
CATEGORIES = ("newlines", "whitespace", "unknown_characters", "unicode_normalization")


def round_trip(backend: Any, ids: list[list[int]]) -> list[str]:
    """The texts the tokenizer decodes these token sequences to (special tokens kept)."""
    return backend.decode_batch(ids, skip_special_tokens=False)


def lost(original: str, decoded: str, unk: str | None = None) -> tuple[str, ...]:
    """The categories of change between a text and its round trip, in CATEGORIES order."""
    if original == decoded:
        return ()
    if unk:
        decoded = decoded.replace(unk, UNK)
    found = set()
    matcher = difflib.SequenceMatcher(None, original, decoded, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        a, b = original[i1:i2], decoded[j1:j2]
        newlines = a.count("\n") != b.count("\n")
        if newlines:
            found.add("newlines")
        core_a, core_b = "".join(a.split()), "".join(b.split())
        if core_a == core_b:
            if not newlines:
                found.add("whitespace")
        elif UNK in b or (len(core_b) < len(core_a) and core_b in core_a):
            found.add("unknown_characters")
        else:
            found.add("unicode_normalization")
    return tuple(c for c in CATEGORIES if c in found) or ("whitespace",)
