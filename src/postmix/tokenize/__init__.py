"""Canonical records → token ids and loss labels, a batch at a time, with a built-in verifier.

What each kind produces (what TRL consumes pre-tokenized):
- sft: `input_ids` + `labels` (-100 where not trained); SFTTrainer takes them as is.
- text: the same, every token trained, eos appended.
- preference: `prompt_ids`, `chosen_ids`, `rejected_ids` (the keys of TRL's
  DPO collator): the shared prompt with its generation prompt, then each side's
  reply tokens through its end token.
- prompt: `input_ids` of the prompt with the generation prompt (RL / GRPO).

Modules: `records` (what is produced), `layout` (where tokens lie in their
text), `batch` (`tokenize_batch`), `fit` (over-length policy), `verify` (the
mask verifier), `roundtrip` (what a lossy tokenizer changes).
"""

from postmix.tokenize.batch import CHUNK, Options, keep_reasoning, tokenize_batch
from postmix.tokenize.fit import fit
from postmix.tokenize.layout import _CODECS, Codec, Layout, codec, fast_backend
from postmix.tokenize.records import (
    IGNORE,
    OVER_LENGTH,
    REASONING,
    TRAIN_ON,
    MaskError,
    OverLength,
    OverLengthError,
    Reasoning,
    RoundTripError,
    Sequences,
    TokenizedRecord,
    TrainOn,
)
from postmix.tokenize.roundtrip import CATEGORIES, lost
from postmix.tokenize.verify import verify_batch

__all__ = [
    "CATEGORIES",
    "CHUNK",
    "IGNORE",
    "OVER_LENGTH",
    "REASONING",
    "TRAIN_ON",
    "_CODECS",
    "Codec",
    "Layout",
    "MaskError",
    "Options",
    "OverLength",
    "OverLengthError",
    "Reasoning",
    "RoundTripError",
    "Sequences",
    "TokenizedRecord",
    "TrainOn",
    "codec",
    "fast_backend",
    "fit",
    "keep_reasoning",
    "lost",
    "tokenize_batch",
    "verify_batch",
]
