"""Scheduled snapshots: each channel whose policy has a `SnapshotSchedule` gets a snapshot when
its newest one is older than `every_seconds`, then all but the newest `keep` are deleted.
`stockyard serve` calls `take_due_snapshots` every minute; it can also run from cron.

`store_of` gives each channel's store (`DataLayout.store`); without it the store is the
workspace's channel directory, which is right only for local storage."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from stockyard.catalog import Catalog, Channel, now_ms
from stockyard.index.workspace import ChannelWorkspace
from stockyard.snapshots.create import create_snapshot, prune
from stockyard.storage import Store

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ScheduledRun:
    taken: dict[str, str] = field(default_factory=dict)  #: channel -> new snapshot id
    pruned: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def take_due_snapshots(
    catalog: Catalog,
    workspace_of: Callable[[Channel], ChannelWorkspace],
    *,
    store_of: Callable[[Channel], Store] | None = None,
    now: int | None = None,
    lock_timeout: float = 60.0,
) -> ScheduledRun:
    """Snapshot every channel whose schedule is due; one channel's failure never stops the
    others (it is logged and reported)."""
    run = ScheduledRun()
    at = now if now is not None else now_ms()
    for channel in catalog.list_channels():
        schedule = catalog.channel_policy(channel.id).snapshots
        if schedule is None:
            continue
        newest = catalog.snapshots(channel.id)[:1]
        if newest and at - newest[0].created_at < schedule.every_seconds * 1000:
            continue
        workspace = workspace_of(channel)
        try:
            store = store_of(channel) if store_of is not None else None
            row = create_snapshot(
                catalog, channel, workspace, store=store, by="schedule", lock_timeout=lock_timeout
            )
            run.taken[channel.name] = row.id
            if schedule.keep is not None:
                run.pruned[channel.name] = prune(
                    catalog, channel, workspace, schedule.keep, store=store
                )
        except Exception as exc:  # one channel's failure (a bucket's errors are no OSError)
            log.warning("scheduled snapshot of %s failed: %s", channel.name, exc)
            run.failed[channel.name] = str(exc)
    return run
