"""Tiny tokenizers trained inside the test run (nothing is downloaded), shared by every test.

- `bpe_tokenizer(dir)`: a byte-level BPE (GPT-2 style) saved as a Hugging Face
  tokenizer directory and loaded back through `postmix.tokenizer.load_tokenizer`.
- `sentencepiece_model(dir)`: a SentencePiece `.model` (BPE, byte fallback,
  identity normalization, like Llama's), loaded with `load_tokenizer(path)`.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

_WORDS = (
    "the a an of to and in is it that for on with as was be by this are or from at which "
    "model data answer question user assistant system tool train token reply chat write "
    "list explain code function return value python number three seven twelve hundred "
    "because however therefore example result please thanks sure here step first next last "
    "water river mountain city history science music language world people time year day"
)
WORDS = _WORDS.split()
UNICODE = (
    "Café crème brûlée à la française.",
    "Привет, как дела? Всё хорошо.",
    "你好，世界。今天天气很好。",
    "こんにちは、元気ですか。",
    "Emoji 🙂 🚀 ✨ and symbols → ≤ ≥ ∑ π.",
    "Ünïcödé naïve résumé coöperate.",
)
CODE = (
    "def add(a, b):\n    return a + b\n",
    "for i in range(10):\n    print(i * 2)\n",
    '{"name": "get_weather", "arguments": {"city": "Paris"}}',
    "SELECT id, name FROM users WHERE age > 30;",
)


def corpus(n: int = 3000, seed: int = 0) -> list[str]:
    """Deterministic mixed text: prose lines, code, unicode, numbers and blank lines."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        words = rng.choices(WORDS, k=rng.randint(3, 18))
        line = " ".join(words).capitalize() + rng.choice((".", "?", "!", ":", ","))
        if i % 7 == 0:
            line += f" {rng.randint(0, 10_000)}"
        if i % 11 == 0:
            line += "\n\n" + rng.choice(CODE)
        if i % 13 == 0:
            line = rng.choice(UNICODE) + " " + line
        lines.append(line)
    return lines + list(UNICODE) + list(CODE)


def bpe_tokenizer(tmp_dir: Path, vocab_size: int = 2000) -> Any:
    """A byte-level BPE with <s>/</s>/<pad>, saved to `tmp_dir` and loaded back from there."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from postmix.tokenizer import load_tokenizer

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(corpus(), trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tok.save_pretrained(tmp_dir)
    return load_tokenizer(str(tmp_dir))


def sentencepiece_model(
    tmp_dir: Path, vocab_size: int = 1200, model_type: str = "bpe", name: str = "spm.model"
) -> Path:
    """A SentencePiece model file trained on `corpus()`; load it with `load_tokenizer(path)`."""
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()),
        model_writer=buf,
        vocab_size=vocab_size,
        model_type=model_type,
        byte_fallback=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        split_digits=True,
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=3,
        minloglevel=2,
    )
    path = Path(tmp_dir) / name
    path.write_bytes(buf.getvalue())
    return path
