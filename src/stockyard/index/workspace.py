"""A channel's local working area: its lock, scratch space and the folder patch sources are
looked up in. Inside the channel directory, under `.stockyard/` (never scanned or served)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stockyard.index.lock import DEFAULT_LOCK_TIMEOUT, channel_lock

#: Where Stockyard keeps its state inside a channel directory.
STATE_DIR = ".stockyard"


@dataclass(frozen=True, slots=True)
class ChannelWorkspace:
    directory: Path

    @property
    def state_dir(self) -> Path:
        return self.directory / STATE_DIR

    @property
    def scratch(self) -> Path:
        return self.state_dir / "tmp"

    @contextmanager
    def lock(self, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
        """One writer per channel (a file lock the OS releases when a process dies)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with channel_lock(self.state_dir / "index.lock", timeout=timeout):
            yield
