"""Minimum score margin of a pair: chosen must outscore rejected by at least `min`.

Pairs whose scores are close carry little preference signal (UltraFeedback
pairs a 4.75 with a 4.5). The scores are `meta.score_chosen` and
`meta.score_rejected` (UltraFeedback, HelpSteer), or the fields named. A
record without both numbers, including one that is not a pair, follows
`missing` (default: drop), so a source without scores shows up as every
record dropped with a clear detail.
"""

from __future__ import annotations

from typing import Literal

from postmix.filters.base import FilterConfig
from postmix.filters.pairs import CHOSEN_FIELD, REJECTED_FIELD, score_margin
from postmix.steps import Batch, FilterFn, StepEnv


class Config(FilterConfig):
    type: Literal["score_margin"]
    min: float
    chosen_field: str = CHOSEN_FIELD
    rejected_field: str = REJECTED_FIELD
    missing: Literal["keep", "drop"] = "drop"


def build(cfg: Config, env: StepEnv) -> FilterFn:
    no_scores = f"no numeric {cfg.chosen_field}/{cfg.rejected_field}"

    def check(rec: dict) -> str | None:
        margin = score_margin(rec, cfg.chosen_field, cfg.rejected_field)
        if margin is None:
            return no_scores if cfg.missing == "drop" else None
        return f"score margin {margin:g} < min {cfg.min:g}" if margin < cfg.min else None

    def run(batch: Batch) -> list[str | None]:
        return [check(r) for r in batch]

    return run
