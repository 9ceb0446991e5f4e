"""Executors run shard tasks: `local` (this process or a pool) and `ray` (a Ray cluster).

Both take the same picklable tasks and give the same results, so the output
bytes never depend on where the work ran; the driver sorts results by task.
"""

from __future__ import annotations

from postmix.executors.base import Executor
from postmix.executors.local import LocalExecutor

NAMES = ("local", "ray")


def get(name: str, *, num_proc: int = 1, ray_address: str | None = None) -> Executor:
    """The executor called `name` (`ray` imports Ray only here, from the `ray` extra)."""
    if name == "local":
        return LocalExecutor(num_proc=num_proc)
    if name == "ray":
        from postmix.executors.ray import RayExecutor

        return RayExecutor(address=ray_address, num_cpus=num_proc)
    raise ValueError(f"unknown executor {name!r}; known: {', '.join(NAMES)}")


__all__ = ["NAMES", "Executor", "LocalExecutor", "get"]
