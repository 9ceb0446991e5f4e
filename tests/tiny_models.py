"""Tiny random-init causal LMs (about 1M parameters) sized to a tokenizer from tests/tiny.py.

They are built by `postmix.train.demo.tiny_model` (what `postmix demo` uses),
so the tests train the same shapes the demo does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from postmix.train.demo import tiny_model


def tiny_llama(tok: Any, **kwargs: Any) -> Any:
    return tiny_model(tok, "llama", **kwargs)


def tiny_qwen2(tok: Any, **kwargs: Any) -> Any:
    return tiny_model(tok, "qwen2", **kwargs)


def save_model(model: Any, tok: Any, out: Path) -> Path:
    """Save a model and its tokenizer the way a hub checkpoint is laid out."""
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out
