"""The chat templates of current model families, as the installed `trl` package ships them.

`trl/chat_templates/` holds each family's original template and, for many, a
`*_training.jinja` variant that renders every turn the same wherever it sits
in the conversation (Qwen3 keeps each turn's reasoning; DeepSeek-R1 distills
stop cutting it out of the content). A tokenizer whose template is one of
those originals is rendered with its training variant; the name is also what
errors call the template. Nothing here imports trl (it pulls in torch).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple


class Known(NamedTuple):
    name: str
    training: str | None  # the training variant's source, when there is one


def templates_dir() -> Path | None:
    """`trl/chat_templates` of the installed trl, or None."""
    spec = importlib.util.find_spec("trl")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "chat_templates"
    return path if path.is_dir() else None


@lru_cache(maxsize=1)
def _catalog() -> dict[str, Known]:
    root = templates_dir()
    if root is None:
        return {}
    out = {}
    for path in sorted(root.glob("*.jinja")):
        training = path.with_name(path.stem + "_training.jinja")
        source = training.read_text() if training.exists() else None
        out[path.read_text().strip()] = Known(path.stem, source)
    return out


def identify(source: str) -> Known | None:
    """The stock template `source` is (by its exact text, surrounding whitespace aside)."""
    return _catalog().get(source.strip())
