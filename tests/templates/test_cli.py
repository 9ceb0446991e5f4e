"""`postmix template list | show`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from postmix.templates.cli import template_app
from tests.tiny import bpe_tokenizer, sentencepiece_model

runner = CliRunner()


def test_list_names_every_template() -> None:
    result = runner.invoke(template_app, ["list"])
    assert result.exit_code == 0
    for name in ("chatml", "llama-3", "chatml_plain", "tokenizer"):
        assert name in result.output


def test_show_renders_a_sample_with_the_template_text() -> None:
    result = runner.invoke(template_app, ["show", "llama-3", "--jinja"])
    assert result.exit_code == 0, result.output
    assert "<|start_header_id|>assistant<|end_header_id|>" in result.output
    assert "Clear skies, 21 °C.<|eot_id|>" in result.output
    assert "{%- generation -%}" in result.output


@pytest.mark.filterwarnings("ignore:template chatml")
def test_show_with_tokenizers(tmp_path) -> None:
    bpe = tmp_path / "bpe"
    bpe_tokenizer(bpe)
    spm = sentencepiece_model(tmp_path)
    for path, name in ((bpe, "chatml"), (spm, "llama-2")):
        result = runner.invoke(template_app, ["show", name, "--tokenizer", str(path)])
        assert result.exit_code == 0, result.output
        assert "Paris." in result.output


def test_show_rejects_unknown_names_and_tokenizer_without_path() -> None:
    assert runner.invoke(template_app, ["show", "nope"]).exit_code == 2
    assert runner.invoke(template_app, ["show", "tokenizer"]).exit_code == 2
    assert runner.invoke(template_app, ["show", "chatml", "--special-tokens", "x"]).exit_code == 2
