"""`ray`: shard tasks as Ray tasks on a cluster (`pip install 'postmix[ray]'`).

Each shard task runs where Ray places it, reading its inputs and writing its
spill files on storage every node can see (`--spill-dir`); the compact
results come back through Ray's object store to the driver, which makes the
global decisions. Ray's task API fits this unit of work (a few large,
independent tasks) better than Ray Data's row blocks, which would parse the
inputs a second time.

Without an address a local Ray instance is started for this run and stopped
after it; with one (`--ray-address auto` or `ray://host:10001`) the run joins
that cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from postmix.steps import Resources


@dataclass
class RayExecutor:
    address: str | None = None
    num_cpus: int | None = None  # CPUs of a local instance started for the run
    name: str = "ray"

    def map(
        self, fn: Callable[[Any], Any], tasks: Sequence[Any], resources: Resources
    ) -> Iterator[Any]:
        try:
            import ray
        except ImportError as exc:
            raise RuntimeError("the ray executor needs Ray: pip install 'postmix[ray]'") from exc
        started = not ray.is_initialized()
        if started:
            ray.init(
                address=self.address,
                num_cpus=None if self.address else self.num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        try:
            remote = ray.remote(num_cpus=resources.cpus, num_gpus=resources.gpus)(fn)
            pending = [remote.remote(task) for task in tasks]
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield ray.get(done[0])
        finally:
            if started:
                ray.shutdown()
