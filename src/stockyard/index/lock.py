"""One writer per channel: a file lock in the channel's state directory.

A second indexer waits up to `timeout` seconds, then fails with `LockTimeout`; it never writes
while another holds the lock. The OS releases the lock when a process dies (even `kill -9`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import filelock

from stockyard.types.errors import LockTimeout

#: Seconds a writer waits for another writer of the same channel, in every path (the server's
#: `lock_timeout` setting overrides it for uploads).
DEFAULT_LOCK_TIMEOUT = 600.0


@contextlib.contextmanager
def channel_lock(path: Path, *, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    lock = filelock.FileLock(str(path), timeout=timeout)
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise LockTimeout(
            f"another process is indexing this channel (lock {path} held for {timeout:g}s)",
            hint="Wait for it to finish, or pass a longer --lock-timeout.",
        ) from exc
    try:
        yield
    finally:
        lock.release()
