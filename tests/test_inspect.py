"""`postmix inspect` and `postmix validate` through the real CLI."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from postmix.cli import app
from postmix.inspect import TRAINED, token_view
from postmix.tokenizer import load_tokenizer
from tests.test_pipeline import alpaca_rows, write_jsonl
from tests.test_pipeline_tokenized import recipe
from tests.tiny import bpe_tokenizer

runner = CliRunner()


def test_inspect_shows_the_funnel_and_records(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", alpaca_rows(12), extra_lines=[b"{bad"])
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"datasets": [{"name": "alpaca", "source": "a.jsonl"}]}))
    result = runner.invoke(app, ["prepare", str(path), "-o", str(tmp_path / "out"), "--no-report"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["inspect", str(tmp_path / "out"), "--sample", "2"])
    assert result.exit_code == 0, result.output
    assert "where every record went" in result.output
    assert "alpaca" in result.output and "question number" in result.output
    assert "12 rows" in result.output


def test_inspect_tokens_colours_exactly_the_trained_tokens(tmp_path: Path) -> None:
    tok_dir = tmp_path / "tok"
    bpe_tokenizer(tok_dir)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe(tmp_path, tok_dir)))
    out = tmp_path / "out"
    assert runner.invoke(app, ["prepare", str(path), "-o", str(out), "--no-report"]).exit_code == 0
    result = runner.invoke(app, ["inspect", str(out), "--tokens", "--sample", "1"])
    assert result.exit_code == 0, result.output
    assert "<|im_start|>" in result.output

    tok = load_tokenizer(str(out / "tokenizer"))
    ids = tok("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")["input_ids"]
    reply = tok("the river<|im_end|>")["input_ids"]
    view = token_view(tok, ids + reply, [-100] * len(ids) + reply)
    trained = "".join(view.plain[s.start : s.end] for s in view.spans if s.style == TRAINED)
    assert trained == "the river<|im_end|>"


def test_validate_reports_the_yaml_path(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("datasets:\n  - name: a\n    source: a.jsonl\n    mix_ration: 0.5\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "datasets[0].mix_ration (line 4)" in result.output and "mix_ratio" in result.output


def test_inspect_packed_rows_counts_records_and_tokens(tmp_path: Path) -> None:
    tok_dir = tmp_path / "tok"
    bpe_tokenizer(tok_dir)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe(tmp_path, tok_dir, packing=True, max_seq_length=256)))
    out = tmp_path / "out"
    assert runner.invoke(app, ["prepare", str(path), "-o", str(out), "--no-report"]).exit_code == 0
    result = runner.invoke(app, ["inspect", str(out), "--tokens", "--sample", "1"])
    assert result.exit_code == 0, result.output
    assert "tokens per record" in result.output and "chars per record: p50 0" not in result.output
    assert "records" in result.output
