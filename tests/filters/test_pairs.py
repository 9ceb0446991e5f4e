"""Pair measures and the pair filters: minimum score margin, maximum length ratio."""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from postmix.filters import length_ratio, pairs, score_margin
from postmix.formats.base import ConvertContext
from postmix.formats.helpsteer import CONVERTER as HELPSTEER
from postmix.formats.helpsteer import Options as HelpSteerOptions
from postmix.steps import StepEnv
from tests.filters.records import load, pref, sft, sharegpt_pair
from tests.tiny import bpe_tokenizer

HELPSTEER2 = "maylad31__llm_judge_order_matters/helpsteer2_sample_10.jsonl"


def scored(chosen: Any, rejected: Any, **sides: str) -> dict[str, Any]:
    rec = pref("Pick a colour.", chosen=sides.get("c", "Blue."), rejected=sides.get("r", "Red."))
    rec["meta"].update(score_chosen=chosen, score_rejected=rejected)
    return rec


def margin(batch: list[dict[str, Any]], **cfg: Any) -> list[str | None]:
    return score_margin.build(score_margin.Config(type="score_margin", **cfg), StepEnv())(batch)


def ratio(batch: list[dict[str, Any]], env: StepEnv | None = None, **cfg: Any) -> list[str | None]:
    config = length_ratio.Config(type="length_ratio", **cfg)
    return length_ratio.build(config, env or StepEnv())(batch)


def test_measures() -> None:
    rec = scored(8, 6.5, c="A longer chosen reply.", r="Short.")
    assert pairs.side_chars(rec) == (22, 6)
    assert pairs.score_margin(rec) == 1.5
    assert pairs.length_ratio(22, 6) == pytest.approx(22 / 6)
    assert pairs.length_ratio(0, 5) == 5.0
    assert pairs.score_margin(scored(True, 1)) is None
    assert pairs.score_margin(pref("q", chosen="a", rejected="b")) is None
    assert pairs.score_margin(sft("q", "a", score_chosen=1, score_rejected=0)) is None


def test_min_score_margin() -> None:
    batch = [scored(9, 8), scored(9, 7), scored(7.5, 7.5), scored("9", 1), sft("q", "a")]
    assert margin(batch, min=1.5) == [
        "score margin 1 < min 1.5",
        None,
        "score margin 0 < min 1.5",
        "no numeric score_chosen/score_rejected",
        "no numeric score_chosen/score_rejected",
    ]
    assert margin(batch, min=1.5, missing="keep")[3:] == [None, None]
    swapped = scored(1, 5)  # rated lower than its rejected side: a negative margin
    assert margin([swapped], min=0) == ["score margin -4 < min 0"]
    named = sft("q", "a", good=5, bad=1)
    named["kind"] = "preference"
    assert margin([named], min=3, chosen_field="good", rejected_field="bad") == [None]
    with pytest.raises(ValidationError):
        score_margin.Config(type="score_margin")  # type: ignore[call-arg]


def test_max_length_ratio(tmp_path: Path) -> None:
    long = "word " * 40
    batch = [
        pref("q", chosen=long, rejected="Short reply."),
        pref("q", chosen="Short reply.", rejected=long),
        pref("q", chosen="About as long.", rejected="Roughly as long"),
        sft("q", long),  # not a pair: nothing to compare
    ]
    too_long = "length ratio 16.7 > max 3"
    assert ratio(batch, max_ratio=3) == [too_long, too_long, None, None]
    assert ratio(batch, max_ratio=3, side="chosen_longer") == [too_long, None, None, None]
    bpe_tokenizer(tmp_path)
    verdicts = ratio(batch, StepEnv(tokenizer_spec=str(tmp_path)), max_ratio=3, unit="tokens")
    assert verdicts[0] is not None and verdicts[0].startswith("length ratio")
    assert verdicts[2] is None
    with pytest.raises(ValidationError):
        length_ratio.Config(type="length_ratio", max_ratio=0.5)


def test_pair_columns() -> None:
    batch = [
        scored(8, 6, c="Blue.", r="Red, surely."),
        pref("q", chosen="Same  answer.", rejected="same answer."),
        sft("q", "a"),
    ]
    cols = pairs.pair_columns(batch)
    assert cols["chosen_chars"].tolist() == [5, 13, -1]
    assert cols["rejected_chars"].tolist() == [12, 12, -1]
    assert cols["identical"].tolist() == [False, True, False]
    assert cols["score_chosen"][0] == 8 and math.isnan(cols["score_chosen"][1])
    assert cols["score_rejected"][0] == 6 and math.isnan(cols["score_rejected"][2])
    assert {k: v.dtype for k, v in cols.items()} == {
        "chosen_chars": np.int32,
        "rejected_chars": np.int32,
        "identical": np.bool_,
        "score_chosen": np.float64,
        "score_rejected": np.float64,
    }
    assert {k: len(v) for k, v in pairs.pair_columns([]).items()} == dict.fromkeys(cols, 0)


def test_real_pairs(shared_data: Path) -> None:
    """HelpSteer2 rows paired with the sum score carry margins; the DPO demo has no scores."""
    rows = load(shared_data, HELPSTEER2)
    # The sample has one response per prompt: pair each with the next prompt's response.
    worse = [{**r, "response": n["response"], "helpfulness": 0} for r, n in pairwise(rows)]
    rows = [*rows, *worse]
    ctx = ConvertContext(kind="preference", options=HelpSteerOptions(min_margin=1))
    recs = [o for _, o in HELPSTEER.stream(enumerate(rows), ctx) if isinstance(o, dict)]
    assert len(recs) == 9
    margins = [pairs.score_margin(r) for r in recs]
    assert all(m is not None and m >= 1 for m in margins)
    assert margin(recs, min=max(margins)).count(None) == margins.count(max(margins))
    demo = [sharegpt_pair(r) for r in load(shared_data, "hiyouga__LLaMA-Factory/dpo_en_demo.json")]
    assert set(margin(demo, min=0)) == {"no numeric score_chosen/score_rejected"}
    kept = ratio(demo, max_ratio=4).count(None)
    assert 0 < kept < len(demo)
