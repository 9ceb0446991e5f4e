"""`postmix demo`: prepare the demo recipe, build a tiny model, fine-tune it on the CPU.

Everything is made here, offline: a byte-level BPE trained on the demo's own
training split (with ChatML's tokens, so the template's markers are single
tokens), a Llama-shaped model of about a million parameters with random
weights, then a few dozen SFT steps through `postmix sft`'s own code path.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from postmix.train.config import EvalSettings, TrainConfig, Training

SPECIAL = ("<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>")
ARCHS = ("llama", "qwen2")


def train_tokenizer(texts: list[str], out: Path, vocab_size: int = 2000) -> Any:
    """A byte-level BPE trained on `texts`, saved to `out` and loaded back."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from postmix.tokenizer import load_tokenizer

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tok.save_pretrained(str(out))
    return load_tokenizer(str(out))


def tiny_model(
    tok: Any,
    arch: str = "llama",
    *,
    hidden: int = 128,
    layers: int = 4,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int | None = None,
    max_positions: int = 2048,
    seed: int = 0,
) -> Any:
    """A randomly initialised causal LM sized to `tok` (about 1M parameters by default)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}")
    config_cls = LlamaConfig if arch == "llama" else Qwen2Config
    config = config_cls(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=intermediate or 2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config)


def demo_recipe() -> Path:
    """The recipe shipped in the package (its data files sit beside it)."""
    return Path(str(resources.files("postmix") / "demo" / "recipe.yaml"))


def message_texts(data_dir: Path) -> list[str]:
    """Every message of the demo's training split: what the tokenizer learns from."""
    from postmix.train.data import message_rows, open_prepared

    prepared = open_prepared(data_dir)
    train = next(o for o in prepared.manifest["outputs"] if o["split"] == "train")
    rows = message_rows(data_dir / train["path"])
    return [m.get("content") or "" for row in rows for m in row["messages"]]


def demo_config(out: Path, base: Path, steps: int) -> TrainConfig:
    """A config for a million-parameter model on two CPU cores: large steps, packed rows."""
    return TrainConfig(
        model=str(base),
        template="chatml",
        max_seq_length=512,
        output=str(out / "sft"),
        gen_test=1,
        training=Training(
            max_steps=steps,
            batch_size=8,
            learning_rate=3e-3,
            warmup=0.1,
            logging_steps=5,
            save_steps=steps,
        ),
        eval=EvalSettings(max_new_tokens=48),
    )


def run_demo(out: Path, steps: int = 40, *, say: Any = print) -> dict[str, Any]:
    """Prepare, build, train, report; returns the SFT metrics."""
    from postmix import recipe
    from postmix.prepare import prepare
    from postmix.train.sft import run_sft

    data_dir = out / "data"
    say(f"preparing the demo recipe into {data_dir}")
    prepare(recipe.load(demo_recipe(), output=data_dir), data_dir, progress=False)
    base = out / "base"
    tok = train_tokenizer(message_texts(data_dir), base)
    model = tiny_model(tok)
    model.save_pretrained(str(base))
    params = sum(p.numel() for p in model.parameters())
    say(f"tiny model: {params / 1e6:.2f}M parameters, vocabulary {len(tok)}, saved to {base}")
    metrics = run_sft(demo_config(out, base, steps), [str(data_dir)], eval_before=True)
    say(
        f"validation loss (assistant tokens only): {metrics['eval_loss_before']:.3f} before, "
        f"{metrics['eval_loss']:.3f} after {metrics['steps']} steps "
        f"({metrics['tokens_per_second']:.0f} trained tokens/s)"
    )
    sample = json.loads(Path(metrics["generations"]).read_text(encoding="utf-8").splitlines()[0])
    say(f"sample generation for {sample['prompt']!r}:")
    say(f"  model:     {sample['generation']!r}")
    say(f"  reference: {sample['reference'][:160]!r}")
    say(f"model, tokenizer and metrics.json in {out / 'sft'}")
    return metrics
