"""Garbage collection: what the code already cleans up along the way, done on purpose.

- upload spool files of dead server processes, and any older than an hour (`server.spool`; each
  server process also sweeps its own machine every five minutes);
- staged files no commit names and removed artifacts left in the trash (`ChannelCommit`, under
  the channel lock; every commit does this for its channel, so only channels that saw a crash
  and no commit since have any);
- snapshots beyond the `keep` of the channel's snapshot schedule, and snapshot folders the
  catalog does not list (`snapshots.remove_leftovers`: a creation or deletion cut short);
- `.deleted-*` folders a channel deletion renamed away and did not finish removing;
- finished job rows older than `keep_jobs_days`.

Spools and `.deleted-*` channel folders are local: a worker on another machine cleans only its
own (each replica sweeps its spools itself).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from stockyard.catalog import Catalog, Channel, now_ms
from stockyard.config import Settings
from stockyard.jobs.functions import open_job_catalog
from stockyard.storage import Store

_DAY_MS = 86_400_000


def collect_garbage(settings: Settings, *, keep_jobs_days: int = 30) -> dict[str, Any]:
    from stockyard.server.channels import layout_for
    from stockyard.server.spool import sweep

    layout = layout_for(settings)
    counts = {"spool_files": sweep(layout.channels_dir), "staged_files": 0, "trash_files": 0}
    counts |= {"snapshots_pruned": 0, "snapshot_leftovers": 0, "deleted_folders": 0}
    with open_job_catalog(settings) as catalog:
        for channel in catalog.list_channels():
            if catalog.channel_policy(channel.id).proxy is not None:
                continue  # a proxy channel has no staged files, trash or snapshots
            _channel_garbage(settings, catalog, channel, counts)
        counts["jobs_deleted"] = catalog.delete_finished_jobs(now_ms() - keep_jobs_days * _DAY_MS)
    counts["deleted_folders"] = _remove_leftovers(layout.root)
    return counts


def _channel_garbage(
    settings: Settings, catalog: Catalog, channel: Channel, counts: dict[str, int]
) -> None:
    from stockyard.index.commit import STAGING, TRASH, ChannelCommit
    from stockyard.server.channels import layout_for
    from stockyard.snapshots import prune, remove_leftovers
    from stockyard.types.policy import ChannelPolicy

    layout = layout_for(settings)
    workspace = layout.workspace(channel.name)
    store = layout.store(channel.name)
    # Files are staged, trashed and snapshotted under the lock: holding it, none is in flight.
    with workspace.lock(settings.lock_timeout):
        staged, trash = _count(store, STAGING), _count(store, TRASH)
        # Only the clean-up steps of a commit: they need no policy or patch source.
        commit = ChannelCommit(catalog, store, channel, ChannelPolicy(), None, workspace.scratch)
        commit.discard_orphans(keep=set())
        commit.empty_trash()
        counts["staged_files"] += staged - _count(store, STAGING)
        counts["trash_files"] += trash - _count(store, TRASH)
        counts["snapshot_leftovers"] += len(remove_leftovers(catalog, channel, store))
    schedule = catalog.channel_policy(channel.id).snapshots
    if schedule is not None and schedule.keep is not None:
        pruned = prune(catalog, channel, workspace, schedule.keep, store=store)
        counts["snapshots_pruned"] += len(pruned)


def _count(store: Store, prefix: str) -> int:
    return sum(sum(1 for _ in store.list(f"{prefix}/{d}")) for d in store.list_dirs(prefix))


def _remove_leftovers(directory: Path) -> int:
    """Remove the `.deleted-*` folders in `directory` (renamed away before their removal, so
    nothing serves or names them)."""
    try:
        entries = [e for e in os.scandir(directory) if e.name.startswith(".deleted-")]
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            Path(entry.path).unlink(missing_ok=True)
    return len(entries)
