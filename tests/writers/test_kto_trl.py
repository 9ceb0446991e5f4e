"""KTO output as TRL's KTOTrainer reads it: two training steps on a tiny model from our Parquet."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from postmix.formats.base import ConvertContext
from postmix.formats.messages import CONVERTER
from postmix.writers import files
from postmix.writers.schemas import SCHEMAS
from tests.tiny import bpe_tokenizer
from tests.tiny_models import save_model, tiny_llama

TEMPLATE = (
    "{% for m in messages %}<s>{{ m.role }}\n{{ m.content }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
)


def kto_parquet(path: Path) -> None:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"What is {i} plus {i}?"},
                {"role": "assistant", "content": f"It is {2 * i}." if i % 2 else "No idea."},
            ],
            "label": bool(i % 2),
        }
        for i in range(8)
    ]
    recs = [out for _, out in CONVERTER.stream(enumerate(rows), ConvertContext(kind="kto"))]
    for i, rec in enumerate(recs):
        rec.update(id=str(i), source="built")
    lines = [orjson.dumps(SCHEMAS["messages"](rec)) + b"\n" for rec in recs]

    def chunks() -> list[list[bytes]]:
        return [lines]

    files.write_parquet(path, chunks, files.arrow_schema(chunks))


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
def test_trl_kto_trainer_trains_on_kto_output(tmp_path: Path) -> None:
    from datasets import load_dataset
    from trl import KTOConfig, KTOTrainer

    kto_parquet(tmp_path / "train.parquet")
    ds = load_dataset("parquet", data_files=str(tmp_path / "train.parquet"), split="train")
    assert sorted(ds.column_names) == ["completion", "id", "label", "prompt", "source"]
    tok = bpe_tokenizer(tmp_path / "tok")
    tok.chat_template = TEMPLATE
    model = save_model(tiny_llama(tok), tok, tmp_path / "model")
    args = KTOConfig(
        output_dir=str(tmp_path / "run"),
        max_steps=2,
        per_device_train_batch_size=4,
        bf16=False,
        gradient_checkpointing=False,
        report_to=[],
        logging_steps=1,
        max_length=64,
        use_cpu=True,
        save_strategy="no",
    )
    trainer = KTOTrainer(model=str(model), args=args, train_dataset=ds, processing_class=tok)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 2 and all(h["loss"] == h["loss"] for h in logs)
    assert "kl" in logs[0] and "logps/chosen" in logs[0] and "logps/rejected" in logs[0]
