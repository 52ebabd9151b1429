"""`MirrorOptions`: how a mirror run is asked for. A module of its own, light to import, so the
CLI can build options and check for an up-to-date target (`stockyard.mirror.last_run`) without
importing the catalog and the index (SQLAlchemy and the rest cost most of a no-change run)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from stockyard.index.lock import DEFAULT_LOCK_TIMEOUT
from stockyard.mirror.fetch import FetchSettings
from stockyard.mirror.filters import MirrorFilters

#: Milliseconds since the epoch (`stockyard.index.ingest.Clock`).
Clock = Callable[[], int]


@dataclass(frozen=True, slots=True)
class MirrorOptions:
    filters: MirrorFilters = field(default_factory=MirrorFilters)
    #: Mirror repodata_from_packages.json; the target's own patch source applies.
    unpatched: bool = False
    #: Compute and report the plan; change nothing.
    dry_run: bool = False
    #: Say why this filename (or subdir/filename) is in or out; change nothing.
    explain: str | None = None
    jobs: int = 4
    fetch: FetchSettings = field(default_factory=FetchSettings)
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    #: Where CEP 47 `indexed_timestamp` comes from (tests pass a fixed one); None: the system
    #: clock.
    clock: Clock | None = None
    #: End early when upstream and target are as the last run left them
    #: (`stockyard.mirror.last_run`); the CLI turns it off when it has checked already.
    skip_if_unchanged: bool = True

    @property
    def planning(self) -> bool:
        """Whether the run only reports (a dry run or --explain): it changes nothing."""
        return self.dry_run or self.explain is not None
