"""Loading the tokenizer a recipe names: a local dir, a hub id, or a bare SentencePiece `.model`."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_tokenizer(spec: str) -> Any:
    """A fast Hugging Face tokenizer for `spec`.

    A `.model` file is a SentencePiece model (the usual output of training your
    own tokenizer); it is converted to a fast tokenizer so every later step sees
    one API.
    """
    from transformers import AutoTokenizer

    path = Path(spec)
    if path.suffix == ".model" and path.is_file():
        return sentencepiece_tokenizer(path)
    return AutoTokenizer.from_pretrained(spec)


def sentencepiece_tokenizer(path: Path) -> Any:
    """A fast tokenizer converted from a SentencePiece model file."""
    from transformers import LlamaTokenizer, PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import convert_slow_tokenizer

    slow = LlamaTokenizer(vocab_file=str(path), legacy=False, add_bos_token=False)
    fast = convert_slow_tokenizer(slow)
    return PreTrainedTokenizerFast(
        tokenizer_object=fast,
        bos_token=slow.bos_token,
        eos_token=slow.eos_token,
        unk_token=slow.unk_token,
        pad_token=slow.pad_token or slow.eos_token,
    )
