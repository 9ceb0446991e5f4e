"""Quality filter: each rule fires on what it targets and stays silent on real curated replies."""

from __future__ import annotations

from pathlib import Path

import pytest

from postmix.filters import quality
from postmix.schema import message, record
from postmix.steps import StepEnv
from tests.filters.records import load, pref, sft

ALPACA = "hiyouga__LLaMA-Factory/alpaca_en_demo.json"
GSM8K = "gururise__AlpacaDataCleaned/gsm_8k_train.json"
CODE = "sahil280114__codealpaca/code_alpaca_2k.json"
GOOD = "Paris is the capital of France. It has been the seat of government since 987."


def run(batch: list, **cfg: object) -> list:
    return quality.build(quality.Config(type="quality", **cfg), StepEnv())(batch)


def alpaca(rows: list) -> list:
    return [sft(f"{r['instruction']}\n\n{r['input']}".strip(), r["output"]) for r in rows]


def test_drops_are_bucketed_by_rule() -> None:
    assert quality.Config.bucket_by_detail


@pytest.mark.parametrize(
    ("reply", "rule"),
    [
        ("As an AI language model, I cannot browse the web.", "refusal"),
        ("I’m sorry, but I can’t help with that.", "refusal"),  # curly apostrophes
        ("I CANNOT FULFILL this request.", "refusal"),
        ("<nooutput>", "placeholder"),
        ("  N/A ", "placeholder"),
        ("What is   the capital of FRANCE?", "copies_prompt"),
        ("Buy now!\n" * 6 + "Limited offer.", "repeated_lines"),
        ("the cat sat on the mat and looked at the dog " * 8, "repeated_ngrams"),
        ("-=-=-=-= *** ### ||| ~~~ @@@ %%% a", "non_alphanumeric"),
        (GOOD, None),
    ],
)
def test_rules(reply: str, rule: str | None) -> None:
    assert run([sft("What is the capital of France?", reply)]) == [rule]


def test_each_reply_of_a_conversation_is_checked() -> None:
    rec = sft("hi", GOOD, "and Spain?", "As an AI language model, I have no idea.")
    assert run([rec]) == ["refusal"]


def test_preference_checks_only_the_chosen_side() -> None:
    refusal = "I apologize, but I cannot do that."
    assert run([pref("q", chosen=GOOD, rejected=refusal)]) == [None]
    assert run([pref("q", chosen=refusal, rejected=GOOD)]) == ["refusal"]
    assert run([pref("Say hi.", chosen="say HI.", rejected=GOOD)]) == ["copies_prompt"]


def test_prompt_records_pass_and_text_records_are_checked() -> None:
    prompt = record("prompt", [message("user", "As an AI language model, answer: 2+2?")])
    looping = record("text", [], text="all work and no play makes jack a dull boy " * 10)
    assert run([prompt, looping]) == [None, "repeated_ngrams"]


def test_rules_can_be_turned_off() -> None:
    batch = [
        sft("q", "As an AI language model, no."),
        sft("q", "<nooutput>"),
        sft("Same text.", "same text."),
        sft("q", "spam line here\n" * 5),
        sft("q", "#### ---- ****"),
    ]
    assert run(batch) == [
        "refusal",
        "placeholder",
        "copies_prompt",
        "repeated_lines",
        "non_alphanumeric",
    ]
    off = run(
        batch,
        refusal_phrases=[],
        placeholders=[],
        reject_prompt_copy=False,
        max_dup_line_char_frac=None,
        max_dup_ngram_char_frac=None,
        min_alnum_frac=None,
    )
    assert off == [None] * 5


def test_measures() -> None:
    assert quality.dup_line_char_frac("ab\ncd\nab\n\nab") == pytest.approx(4 / 8)
    assert quality.dup_line_char_frac("") == 0.0
    words = "a b c a b c d"
    assert quality.dup_ngram_char_frac(words, 3) == pytest.approx(3 / 7)  # the second 'a b c'
    assert quality.dup_ngram_char_frac(words, 4) == 0.0
    assert quality.alnum_frac("ab !!") == pytest.approx(0.5)
    assert quality.alnum_frac("日本語 です") == 1.0


def test_thresholds_are_configurable() -> None:
    """Three copies of a 6-word line: 0.56 of the characters repeat, as lines and as 10-grams."""
    batch = [sft("q", "one two three four five six\n" * 3 + "seven eight nine")]
    assert run(batch) == ["repeated_lines"]
    assert run(batch, max_dup_line_char_frac=0.6) == ["repeated_ngrams"]
    assert run(batch, max_dup_line_char_frac=0.6, max_dup_ngram_char_frac=0.6) == [None]
    assert run(batch, max_dup_line_char_frac=0.6, ngram_size=13) == [None]


def test_real_alpaca_demo_refusals(shared_data: Path) -> None:
    """alpaca_en_demo: 16 disclaimers and refusals go (15 say "As an AI ..."), nothing else."""
    batch = alpaca(load(shared_data, ALPACA))
    verdicts = run(batch)
    dropped = [(v, r["messages"][-1]["content"]) for v, r in zip(verdicts, batch, strict=True) if v]
    assert len(dropped) == 16
    assert {v for v, _ in dropped} == {"refusal"}
    assert sum("AI" in text for _, text in dropped) == 15


def test_real_curated_replies_are_kept(shared_data: Path) -> None:
    """GSM8K's templated step-by-step answers must not look repetitive."""
    assert run(alpaca(load(shared_data, GSM8K))) == [None] * 7473


def test_real_code_alpaca(shared_data: Path) -> None:
    """Code Alpaca: 7 of 2017 replies drop (repeated HTML/array blocks, symbol-dense regexes)."""
    verdicts = run(alpaca(load(shared_data, CODE)))
    drops = sorted(v for v in verdicts if v)
    assert drops == ["non_alphanumeric"] * 4 + ["repeated_lines"] * 2 + ["repeated_ngrams"]
