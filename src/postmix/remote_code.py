"""Code shipped inside a tokenizer or model dir never runs.

A dir whose config has `auto_map` makes transformers ask "run custom code?
[y/N]" unless `trust_remote_code` is given, and `yes | postmix ...` answers it.
Every load passes `trust_remote_code=False`; the refusal transformers then
raises becomes one message that names the dir and says why.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class RemoteCodeError(ValueError):
    """A tokenizer or model dir that can only be loaded by running its own Python code."""


@contextmanager
def refuse_remote_code(spec: str) -> Iterator[None]:
    """Turn transformers' "pass trust_remote_code=True" refusal into a RemoteCodeError."""
    try:
        yield
    except ValueError as exc:
        if "trust_remote_code" not in str(exc):
            raise
        raise RemoteCodeError(
            f"{spec} needs custom code (`auto_map` in its config points at Python files in "
            "the dir or repo); postmix never runs code from model or tokenizer dirs: use one "
            "whose classes transformers ships"
        ) from None
