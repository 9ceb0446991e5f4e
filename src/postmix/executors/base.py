"""The executor contract: map a picklable function over picklable tasks."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from postmix.steps import Resources


class Executor(Protocol):
    """Runs `fn(task)` for every task, yielding results as they finish (any order).

    `resources` is what one task's steps need (the union over its chain): CPUs
    and GPUs per task, and whether a torch model is involved (then worker
    processes are spawned, never forked).
    """

    name: str

    def map(
        self, fn: Callable[[Any], Any], tasks: Sequence[Any], resources: Resources
    ) -> Iterator[Any]: ...
