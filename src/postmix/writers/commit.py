"""The output commit: one run at a time per output dir, written aside, swapped in whole.

`prepare` writes many files (splits, side files, manifest, report, card, tokenizer).
Renamed one by one, a kill or a late error leaves a mixture of two runs; two runs
into one dir interleave. Here a run:

1. takes an exclusive lock beside the target (`.{name}.postmix-lock`, holding the
   pid; `flock`, so a killed holder's lock is free again at once);
2. removes what dead runs left: staging dirs beside the target and `.postmix-*`
   spill dirs inside it (with the lock held, every one of them is stale);
3. writes everything into a fresh staging dir beside the target
   (`.{name}.postmix-staging-<pid>`, same filesystem, created exclusively);
4. swaps the staging dir in as one unit (`renameat2(RENAME_EXCHANGE)` where the
   kernel has it, else two renames that the next run completes or undoes) and
   removes the previous result.

An interrupted run leaves the previous result untouched (or nothing) plus a
staging dir that the next run removes. Replacing a dir that is not a postmix
output (no manifest written by postmix) is refused: the swap would delete it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import orjson

STAGING = ".postmix-staging-"
RETIRED = ".postmix-old-"
LOCK = ".postmix-lock"
SPILL_PREFIX = ".postmix-"  # spill/work dirs the engine made inside an output dir
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100

Hook = Callable[[str], None]


class OutputError(ValueError):
    """The output dir cannot be written: locked by another run, or not ours to replace."""


class OutputCommit:
    """`with OutputCommit(out) as stage:` write under `stage.dir`, then `stage.commit()`.

    Leaving the block without `commit()` (an error, a signal) discards the staging
    dir and keeps the previous result. `hook(step)` is called between steps
    ("locked", "staged", "retired", "swapped", "committed") so tests can inject a
    failure or a kill at each one. `exchange=False` swaps by two renames, as on
    filesystems without `renameat2`.
    """

    def __init__(
        self, target: str | Path, *, hook: Hook | None = None, exchange: bool = True
    ) -> None:
        self.target = Path(os.path.abspath(os.path.expanduser(target)))
        if self.target.exists():
            self.target = self.target.resolve()
        self.parent = self.target.parent
        name = self.target.name
        self.dir = self.parent / f".{name}{STAGING}{os.getpid()}"
        self.lock_path = self.parent / f".{name}{LOCK}"
        self._hook = hook or (lambda step: None)
        self._exchange = exchange
        self._lock: int | None = None
        self._committed = False

    def __enter__(self) -> OutputCommit:
        self.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _acquire(self.lock_path)
        try:
            self._hook("locked")
            check_replaceable(self.target)
            self.cleanup()
            os.mkdir(self.dir)
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if not self._committed:
                shutil.rmtree(self.dir, ignore_errors=True)
        finally:
            self._release()

    def cleanup(self) -> None:
        """Remove what dead runs left (call with the lock held): staging dirs beside the
        target, and spill dirs inside it. A retired previous result whose swap was cut
        short is put back first when the target is missing."""
        name = self.target.name
        retired = sorted(self.parent.glob(f".{name}{RETIRED}*"))
        if retired and not self.target.exists():
            os.rename(retired.pop(), self.target)
        for stale in [*retired, *self.parent.glob(f".{name}{STAGING}*")]:
            _remove(stale)
        if self.target.is_dir():
            for spill in self.target.glob(f"{SPILL_PREFIX}*"):
                _remove(spill)

    def path(self, name: str) -> Path:
        """Where the output file `name` (relative, inside the output) is staged."""
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise OutputError(f"{name!r}: an output file name must be relative and stay inside")
        return self.dir / rel

    def temp_file(self, suffix: str = "", directory: Path | None = None) -> tuple[IO[bytes], Path]:
        """A new temporary file in the staging dir, created exclusively (`O_EXCL` never
        follows a planted symlink); the caller renames or removes it."""
        fd, name = tempfile.mkstemp(suffix=suffix, prefix=".tmp-", dir=directory or self.dir)
        return os.fdopen(fd, "wb"), Path(name)

    def work_dir(self) -> Path:
        """A scratch dir (spills) inside the staging dir; removed before the swap."""
        return Path(tempfile.mkdtemp(prefix=SPILL_PREFIX, dir=self.dir))

    def commit(self) -> None:
        """Swap the staging dir in as the output; the previous output is removed."""
        for work in self.dir.glob(f"{SPILL_PREFIX}*"):
            _remove(work)
        _fsync_dir(self.dir)
        self._hook("staged")
        if self._exchange and self.target.exists() and _exchange(self.dir, self.target):
            old = self.dir
        else:
            old = self.parent / f".{self.target.name}{RETIRED}{os.getpid()}"
            if self.target.exists():
                os.rename(self.target, old)
                self._hook("retired")
            os.rename(self.dir, self.target)
        self._committed = True
        _fsync_dir(self.parent)
        self._hook("swapped")
        _remove(old)
        self._hook("committed")

    def _release(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.lock_path)
            os.close(self._lock)
            self._lock = None


def tidy(target: str | Path) -> None:
    """Remove what dead runs left at `target` (staging dirs, spill dirs, a half-done swap)
    without writing anything: for a run that reuses an unchanged output. Takes the lock
    for the moment it works, so it fails like a run when another one is writing."""
    commit = OutputCommit(target)
    if not commit.parent.is_dir():
        return
    lock = _acquire(commit.lock_path)
    commit._lock = lock
    try:
        commit.cleanup()
    finally:
        commit._release()


def _acquire(path: Path) -> int:
    """An flock'ed lock file holding our pid; a second run fails at once naming the holder."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise OutputError(f"{path}: the lock file is a symlink; remove it") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutputError(
                f"{path.parent / path.name.removeprefix('.').removesuffix(LOCK)} is being "
                f"written by another postmix run (pid {holder}); wait for it to finish, "
                "or choose another output dir"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not unlinked by a holder releasing it between our open and flock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            return fd
        os.close(fd)


def check_replaceable(target: Path) -> None:
    """Only a missing dir, an empty one, or a previous postmix output may be replaced."""
    if not target.exists():
        return
    if not target.is_dir():
        raise OutputError(f"{target}: the output path is a file; choose a directory")
    entries = [e for e in target.iterdir() if not e.name.startswith(SPILL_PREFIX)]
    manifest = target / "manifest.json"
    if not entries or (manifest.is_file() and _written_by_postmix(manifest)):
        return
    raise OutputError(
        f"{target}: the output dir holds files that are not a postmix output (no postmix "
        "manifest.json), and a run replaces the whole dir: choose a new or empty dir"
    )


def _written_by_postmix(manifest: Path) -> bool:
    try:
        doc = orjson.loads(manifest.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return False
    return isinstance(doc, dict) and "postmix" in doc


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where the call is missing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
