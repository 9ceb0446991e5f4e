"""NVIDIA HelpSteer and HelpSteer2: one rated response per row, several rows per prompt.

Rows are `{prompt, response, helpfulness, correctness, coherence, complexity,
verbosity}`, each attribute rated 0-4. The rows of one prompt need not be
adjacent, so the source is read whole (`convert_stream`), grouped by prompt
text, and emitted in the order prompts first appear, at that first row's position.

A response's score is the `score` option: one attribute, `sum` (all five), or
`quality` (helpfulness + correctness + coherence, leaving out complexity and
verbosity, which measure style more than quality). The best response (ties:
higher correctness, then the earlier row) is chosen; the rejected one is drawn,
seeded per prompt and whatever the row order, among responses scoring strictly
lower by at least `min_margin`. HelpSteer2 writes multi-turn prompts as one string with
`<extra_id_1>Assistant` / `<extra_id_1>User` turn markers; they become turns.

Repeated rows are reported, never silently used: a row with the same prompt,
response and ratings as an earlier one is dropped as `duplicate_row`; when one
prompt's response is rated more than once with different ratings, every such
row is dropped as `conflicting_scores` (the detail names the ratings that
disagree), and the prompt pairs among its other responses. `prompt` records
read no response, so they skip these checks.

- preference: chosen vs rejected (`meta.score_chosen`, `meta.score_rejected`
  and each side's attributes); a prompt without such a pair is `no_pair`.
- sft: the prompt and its best response.
- prompt: the prompt once.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from postmix.formats.base import ConvertContext, Converter, raw_text
from postmix.schema import InvalidRow, Message, Skip, message, record, require
from postmix.steps import record_rng_seed

ATTRIBUTES: tuple[str, ...] = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
# Which attributes each `score` option adds up.
SCORES: dict[str, tuple[int, ...]] = {
    **{name: (i,) for i, name in enumerate(ATTRIBUTES)},
    "sum": (0, 1, 2, 3, 4),
    "quality": (0, 1, 2),
}
CORRECTNESS = ATTRIBUTES.index("correctness")
_TURN_MARKER = re.compile(r"\n?<extra_id_1>(User|Assistant)\n?")
_MARKER_ROLES: dict[str, str] = {"User": "user", "Assistant": "assistant"}

Rated = tuple[int, str, tuple[float, ...]]  # (row position, response, attribute ratings)


class Options(BaseModel):
    """How responses are scored and how far apart a pair must be."""

    model_config = ConfigDict(extra="forbid")

    score: Literal[
        "helpfulness", "correctness", "coherence", "complexity", "verbosity", "sum", "quality"
    ] = "helpfulness"
    min_margin: float = Field(default=1.0, ge=0)


def prompt_turns(text: str) -> list[Message]:
    """A HelpSteer prompt as messages, splitting HelpSteer2's multi-turn markers."""
    if "<extra_id_1>" not in text:
        return [message("user", text)]
    parts = _TURN_MARKER.split(text)
    msgs = [message("user", parts[0])]
    for marker, content in zip(parts[1::2], parts[2::2], strict=True):
        msgs.append(message(_MARKER_ROLES[marker], content))
    return msgs


def ratings(row: dict[str, Any]) -> tuple[float, ...]:
    values = require(row, *ATTRIBUTES)
    for name, value in zip(ATTRIBUTES, values, strict=True):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidRow(f"{name!r} is {value!r}, expected a number")
    return tuple(values)


def read_row(row: Any) -> tuple[str, str, tuple[float, ...]]:
    """Prompt, response and ratings of one row, or InvalidRow."""
    prompt, response = require(row, "prompt", "response")
    if not isinstance(prompt, str) or not isinstance(response, str):
        raise InvalidRow("'prompt' and 'response' must be strings")
    return prompt, response, ratings(row)


def attributes(rated: Rated) -> dict[str, float]:
    return dict(zip(ATTRIBUTES, rated[2], strict=True))


