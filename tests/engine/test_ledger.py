"""The ledger fails the run when a step loses or invents records; kept is counted, not derived."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from postmix.engine import chain
from postmix.engine.ledger import Ledger, LedgerError, check_identity
from postmix.prepare import prepare
from postmix.recipe import parse
from postmix.steps import LIGHT, Batch, Drop, Resources, StepOutput
from tests.test_pipeline import alpaca_rows, write_jsonl


@dataclass
class LosesLast:
    """A faulty step: answers for every record but the last (a silent drop)."""

    name: str = "loses_last"
    resources: Resources = LIGHT

    def __call__(self, batch: Batch) -> StepOutput:
        return StepOutput([None] * (len(batch) - 1))


@dataclass
class SwallowsOne:
    """A faulty transform: returns one record fewer than it was given."""

    name: str = "swallows_one"
    resources: Resources = LIGHT

    def __call__(self, batch: Batch) -> StepOutput:
        return StepOutput([None] * len(batch), batch=batch[1:])


def ledger() -> Ledger:
    return Ledger("src", ["a.jsonl"], ["jsonl"], io.BytesIO())


def records(n: int) -> Batch:
    return [{"id": f"r{i}", "meta": {}} for i in range(n)]


@pytest.mark.parametrize("step", [LosesLast(), SwallowsOne()])
def test_a_lossy_step_is_an_internal_error(step: object) -> None:
    with pytest.raises(LedgerError, match=step.name):  # type: ignore[attr-defined]
        chain.run_chain([step], records(5), [(0, i) for i in range(5)], ledger())  # type: ignore[list-item]


def test_drops_are_counted_once_with_a_removal_line() -> None:
    class DropsOdd:
        name, resources = "odd", LIGHT

        def __call__(self, batch: Batch) -> StepOutput:
            return StepOutput([Drop("odd", "n") if i % 2 else None for i in range(len(batch))])

    book = ledger()
    for _ in range(5):
        book.record_read()
    kept, where, _ = chain.run_chain([DropsOdd()], records(5), [(0, i) for i in range(5)], book)
    book.spilled(len(kept), [r["meta"] for r in kept])
    book.check()
    assert [w[1] for w in where] == [0, 2, 4]
    assert book.tally.dropped == {"odd": 2}
    lines = book.removed.getvalue().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 2 and b'"line":2' in lines[0]  # 1-based line beside the 0-based row


def test_shard_identity_catches_an_uncounted_record() -> None:
    book = ledger()
    for _ in range(3):
        book.record_read()
    book.spilled(2, [r["meta"] for r in records(2)])
    with pytest.raises(LedgerError, match="read 3"):
        book.check()


def test_source_identity_is_checked_against_the_counted_kept() -> None:
    ok = {
        "read": 5,
        "kept": 3,
        "dropped": {"x": 1},
        "duplicates": 1,
        "contaminated": 0,
        "invalid": 0,
    }
    check_identity({"s": ok})
    with pytest.raises(LedgerError, match="s: read 5"):
        check_identity({"s": dict(ok, kept=2)})


def test_prepare_fails_on_a_lossy_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build = chain._build

    def with_fault(plan: object) -> chain.Chain:
        built = build(plan)  # type: ignore[arg-type]
        built.steps.insert(2, LosesLast())
        return built

    monkeypatch.setattr(chain, "_build", with_fault)
    monkeypatch.setattr(chain, "_CHAINS", {})
    write_jsonl(tmp_path / "a.jsonl", alpaca_rows(10))
    doc = {"datasets": [{"name": "a", "source": str(tmp_path / "a.jsonl")}]}
    with pytest.raises(LedgerError, match="loses_last"):
        prepare(parse(yaml.safe_dump(doc)), tmp_path / "out", num_proc=1, progress=False)
