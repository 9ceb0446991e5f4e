"""`--data a b --weights` mixes through prepare's mixer, seeded per dir, not per position."""

from __future__ import annotations

from datasets import Dataset

from postmix.train.data import weighted


def part(tag: str, n: int) -> Dataset:
    return Dataset.from_dict({"prompt": [f"{tag}{i}" for i in range(n)]})


def rows_of(ds: Dataset, tag: str) -> list[str]:
    return [p for p in ds["prompt"] if p.startswith(tag)]


def test_reordering_or_adding_dirs_does_not_reshuffle_a_dir() -> None:
    a, b, c = part("a", 50), part("b", 40), part("c", 30)
    ab = weighted([a, b], "preference", [1.0, 1.0], 7, ["fa", "fb"])
    ba = weighted([b, a], "preference", [1.0, 1.0], 7, ["fb", "fa"])
    assert rows_of(ab, "a") == rows_of(ba, "a")
    assert rows_of(ab, "b") == rows_of(ba, "b")
    cab = weighted([c, a, b], "preference", [1.0, 1.0, 1.0], 7, ["fc", "fa", "fb"])
    picked = rows_of(cab, "a")
    assert picked == rows_of(ab, "a")[: len(picked)]  # the same draw, a smaller budget
