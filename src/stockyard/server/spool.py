"""Upload spool files (`<channel>/.stockyard/uploads/`): who owns them, and removing orphans.

A request body is spooled to `.upload.<owner>.<random>.part`, where `<owner>` names the server
process that writes it. That process holds an exclusive `flock` on `.owner.<owner>.lock` in the
same directory for as long as it lives; the OS releases it when the process dies, `kill -9`
included. So an orphan is recognised without guessing from its age:

- at start (`bootstrap`), every spool file whose owner is not alive is deleted: no upload
  survives a restart, while a replica sharing the data directory keeps its uploads in flight;
- every `SWEEP_SECONDS` each server process deletes the spool files of dead owners (a worker
  that died) and any spool file older than `STALE_UPLOAD_SECONDS` (a leak, whoever owns it).

No HTTP here: used by `server.channels.bootstrap` and by the app's lifespan.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Final

from stockyard.index.workspace import STATE_DIR

#: The spool directory inside a channel's state directory.
SPOOL_DIR: Final = "uploads"
FILE_PREFIX: Final = ".upload."
FILE_SUFFIX: Final = ".part"
LOCK_PREFIX: Final = ".owner."
LOCK_SUFFIX: Final = ".lock"
#: A spool file untouched for this long is removed by the periodic sweep, whoever owns it.
STALE_UPLOAD_SECONDS: Final = 3600.0
#: How often each server process sweeps the spool directories.
SWEEP_SECONDS: Final = 300.0


class SpoolOwner:
    """This process's claim on the spool files it writes (one lock file per spool directory,
    held until `close` or the process's death)."""

    def __init__(self) -> None:
        self.id = secrets.token_hex(8)
        self._locks: dict[Path, int] = {}
        self._mutex = threading.Lock()

    @property
    def file_prefix(self) -> str:
        return f"{FILE_PREFIX}{self.id}."

    def claim(self, directory: Path) -> None:
        """Create `directory` if needed and hold this process's owner lock in it. Cheap when
        already held (one `stat`, to notice a directory removed and created again)."""
        lock_path = directory / f"{LOCK_PREFIX}{self.id}{LOCK_SUFFIX}"
        with self._mutex:
            fd = self._locks.get(directory)
            if fd is not None:
                try:
                    if os.stat(lock_path).st_ino == os.fstat(fd).st_ino:
                        return
                except FileNotFoundError:
                    pass
                os.close(fd)
                del self._locks[directory]
            directory.mkdir(parents=True, exist_ok=True)
            self._locks[directory] = _lock(lock_path)

    def close(self) -> None:
        """Release every claim and remove the lock files (spool files are the requests')."""
        with self._mutex:
            for directory, fd in self._locks.items():
                with contextlib.suppress(OSError):
                    os.unlink(directory / f"{LOCK_PREFIX}{self.id}{LOCK_SUFFIX}")
                os.close(fd)
            self._locks.clear()


def _lock(path: Path) -> int:
    """Create and lock `path`; a sweep may take a just-created, not yet locked file for a dead
    owner's and remove it, so check that the locked file is still the one at `path`."""
    for _ in range(5):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise OSError(errno.EAGAIN, "could not hold the upload spool's owner lock", str(path))


def _owner_of(name: str) -> str | None:
    """The owner id in a spool file name, or None for a name without one (an older server's)."""
    if not (name.startswith(FILE_PREFIX) and name.endswith(FILE_SUFFIX)):
        return None
    owner, dot, _rest = name[len(FILE_PREFIX) : -len(FILE_SUFFIX)].partition(".")
    return owner if dot else None


def _alive(lock_path: Path) -> bool:
    """Whether a process holds the owner lock at `lock_path`; a dead owner's file is removed."""
    try:
        fd = os.open(lock_path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return True
            raise
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)
        return False
    finally:
        os.close(fd)


def remove_orphans(directory: Path, *, max_age: float | None = None) -> int:
    """Delete the spool files in `directory` whose owner is not alive, and (with `max_age`) any
    spool file not modified for `max_age` seconds. Returns how many were deleted."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    alive: dict[str, bool] = {}
    cutoff = time.time() - max_age if max_age is not None else None
    removed = 0
    for entry in entries:
        name = entry.name
        if name.startswith(LOCK_PREFIX):
            continue
        owner = _owner_of(name)
        if owner is not None and owner not in alive:
            alive[owner] = _alive(directory / f"{LOCK_PREFIX}{owner}{LOCK_SUFFIX}")
        with contextlib.suppress(OSError):
            if not entry.is_file(follow_symlinks=False):
                continue
            stale = cutoff is not None and entry.stat(follow_symlinks=False).st_mtime < cutoff
            if stale or owner is None or not alive[owner]:
                os.unlink(entry.path)
                removed += 1
    for entry in entries:  # owner locks left by dead processes that spooled nothing more
        name = entry.name
        if name.startswith(LOCK_PREFIX) and name.endswith(LOCK_SUFFIX):
            owner = name[len(LOCK_PREFIX) : -len(LOCK_SUFFIX)]
            if owner not in alive:
                _alive(directory / name)
    return removed


def spool_directories(channels_dir: Path) -> list[Path]:
    """The spool directory of every channel directory under `channels_dir` (existing or not)."""
    try:
        channels = [entry for entry in os.scandir(channels_dir) if entry.is_dir()]
    except FileNotFoundError:
        return []
    return [Path(entry.path) / STATE_DIR / SPOOL_DIR for entry in channels]


def sweep(channels_dir: Path, *, max_age: float = STALE_UPLOAD_SECONDS) -> int:
    """One periodic sweep over every channel's spool directory."""
    return sum(remove_orphans(d, max_age=max_age) for d in spool_directories(channels_dir))
