"""Snapshots: immutable views of a channel's published files at a moment, served at
`/<channel>/snapshots/<id>/<subdir>/...`."""

from stockyard.snapshots.create import (
    SNAPSHOTS_DIR,
    create_snapshot,
    delete_snapshot,
    prune,
    remove_leftovers,
    snapshot_store,
)
from stockyard.snapshots.diff import SubdirDiff, diff_views
from stockyard.snapshots.schedule import ScheduledRun, take_due_snapshots

__all__ = [
    "SNAPSHOTS_DIR",
    "ScheduledRun",
    "SubdirDiff",
    "create_snapshot",
    "delete_snapshot",
    "diff_views",
    "prune",
    "remove_leftovers",
    "snapshot_store",
    "take_due_snapshots",
]
