"""A training run prints no warning that postmix's own arguments cause."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

from postmix.train.sft import run_sft
from tests.outputs import build
from tests.train.conftest import tiny_config

OWN = (
    "`gradient_checkpointing` is deprecated",
    "'pin_memory' argument is set as true but no accelerator",
    "per_device_train_batch_size of 1 with padding-free",
)


def test_sft_on_packed_rows_warns_about_nothing_of_ours(
    tmp_path: Path, tok_dir: Path, base_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = {"tokenizer": str(tok_dir), "template": "chatml", "max_seq_length": 512}
    out, _ = build(tmp_path, "sft", "tokenized", "parquet", n=48, packing=True, **settings)
    cfg = tiny_config(tmp_path / "run", base_model, max_steps=1).model_copy(
        update={"template": None}
    )
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        run_sft(cfg, [str(out)])
    said = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert not [s for s in said if any(own in s for own in OWN)], said