def best_and_rejected(
    prompt: str, group: list[Rated], ctx: ConvertContext
) -> tuple[int, int | None, list[float]]:
    """Index of the best response, of the seeded rejected one (None if no pair), and all scores."""
    opts: Options = ctx.options
    fields = SCORES[opts.score]
    scores = [float(sum(r[2][i] for i in fields)) for r in group]
    best = max(range(len(group)), key=lambda i: (scores[i], group[i][2][CORRECTNESS], -i))
    if ctx.kind != "preference":
        return best, None, scores
    chosen_text = group[best][1].strip()
    lower = [
        i
        for i, s in enumerate(scores)
        if s < scores[best]
        and scores[best] - s >= opts.min_margin
        and group[i][1].strip() != chosen_text
    ]
    if not lower:
        return best, None, scores
    lower.sort(key=lambda i: group[i][1])  # the draw must not depend on row order
    return best, random.Random(record_rng_seed(ctx.seed, prompt)).choice(lower), scores


def group_record(prompt: str, group: list[Rated], ctx: ConvertContext) -> dict[str, Any]:
    """The record of one prompt's responses, or Skip."""
    turns = prompt_turns(prompt)
    if ctx.kind == "prompt":
        return record("prompt", turns)
    best, rejected, scores = best_and_rejected(prompt, group, ctx)
    chosen = message("assistant", group[best][1])
    if ctx.kind == "sft":
        meta = {"score": scores[best], "attributes": attributes(group[best])}
        return record("sft", [*turns, chosen], meta=meta)
    if rejected is None:
        raise Skip("no_pair", f"{len(group)} response(s), none scoring lower by the margin")
    meta = {
        "score_chosen": scores[best],
        "score_rejected": scores[rejected],
        "chosen_attributes": attributes(group[best]),
        "rejected_attributes": attributes(group[rejected]),
    }
    return record(
        "preference",
        turns,
        chosen=[chosen],
        rejected=[message("assistant", group[rejected][1])],
        meta=meta,
    )


def disagreement(ratings: list[tuple[float, ...]]) -> str:
    """The attributes on which ratings of one response differ: `helpfulness 4 vs 1`."""
    return ", ".join(
        f"{name} " + " vs ".join(f"{r[i]:g}" for r in ratings)
        for i, name in enumerate(ATTRIBUTES)
        if len({r[i] for r in ratings}) > 1
    )


def screen(group: list[Rated]) -> tuple[list[Rated], list[tuple[int, Skip]]]:
    """One prompt's rows with repeats removed, and the drops of the repeated rows."""
    by_response: dict[str, list[Rated]] = {}
    for rated in group:
        by_response.setdefault(rated[1], []).append(rated)
    kept: list[Rated] = []  # first rows of each response, already in row order
    repeats: list[tuple[int, Skip]] = []
    same = "same prompt, response and ratings as an earlier row"
    for rows in by_response.values():
        distinct = list(dict.fromkeys(r[2] for r in rows))
        if len(distinct) > 1:
            detail = f"{len(rows)} rows rate this response differently: {disagreement(distinct)}"
            repeats += [(r[0], Skip("conflicting_scores", detail)) for r in rows]
            continue
        kept.append(rows[0])
        repeats += [(r[0], Skip("duplicate_row", same)) for r in rows[1:]]
    repeats.sort(key=lambda drop: drop[0])
    return kept, repeats


def convert_stream(
    rows: Iterable[tuple[int, Any]], ctx: ConvertContext
) -> Iterator[tuple[int, Any]]:
    groups: dict[str, list[Rated]] = {}
    for pos, row in rows:
        try:
            prompt, response, rated = read_row(row)
        except InvalidRow as exc:
            exc.raw = raw_text(row)  # type: ignore[attr-defined]
            yield pos, exc
            continue
        groups.setdefault(prompt, []).append((pos, response, rated))
    for prompt, group in groups.items():
        if ctx.kind != "prompt":
            group, repeats = screen(group)
            yield from repeats
            if not group:
                continue
        try:
            yield group[0][0], group_record(prompt, group, ctx)
        except Skip as exc:
            yield group[0][0], exc
    groups.clear()


CONVERTER = Converter(
    name="helpsteer",
    kinds=("preference", "sft", "prompt"),
    convert_stream=convert_stream,
    columns=(frozenset({"prompt", "response", *ATTRIBUTES}),),
    hub_ids=("nvidia/helpsteer", "nvidia/helpsteer2"),
    options=Options,
    doc=__doc__ or "",
)
