"""The fast lane of shard work: the common chain run as one pass per record.

Most sources run `convert → identify → structure → length (chars) → writable`
on SFT records of plain text turns. For those, a `Lane` does in one loop what
the steps, the spill serialization and the dedup key do in eight: rows in the
common shape of their layout are converted by `formats/fast.py`; the messages
are serialized once, for the id's name and for the output line; the structure
verdict of a role sequence is computed once per sequence; lengths, emptiness
and the prompt come from one walk over the turns. Nothing is decided
differently:

- a row or record the lane cannot treat (tool calls, reasoning, extra keys,
  an answer in meta) goes through the converter and the chain's own steps;
- a record the lane would drop is handed to the step itself, whose verdict
  (bucket, detail) is what the ledger records;
- drops reach the ledger in the chain's order (step by step, records in
  order), so removed.jsonl and examples.jsonl hold the same lines.

`lane(plan, chain)` is None for every other chain (transforms, other
filters, decontamination, tokenization, near dedup, token budgets, kinds other
than sft): the general path runs. `tests/engine/test_fast.py` checks that both
give the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson
import xxhash

from postmix.collect import rare_collections
from postmix.dedup.keys import exact_key, resolve
from postmix.engine.chain import Chain, FilterStep, IdentifyStep, WritableStep
from postmix.engine.contracts import SourcePlan
from postmix.engine.ledger import Ledger
from postmix.engine.survivors import Dropped, Survivors, Where, emit
from postmix.formats.base import NoOptions
from postmix.formats.fast import FAST, FastFn, as_record
from postmix.recipe import StepList
from postmix.report.stats import ReasoningTally
from postmix.schema import (
    dedup_bytes,
    id_state,
    id_text,
    prompt_text,
    record,
    structure_problem,
    text_length,
)
from postmix.steps import Batch, Step
from postmix.writers.schemas import SCHEMAS

SWITCH = "POSTMIX_FAST_PATH"  # "0" turns the fast lane off (the general path gives the same bytes)
HEAD = b'["sft",'  # an sft record's id name: kind, messages, then
TAIL = b",null,null,null,null]"  # chosen, rejected, text and tools, all null when plain
LINE = b'{"messages":%b,"id":"%b","source":%b}\n'  # a plain record's `messages` output line
NAMED = id_state(HEAD)  # sha1 of the uuid5 namespace and HEAD: copied for each plain record


@dataclass(frozen=True)
class Check:
    """A filter step the lane can decide for plain records: `structure`, or `length` in chars."""

    step: FilterStep
    lo: int | None = None
    hi: int | None = None
    structure: bool = False


@dataclass(frozen=True)
class Shape:
    """What a role sequence alone decides for a plain record: its `structure_problem` when
    every turn has text, which turns its prompt joins (`schema.prompt_text`, for the
    exact-dedup key) and whether the output schema holds it (the writable step). All three
    come from the chain's own functions, run once on a probe record with these roles."""

    problem: str | None
    prompt: tuple[int, ...]
    writable: bool

    @classmethod
    def of(cls, roles: tuple[str, ...], writable: Step) -> Shape:
        msgs = [{"role": role, "content": str(j)} for j, role in enumerate(roles)]
        probe = record("sft", msgs)  # type: ignore[arg-type]
        text = prompt_text(probe)
        turns = tuple(map(int, text.split("\n"))) if text else ()
        return cls(structure_problem(probe), turns, writable([probe]).verdicts[0] is None)


