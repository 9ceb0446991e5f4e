"""Contradictory judgments: one pair per prompt and unordered responses, by majority."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from postmix.dedup import judgments
from postmix.dedup.judgments import CONFLICT, DUPLICATE, KEPT
from tests.filters.records import load, pref, sft, sharegpt_pair

DPO_DEMO = "hiyouga__LLaMA-Factory/dpo_en_demo.json"
Q = "Which is the capital of Australia?"
GOOD, BAD = "Canberra.", "Sydney."


def columns(recs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    cols = [judgments.judgment_key(r) for r in recs]
    return (
        np.array([g for g, _ in cols], dtype=np.uint64),
        np.array([d for _, d in cols], dtype=np.int8),
    )


def resolve(
    recs: list[dict[str, Any]], sources: list[int] | None = None, **kw: Any
) -> judgments.Resolution:
    group, direction = columns(recs)
    source = np.array(sources or [0] * len(recs), dtype=np.int32)
    return judgments.resolve_judgments(group, direction, source, ["arena", "other"], **kw)


def right() -> dict[str, Any]:
    return pref(Q, chosen=GOOD, rejected=BAD)


def wrong() -> dict[str, Any]:
    return pref(Q, chosen=BAD, rejected=GOOD)


def test_a_pair_and_its_reverse_share_a_group_in_opposite_directions() -> None:
    (g1, g2), (d1, d2) = columns([right(), wrong()])
    assert g1 == g2 and d1 == -d2 and d1 in (1, -1)
    spaced = pref(f"  {Q.lower()}", chosen=f"{GOOD} ", rejected=BAD)
    assert judgments.judgment_key(spaced) == judgments.judgment_key(right())
    other = pref("Which is the capital of Canada?", chosen=GOOD, rejected=BAD)
    assert judgments.judgment_key(other)[0] != g1
    assert judgments.judgment_key(sft(Q, GOOD)) == (0, 0)  # not a judgment


def test_majority_wins_and_the_first_of_its_side_is_kept() -> None:
    res = resolve([wrong(), right(), right(), wrong(), right()])
    assert res.reason.tolist() == [CONFLICT, KEPT, DUPLICATE, CONFLICT, DUPLICATE]
    assert res.kept_as.tolist() == [1, 1, 1, 1, 1]
    assert res.keep.tolist() == [False, True, False, False, False]
    assert res.counts == {
        "arena": {"duplicate_judgment": 2, "conflicting_judgments": 2, "conflicts_resolved": 1}
    }


def test_an_even_split_drops_the_whole_group() -> None:
    res = resolve([right(), wrong(), wrong(), right()])
    assert res.reason.tolist() == [CONFLICT] * 4
    assert res.kept_as.tolist() == [-1] * 4
    assert res.counts["arena"]["conflicting_judgments"] == 4
    assert res.counts["arena"]["conflicts_resolved"] == 0


def test_agreeing_repeats_and_other_records_untouched() -> None:
    other = pref(Q, chosen=GOOD, rejected="Melbourne.")  # same prompt, another pair
    recs = [sft(Q, GOOD), right(), other, right(), sft(Q, GOOD)]
    res = resolve(recs)
    assert res.reason.tolist() == [KEPT, KEPT, KEPT, DUPLICATE, KEPT]
    assert res.kept_as.tolist() == [0, 1, 2, 1, 4]
    assert res.counts == {
        "arena": {"duplicate_judgment": 1, "conflicting_judgments": 0, "conflicts_resolved": 0}
    }


def test_counted_per_source_of_each_record() -> None:
    res = resolve([right(), wrong(), right()], sources=[1, 0, 0])
    assert res.kept_as.tolist() == [0, 0, 0]
    assert res.counts == {
        "arena": {"duplicate_judgment": 1, "conflicting_judgments": 1, "conflicts_resolved": 0},
        "other": {"duplicate_judgment": 0, "conflicting_judgments": 0, "conflicts_resolved": 1},
    }


def test_keep_all_keeps_every_judgment() -> None:
    res = resolve([right(), wrong(), right()], policy="keep_all")
    assert res.keep.all() and res.kept_as.tolist() == [0, 1, 2]
    assert res.counts == {}


def test_empty_and_unknown_policy() -> None:
    res = resolve([])
    assert len(res.reason) == 0 and res.counts == {}
    with pytest.raises(ValueError, match="policy"):
        resolve([right()], policy="vote")


def test_reason_names() -> None:
    res = resolve([right(), wrong(), right()])
    assert res.reason_names() == [None, "conflicting_judgments", "duplicate_judgment"]


def test_real_dpo_demo_repeats_are_agreeing_judgments(shared_data: Path) -> None:
    recs = [sharegpt_pair(row) for row in load(shared_data, DPO_DEMO)]
    res = resolve(recs)
    assert int(res.keep.sum()) == 295
    assert res.counts["arena"] == {
        "duplicate_judgment": 5,
        "conflicting_judgments": 0,
        "conflicts_resolved": 0,
    }
