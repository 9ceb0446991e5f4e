"""Maximum length ratio of a pair's sides, in characters or tokens.

Preference data rewards length when the chosen side is routinely much longer
(the pair diagnostics show the chosen-longer share); this bounds the longer
side over the shorter one. `side: chosen_longer` only bounds pairs whose
chosen side is the longer one. Records that are not pairs pass.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from postmix.filters.base import FilterConfig
from postmix.filters.pairs import is_pair, length_ratio, side_chars
from postmix.steps import Batch, FilterFn, StepEnv, count_tokens


class Config(FilterConfig):
    type: Literal["length_ratio"]
    max_ratio: float = Field(ge=1)
    unit: Literal["chars", "tokens"] = "chars"
    side: Literal["either", "chosen_longer"] = "either"


def side_texts(rec: dict) -> list[str]:
    return ["".join(m["content"] for m in rec[s] or ()) for s in ("chosen", "rejected")]


def build(cfg: Config, env: StepEnv) -> FilterFn:
    def sizes(pairs: Batch) -> list[tuple[int, int]]:
        if cfg.unit == "chars":
            return [side_chars(r) for r in pairs]
        counts = count_tokens(env, [t for r in pairs for t in side_texts(r)])
        return list(zip(counts[::2], counts[1::2]))

    def run(batch: Batch) -> list[str | None]:
        where = [i for i, r in enumerate(batch) if is_pair(r)]
        out: list[str | None] = [None] * len(batch)
        for i, (chosen, rejected) in zip(where, sizes([batch[i] for i in where])):
            ratio = length_ratio(chosen, rejected)
            if ratio > cfg.max_ratio and (cfg.side == "either" or chosen > rejected):
                out[i] = f"length ratio {ratio:.3g} > max {cfg.max_ratio:g}"
        return out

    return run