@dataclass
class Lane:
    """A source's fused chain (see the module doc)."""

    chain: Chain
    checks: list[Check]
    key_mode: str | None  # the recipe's exact-dedup key, None when exact dedup is off
    by_prompt: bool  # the key of an sft record is its prompt (`dedup.keys.resolve`)
    schema: str
    source: str
    fast: FastFn | None
    shapes: dict[tuple[str, ...], Shape] = field(default_factory=dict)

    def stream(self, rows: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        """`Converter.stream`, with rows in the common shape converted by the fast function.

        While it runs (the whole shard task), the cyclic garbage collector looks at
        young objects every `collect.GC_YOUNG` allocations instead of every 700: rows and
        records form no reference cycles, and those passes cost ~9% of shard work.
        """
        conv, ctx, fast = self.chain.converter, self.chain.ctx, self.fast
        with rare_collections():
            if fast is None:
                yield from conv.stream(rows, ctx)
                return
            for pos, row in rows:
                out = fast(row)
                if out is None:
                    yield from conv.stream(((pos, row),), ctx)
                else:
                    yield pos, as_record(out)

    @property
    def direct(self) -> bool:
        """Whether shard work can skip records for plain rows (`engine/direct.py`): a fast
        converter, `messages` output and a key from the prompt (or none)."""
        return (
            self.fast is not None
            and self.schema == "messages"
            and (self.key_mode is None or self.by_prompt)
        )

    def flush(
        self,
        batch: Batch,
        where: list[Where],
        ledger: Ledger,
        spill: IO[bytes],
        cols: dict[str, list[Any]],
        reasoning: ReasoningTally,
    ) -> None:
        """Run the chain over a batch and spill the survivors with their columns."""
        dropped: Dropped = [[] for _ in self.chain.steps]
        out = Survivors()
        for rec, at in zip(batch, where):
            self.one(rec, at, dropped, out, reasoning)
        emit(ledger, dropped)
        out.spill(ledger, spill, cols)

    def one(
        self,
        rec: dict[str, Any],
        at: Where,
        dropped: Dropped,
        out: Survivors,
        reasoning: ReasoningTally,
    ) -> None:
        """One record through the fused chain: into `out`, or its drop into `dropped`."""
        walk = _walk(rec)
        if walk is None:
            if not self._general(rec, at, dropped):
                return
            reasoning.add(rec)
            line = orjson.dumps(SCHEMAS[self.schema](rec), option=orjson.OPT_APPEND_NEWLINE)
            key = exact_key(rec, self.key_mode) if self.key_mode else 0
            out.add(line, key, at, text_length(rec), rec["meta"])
            return
        n, empty, roles = walk
        shape = self.shape(roles)
        m = orjson.dumps(rec["messages"])
        rid = rec["id"] = plain_id(m)
        misshaped = empty or shape.problem is not None
        if not self.keeps(rec, at, n, misshaped, shape.writable, dropped):
            return
        reasoning.records += 1  # a plain record carries no reasoning: `add` only counts it
        if self.schema == "messages" and rec["meta"].get("answer") is None:
            line = LINE % (m, rid.encode(), orjson.dumps(self.source))
        else:
            line = orjson.dumps(SCHEMAS[self.schema](rec), option=orjson.OPT_APPEND_NEWLINE)
        out.add(line, self._key(rec, shape), at, n, rec["meta"])

    def _general(self, rec: dict[str, Any], at: Where, dropped: Dropped) -> bool:
        """The chain's own steps on one record (the first names it); False when one dropped it."""
        steps = self.chain.steps
        for k, step in enumerate(steps):
            verdict = step([rec]).verdicts[0]
            if verdict is not None:
                dropped[k].append((rec, at, verdict))
                return False
        return True

    def keeps(
        self,
        rec: dict[str, Any],
        at: Where,
        n: int,
        misshaped: bool,
        writable: bool,
        dropped: Dropped,
    ) -> bool:
        """Whether a plain record passes the filters and the writable check (`misshaped`: an
        empty turn or a structure problem of its roles; `writable`: its roles' verdict).
        Where the lane would drop it, the step itself decides, and its verdict is the one
        recorded."""
        for k, check in enumerate(self.checks, 1):
            if check.structure:
                passes = not misshaped
            else:
                passes = (check.lo is None or n >= check.lo) and (check.hi is None or n <= check.hi)
            if passes:
                continue
            verdict = check.step([rec]).verdicts[0]
            if verdict is not None:
                dropped[k].append((rec, at, verdict))
                return False
        if writable:
            return True
        verdict = self.chain.steps[-1]([rec]).verdicts[0]
        if verdict is not None:
            dropped[-1].append((rec, at, verdict))
            return False
        return True

    def shape(self, roles: tuple[str, ...]) -> Shape:
        """What the role sequence decides, computed once per sequence (see `Shape`)."""
        shape = self.shapes.get(roles)
        if shape is None:
            shape = self.shapes[roles] = Shape.of(roles, self.chain.steps[-1])
        return shape

    def _key(self, rec: dict[str, Any], shape: Shape) -> int:
        """`exact_key` of a plain sft record: the prompt's text, normalized and hashed."""
        if self.key_mode is None:
            return 0
        if not self.by_prompt:
            return exact_key(rec, self.key_mode)
        return prompt_key(rec["messages"], shape.prompt)


def plain_id(messages: bytes) -> str:
    """The id (uuid text) of a plain sft record from its serialized messages: `id_bytes` of
    `HEAD` + them + `TAIL`, from a copy of `NAMED`."""
    state = NAMED.copy()
    state.update(messages)
    state.update(TAIL)
    return id_text(state)


def prompt_key(msgs: list[dict[str, Any]], turns: tuple[int, ...]) -> int:
    """`exact_key` of a plain sft record keyed by its prompt (`Shape.prompt`: the turns)."""
    if len(turns) == 1:
        text = msgs[turns[0]]["content"]
    else:
        text = "\n".join([msgs[j]["content"] for j in turns])
    return xxhash.xxh3_64_intdigest(dedup_bytes(text))


def _walk(rec: dict[str, Any]) -> tuple[int, bool, tuple[str, ...]] | None:
    """(characters, any empty turn, roles) of a plain sft record, else None.

    Plain: kind sft, no tools, no pair sides or text, every message exactly a
    role and a text content (no tool calls, no reasoning).
    """
    if rec["kind"] != "sft" or "tools" in rec:
        return None
    if rec["chosen"] is not None or rec["rejected"] is not None or rec["text"] is not None:
        return None
    n = 0
    empty = False
    roles = []
    for m in rec["messages"]:
        if len(m) != 2:
            return None
        content = m.get("content")
        if type(content) is not str:
            return None
        n += len(content)
        if not content or content.isspace():
            empty = True
        roles.append(m["role"])
    return n, empty, tuple(roles)


def lane(plan: SourcePlan, chain: Chain) -> Lane | None:
    """The fused chain of a source, or None when its chain needs the general path (always
    with `POSTMIX_FAST_PATH=0` in the environment: benchmarks and tests compare both)."""
    if os.environ.get(SWITCH) == "0":
        return None
    if plan.kind != "sft" or plan.transforms or plan.count_tokens:
        return None
    if plan.decontaminate is not None or plan.tokenize is not None or plan.near is not None:
        return None
    if plan.dedup_key is not None and resolve(plan.dedup_key, "sft") not in (
        "prompt",
        "conversation",
    ):
        return None
    steps = chain.steps
    if len(steps) < 2 or not isinstance(steps[0], IdentifyStep):
        return None
    if not isinstance(steps[-1], WritableStep) or steps[-1].schema != plan.schema:
        return None
    configs: list[Any] = list(StepList.model_validate({"filters": plan.filters}).filters)
    if not any(c.type == "structure" for c in configs):
        configs.insert(0, None)  # the structure check the chain adds first
    filter_steps = steps[1:-1]
    if len(configs) != len(filter_steps):
        return None
    checks = []
    for cfg, step in zip(configs, filter_steps):
        if not isinstance(step, FilterStep):
            return None
        if cfg is None or cfg.type == "structure":
            if step.name != (cfg.label if cfg is not None else "structure"):
                return None
            checks.append(Check(step, structure=True))
        elif cfg.type == "length" and cfg.unit == "chars" and cfg.field == "all":
            if step.name != cfg.label:
                return None
            checks.append(Check(step, lo=cfg.min_length, hi=cfg.max_length))
        else:
            return None
    return Lane(
        chain=chain,
        checks=checks,
        key_mode=plan.dedup_key,
        by_prompt=plan.dedup_key is not None and resolve(plan.dedup_key, "sft") == "prompt",
        schema=plan.schema,
        source=plan.name,
        fast=FAST.get(plan.converter) if _optionless(chain) else None,
    )


def _optionless(chain: Chain) -> bool:
    """A fast row converter stands in only for a per-row converter without options: an
    option it does not know of could change the records."""
    return chain.converter.convert is not None and chain.converter.options is NoOptions
