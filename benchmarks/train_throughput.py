"""SFT throughput: `postmix sft` on packed rows vs TRL's SFTTrainer without packing.

Same model, same data, same tokenizer and chat template. The data is the demo
recipe (about 370 real-looking conversations of ten formats, shipped with the
package), prepared once; the tokenizer is a byte-level BPE trained on it with
ChatML's tokens; the model is random-init (weights do not change the speed).

Runs, each for the same number of optimizer steps, timed around
`trainer.train()` only (data preparation and model loading excluded):

- trl: `SFTTrainer` on the conversations (`assistant_only_loss=True`, the
  chat template with `{% generation %}` markers), padded batches, no packing;
- postmix: `postmix sft`'s code path (`run_sft`) on rows packed by postmix to
  `max_seq_length`, padding-free, at several batch sizes.

Reported: trained tokens/s (tokens whose label is not -100, what the loss is
computed on), non-pad tokens/s (every real token the model processes), and
the ratios to TRL. Median of `--repeats` runs, taken round robin. Not a test.

    python benchmarks/train_throughput.py --size tiny --steps 30 --repeats 3
    python benchmarks/train_throughput.py --size 0.5b --attn flash_attention_2  # a GPU
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from postmix import recipe
from postmix.prepare import prepare
from postmix.train.common import TrainedTokens, load_model, precision, train
from postmix.train.config import TrainConfig, Training
from postmix.train.demo import demo_recipe, message_texts, tiny_model, train_tokenizer
from postmix.train.sft import run_sft

# Model shapes: a ~1M-parameter toy and a 0.5B-class body (Qwen2-0.5B's layers and widths).
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"hidden": 128, "layers": 4, "heads": 4, "kv_heads": 2},
    "small": {"hidden": 256, "layers": 6, "heads": 8, "kv_heads": 2},
    "0.5b": {"hidden": 896, "layers": 24, "heads": 14, "kv_heads": 2, "intermediate": 4864},
}


def setup(work: Path, size: str) -> tuple[Path, Path, int]:
    """Prepared demo data and a saved random model with its tokenizer; the parameter count."""
    data = work / "data"
    prepare(recipe.load(demo_recipe()), data, progress=False)
    base = work / "base"
    tok = train_tokenizer(message_texts(data), base)
    model = tiny_model(tok, **SIZES[size])
    model.save_pretrained(str(base))
    return data, base, sum(p.numel() for p in model.parameters())


@dataclass
class Bench:
    """What every run shares: where to work, the data, the model and the step budget."""

    work: Path
    data: Path
    base: Path
    steps: int
    max_length: int
    attn: str | None

    def config(self, batch: int) -> TrainConfig:
        return TrainConfig(
            model=str(self.base),
            attn_implementation=self.attn,
            template="chatml",
            max_seq_length=self.max_length,
            over_length="truncate",
            output=tempfile.mkdtemp(dir=self.work),
            training=Training(
                max_steps=self.steps,
                batch_size=batch,
                learning_rate=1e-3,
                logging_steps=self.steps,
                save_steps=10 * self.steps,
            ),
        )


def rates(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "trained": m["trained_tokens"],
        "seconds": m["train_seconds"],
        "tokens": m["input_tokens"],
    }


def run_postmix(b: Bench, batch: int) -> dict[str, Any]:
    """`postmix sft` as the CLI runs it: rows tokenized and packed by postmix, padding-free."""
    return rates(run_sft(b.config(batch), [str(b.data)]))


def run_trl(b: Bench, batch: int) -> dict[str, Any]:
    """TRL's own path: conversations in, TRL tokenizes, masks and pads them; no packing."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from postmix.templates import bind
    from postmix.tokenizer import load_tokenizer
    from postmix.train.data import message_rows, open_prepared

    class Counting(TrainedTokens, SFTTrainer):
        pass

    tok = load_tokenizer(str(b.base))
    bind(tok, "chatml")
    prepared = open_prepared(b.data)
    train_file = next(o["path"] for o in prepared.manifest["outputs"] if o["split"] == "train")
    rows = [{"messages": r["messages"]} for r in message_rows(b.data / train_file)]
    cfg = b.config(batch)
    bf16, ckpt = precision(cfg)
    args = SFTConfig(
        output_dir=cfg.output,
        max_steps=b.steps,
        per_device_train_batch_size=batch,
        learning_rate=1e-3,
        logging_steps=b.steps,
        save_strategy="no",
        report_to="none",
        bf16=bf16,
        gradient_checkpointing=ckpt,
        assistant_only_loss=True,
        max_length=b.max_length,
        packing=False,
    )
    model = load_model(str(b.base), cfg)
    trainer = Counting(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok
    )
    return rates(train(trainer, None))


def median(runs: list[dict]) -> dict:
    """The run with the median trained tokens/s, and every run's rate."""
    best = dict(sorted(runs, key=lambda r: r["trained"] / r["seconds"])[len(runs) // 2])
    best["all_tps"] = [round(r["trained"] / r["seconds"]) for r in runs]
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="tiny")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 2, 8])
    ap.add_argument("--trl-batch", type=int, default=8)
    ap.add_argument("--attn", help="attn_implementation, e.g. flash_attention_2 on a GPU")
    ap.add_argument("--threads", type=int, help="torch threads (1 is steadier on a busy CPU)")
    ap.add_argument("--work", type=Path, default=Path(__file__).parent / "_work" / "train")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    if a.threads:
        torch.set_num_threads(a.threads)
    data, base, params = setup(a.work, a.size)
    bench = Bench(a.work, data, base, a.steps, a.max_length, a.attn)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor()
    print(
        f"model {a.size} ({params / 1e6:.1f}M params), {a.steps} steps, max_length "
        f"{a.max_length}, {a.repeats} repeats (median), torch threads "
        f"{torch.get_num_threads()}, cpus {os.cpu_count()}, device {device or 'cpu'}, "
        f"attention {a.attn or 'default (sdpa)'}"
    )
    plans = {f"TRL SFTTrainer, no packing, batch {a.trl_batch}": (run_trl, a.trl_batch)}
    for b in a.batches:
        plans[f"postmix sft, packed, batch {b}"] = (run_postmix, b)
    runs: dict[str, list[dict]] = {name: [] for name in plans}
    for _ in range(a.repeats):  # round robin, so a change in machine load hits every run alike
        for name, (fn, batch) in plans.items():
            runs[name].append(fn(bench, batch))
    results = {name: median(r) for name, r in runs.items()}
    ref = next(iter(results.values()))
    ref_tps = ref["trained"] / ref["seconds"]
    print(
        "\n| run | trained tokens | non-pad tokens | seconds | trained tokens/s | "
        "non-pad tokens/s | trained tokens/s vs TRL | runs (trained tokens/s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, r in results.items():
        tps = r["trained"] / r["seconds"]
        print(
            f"| {name} | {r['trained']:,} | {r['tokens']:,.0f} | {r['seconds']:.1f} | {tps:,.0f} | "
            f"{r['tokens'] / r['seconds']:,.0f} | {tps / ref_tps:.2f}x | "
            f"{', '.join(map(str, r['all_tps']))} |"
        )


if __name__ == "__main__":
    main()
