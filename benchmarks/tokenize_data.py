"""The tokenize benchmark's conversations and tokenizers.

Conversations come from the real files in shared/data through postmix's own
converters (OASST2 threads, LLaMA-Factory DPO dialogues with system prompts,
glaive tool calls, multi-turn chats stitched from Alpaca, Code Alpaca, GSM8K and
GPTeacher pairs); the tokenizers are a 32k byte-level BPE trained on them (cached
under benchmarks/_work/tokenize/) and a real SentencePiece model.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work" / "tokenize"
DATA = Path(os.environ.get("POSTMIX_SHARED_DATA", HERE.parents[1] / "shared" / "data"))


def converted(name: str, rel: str, kind: str = "sft") -> list[list[dict[str, Any]]]:
    """Conversations of one real file, through postmix's own converter for its format."""
    from postmix.formats import get
    from postmix.formats.base import ConvertContext

    path = DATA / rel
    text = path.read_text()
    rows = [json.loads(x) for x in text.split("\n") if x] if path.suffix == ".jsonl" else None
    if rows is None:
        rows = json.loads(text)
    conv = get(name)
    ctx = ConvertContext(kind=kind, options=conv.options(), seed=0, source=rel)
    out = []
    for _, rec in conv.stream(enumerate(rows), ctx):
        if isinstance(rec, dict):
            msgs = rec["messages"] + (rec.get("chosen") or [])
            out.append([_plain(m) for m in msgs])
    return out


def _plain(m: dict[str, Any]) -> dict[str, Any]:
    """A message with JSON-string tool arguments, so a `datasets` table can hold it for TRL."""
    out = {"role": m["role"], "content": m["content"]}
    if m.get("tool_calls"):
        out["tool_calls"] = [
            {
                "type": "function",
                "function": {
                    "name": c["function"]["name"],
                    "arguments": json.dumps(c["function"]["arguments"], ensure_ascii=False),
                },
            }
            for c in m["tool_calls"]
        ]
    return out


def conversations(n: int, seed: int = 0) -> list[list[dict[str, Any]]]:
    """n conversations: 30% real dialogues, 70% chats of 1-4 real instruction/reply pairs."""
    dialogues = (
        converted("oasst", "Open-Paws__Datasets/oasst2_filtered.jsonl")
        + converted("sharegpt", "hiyouga__LLaMA-Factory/glaive_toolcall_en_demo.json")
        + converted("sharegpt_preference", "hiyouga__LLaMA-Factory/dpo_en_demo.json", "preference")
    )
    singles = [
        c
        for name, rel in (
            ("alpaca", "hiyouga__LLaMA-Factory/alpaca_en_demo.json"),
            ("alpaca", "sahil280114__codealpaca/code_alpaca_2k.json"),
            ("alpaca", "teknium1__GPTeacher/codegen-instruct.json"),
            ("alpaca", "teknium1__GPTeacher/toolformer-dedupe-only-dataset.json"),
            ("gsm8k", "openai__grade-school-math/train.jsonl"),
        )
        for c in converted(name, rel)
    ]
    systems = sorted({c[0]["content"] for c in dialogues if c[0]["role"] == "system"})
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < 0.3:
            out.append(rng.choice(dialogues))
            continue
        msgs = [{"role": "system", "content": rng.choice(systems)}] if rng.random() < 0.3 else []
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
            msgs += [m for m in rng.choice(singles) if m["role"] != "system"]
        out.append(msgs)
    return out


# ---------------------------------------------------------------- tokenizers


def bpe_32k(texts: list[str]) -> Any:
    """A 32k byte-level BPE trained on the benchmark's own text (cached)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from postmix.tokenizer import load_tokenizer

    path = WORK / "bpe-32k"
    if not (path / "tokenizer.json").exists():
        backend = Tokenizer(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=32000,
            special_tokens=["<s>", "</s>", "<pad>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        backend.train_from_iterator(texts, trainer)
        tok = PreTrainedTokenizerFast(
            tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
        )
        tok.save_pretrained(path)
    return load_tokenizer(str(path))


def default_spm() -> str | None:
    spec = importlib.util.find_spec("mistral_common")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "tokenizer.model.v1"
    return str(path) if path.exists() else None
