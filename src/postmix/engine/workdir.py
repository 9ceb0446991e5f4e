"""The run's scratch dir for spill files, and the removal of those that killed runs left.

By default spills live inside the staging dir, which the next run into the same
output removes. A `--spill-dir` elsewhere (fast local disk, storage every Ray
node sees) is shared by any number of runs, and a killed run's spills there
(gigabytes at scale) would stay forever. So each run holds an `flock` on a lock
file inside its dir for as long as it lives; a dir whose lock is free belongs to
a run that died (the kernel frees an flock with the last process holding it),
and the next run that uses the same spill dir removes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from postmix.writers.commit import SPILL_PREFIX

log = logging.getLogger(__name__)
LOCK = ".lock"  # inside a work dir, held for the run's life
FRESH = ".pmx-new-"  # a work dir before its lock is held (never matched by SPILL_PREFIX)


@contextlib.contextmanager
def work_dir(parent: Path) -> Iterator[Path]:
    """A new `.postmix-*` dir under `parent`, locked while the block runs, then removed.

    Dead runs' dirs under `parent` are removed first. The dir gets its name only
    once its lock is held, so another run never sees it unlocked.
    """
    parent.mkdir(parents=True, exist_ok=True)
    for dead in remove_dead(parent):
        log.info("removed %s: the spills of a run that was killed", dead)
    fresh = Path(tempfile.mkdtemp(prefix=FRESH, dir=parent))
    fd = os.open(fresh / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = parent / (SPILL_PREFIX + fresh.name.removeprefix(FRESH))
        os.rename(fresh, path)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
    finally:
        os.close(fd)
        shutil.rmtree(fresh, ignore_errors=True)


def remove_dead(parent: Path) -> list[Path]:
    """Removes the work dirs under `parent` whose lock no process holds; returns them.

    A dir without a lock file is left alone: it is not a work dir of this kind.
    """
    removed = []
    for path in sorted(parent.glob(f"{SPILL_PREFIX}*")):
        try:
            fd = os.open(path / LOCK, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live run's
        finally:
            os.close(fd)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
