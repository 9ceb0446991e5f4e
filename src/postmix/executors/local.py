"""`local`: tasks in this process, or in a pool of worker processes on this machine.

Workers get everything through their task (pickled); nothing is inherited by
fork, so the start method is free: `fork` (cheapest) unless a step holds a
torch model, which must not cross fork(); then `spawn`.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from postmix.steps import Resources


@dataclass
class LocalExecutor:
    num_proc: int = 1
    start_method: str | None = None  # None: chosen from the steps' resources
    name: str = "local"

    def method(self, resources: Resources) -> str:
        if self.start_method:
            return self.start_method
        return "spawn" if resources.torch else "fork"

    def map(
        self, fn: Callable[[Any], Any], tasks: Sequence[Any], resources: Resources
    ) -> Iterator[Any]:
        if self.num_proc <= 1 or len(tasks) <= 1:
            for task in tasks:
                yield fn(task)
            return
        ctx = mp.get_context(self.method(resources))
        with ctx.Pool(min(self.num_proc, len(tasks))) as pool:
            yield from pool.imap_unordered(fn, tasks)
