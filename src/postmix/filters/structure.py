"""Well-formedness: empty turns, non-alternating roles, empty or identical pair sides.

Always applied first (the pipeline adds it when the recipe does not list it);
each problem is its own drop reason, `structure:<problem>`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from postmix.filters.base import FilterConfig
from postmix.schema import structure_problem
from postmix.steps import Batch, FilterFn, StepEnv


class Config(FilterConfig):
    bucket_by_detail: ClassVar[bool] = True
    type: Literal["structure"] = "structure"


def build(cfg: Config, env: StepEnv) -> FilterFn:
    def run(batch: Batch) -> list[str | None]:
        return [structure_problem(r) for r in batch]

    return run
