"""A channel's local working area: its lock, scratch space and the folder patch sources are
looked up in. Inside the channel directory, under `.stockyard/` (never scanned or served)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stockyard.index.lock import DEFAULT_LOCK_TIMEOUT, channel_lock

#: Where Stockyard keeps its state inside a channel directory.
STATE_DIR = ".stockyard"


class SharedLocks(Protocol):
    """Writer locks shared by every machine of a deployment (PostgreSQL advisory locks)."""

    def hold(self, name: str, timeout: float) -> AbstractContextManager[None]: ...

    def hold_unless(
        self, name: str, timeout: float, settled: Callable[[], bool]
    ) -> AbstractContextManager[bool]: ...


@dataclass(frozen=True, slots=True)
class ChannelWorkspace:
    directory: Path
    #: With a PostgreSQL catalog: the deployment's shared locks, taken by the channel's catalog
    #: name instead of the file lock (replicas on other machines share no file system).
    shared_locks: SharedLocks | None = None
    lock_name: str = ""

    @property
    def state_dir(self) -> Path:
        return self.directory / STATE_DIR

    @property
    def scratch(self) -> Path:
        return self.state_dir / "tmp"

    @contextmanager
    def lock(self, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
        """One writer per channel: a PostgreSQL advisory lock when the catalog is shared, else a
        file lock (either is released when its process dies)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.shared_locks is not None and self.lock_name:
            with self.shared_locks.hold(self.lock_name, timeout):
                yield
            return
        with channel_lock(self.state_dir / "index.lock", timeout=timeout):
            yield

    @contextmanager
    def lock_unless(self, timeout: float, settled: Callable[[], bool]) -> Iterator[bool]:
        """`lock`, unless `settled()` turns true while waiting (what the caller waits to commit
        was committed by another replica): yields whether the lock is held. Only with shared
        locks (replicas); a file lock is simply waited for."""
        if self.shared_locks is not None and self.lock_name:
            with self.shared_locks.hold_unless(self.lock_name, timeout, settled) as held:
                yield held
            return
        with self.lock(timeout):
            yield True
