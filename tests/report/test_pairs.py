"""Pair diagnostics per source: ties, judgments resolved, identical pairs, lengths, margins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from postmix.filters.pairs import pair_columns
from postmix.report.pairs import pair_diagnostics
from tests.filters.records import load, pref, sft, sharegpt_pair


def scored(chosen: str, rejected: str, margin: tuple[float, float]) -> dict[str, Any]:
    rec = pref("Pick a colour.", chosen=chosen, rejected=rejected)
    rec["meta"].update(score_chosen=margin[0], score_rejected=margin[1])
    return rec


def diagnose(recs: list[dict[str, Any]], sources: list[int], **kw: Any) -> dict[str, Any]:
    return pair_diagnostics(
        pair_columns(recs), np.array(sources, dtype=np.int32), ["ultrafeedback", "arena"], **kw
    )


def test_per_source_statistics() -> None:
    recs = [
        scored("A long and careful answer.", "Short.", (5, 3)),
        scored("Tiny.", "A much longer rejected answer.", (4, 3.5)),
        scored("Blue, I think.", "Red.", (4, 4)),
        pref("q", chosen="Same answer.", rejected="same  ANSWER."),
        pref("q", chosen="Yes, it is.", rejected="No."),
        sft("q", "not a pair"),
    ]
    judged = {
        "arena": {"duplicate_judgment": 3, "conflicting_judgments": 2, "conflicts_resolved": 1}
    }
    dropped = {"arena": {"tie": 4, "structure:identical_pair": 1, "too_long": 2}}
    out = diagnose(recs, [0, 0, 0, 1, 1, 1], judgments=judged, dropped=dropped)
    assert set(out) == {"ultrafeedback", "arena"}
    uf, arena = out["ultrafeedback"], out["arena"]
    assert uf["pairs"] == 3 and arena["pairs"] == 2
    assert uf["chosen_longer_share"] == pytest.approx(2 / 3)
    assert arena["chosen_longer_share"] == pytest.approx(0.5)
    assert uf["length_ratio"]["max"] == pytest.approx(30 / 5)
    assert uf["score_margin"] == {
        "scored": 3,
        "mean": pytest.approx(2.5 / 3),
        "median": 0.5,
        "min": 0.0,
        "max": 2.0,
        "zero": 1,
        "negative": 0,
    }
    assert arena["score_margin"] is None
    assert (uf["identical_pairs"], arena["identical_pairs"]) == (0, 2)  # one kept, one dropped
    assert (uf["ties"], arena["ties"]) == (0, 4)
    assert arena["conflicts_resolved"] == 1 and arena["conflicting_judgments"] == 2
    assert arena["duplicate_judgment"] == 3 and uf["duplicate_judgment"] == 0


def test_a_source_with_only_drops_is_reported() -> None:
    out = diagnose([sft("q", "a")], [0], dropped={"arena": {"tie": 2}})
    assert list(out) == ["arena"]
    assert out["arena"]["pairs"] == 0 and out["arena"]["ties"] == 2
    assert out["arena"]["chosen_longer_share"] is None and out["arena"]["length_ratio"] is None


def test_no_pairs_no_entries() -> None:
    assert diagnose([sft("q", "a")], [0]) == {}
    assert diagnose([], []) == {}


def test_real_dpo_demo(shared_data: Path) -> None:
    recs = [sharegpt_pair(r) for r in load(shared_data, "hiyouga__LLaMA-Factory/dpo_en_demo.json")]
    out = diagnose(recs, [1] * len(recs))["arena"]
    longer = sum(
        len(r["chosen"][0]["content"]) > len(r["rejected"][0]["content"]) for r in recs
    ) / len(recs)
    assert out["pairs"] == 300 and out["chosen_longer_share"] == pytest.approx(longer)
    assert out["identical_pairs"] == 0 and out["score_margin"] is None
    spread = out["length_ratio"]
    assert 1 <= spread["median"] <= spread["p90"] <= spread["max"]
