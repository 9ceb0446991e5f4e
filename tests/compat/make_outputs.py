"""Write one prepared output per (kind, schema, file format) under DIR, for `load_outputs.py`.

Run with the project's environment: `python -m tests.compat.make_outputs DIR`. The
outputs come from the small synthetic rows of `tests.outputs` (system prompts, tool
calls, reference answers), so the check needs no shared data.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.outputs import build

FORMATS = ("jsonl", "parquet", "disk")
SCHEMAS = {
    "sft": ("messages", "conversations", "sharegpt", "alpaca", "prompt_response"),
    "preference": ("messages", "conversations", "sharegpt"),
    "prompt": ("messages", "conversations"),
}


def make_all(root: Path, tokenizer: Path | None = None) -> list[Path]:
    """Every output dir written under `root` (tokenized ones too when given a tokenizer)."""
    dirs = []
    for kind, schemas in SCHEMAS.items():
        for schema in schemas:
            for fmt in FORMATS:
                out, _ = build(root / f"{kind}-{schema}-{fmt}", kind, schema, fmt)
                dirs.append(out)
        if tokenizer is not None:
            for fmt in ("parquet", "disk"):
                settings = {"tokenizer": str(tokenizer), "template": "chatml"}
                out, _ = build(root / f"{kind}-tokenized-{fmt}", kind, "tokenized", fmt, **settings)
                dirs.append(out)
    return dirs


def main(argv: list[str]) -> None:
    from tests.tiny import bpe_tokenizer

    root = Path(argv[0])
    tok = Path(tempfile.mkdtemp(prefix="postmix-tok-"))
    bpe_tokenizer(tok)
    for out in make_all(root, tok):
        print(out)


if __name__ == "__main__":
    main(sys.argv[1:])
