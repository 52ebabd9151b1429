"""Backup and restore of a whole deployment (docs/backup.md).

- `create`: `create_backup` dumps every catalog table in one read transaction (`tables`), then
  copies each channel's files checked against that dump (`channel_copy`, `facts`), then writes
  the manifest with the sha256 of every file (`manifest`);
- `restore`: `restore_backup` verifies the manifest, puts the files through the target's stores,
  inserts the rows with their ids, republishes what a concurrent publish had changed.
"""

from stockyard.backup.create import BackupOptions, BackupResult, create_backup
from stockyard.backup.errors import (
    ArtifactsMissing,
    BackupError,
    BackupInvalid,
    DestinationNotEmpty,
    TargetNotFresh,
)
from stockyard.backup.manifest import Manifest, read_manifest
from stockyard.backup.progress import NO_PROGRESS, Progress
from stockyard.backup.restore import RestoreOptions, RestoreResult, restore_backup

__all__ = [
    "NO_PROGRESS",
    "ArtifactsMissing",
    "BackupError",
    "BackupInvalid",
    "BackupOptions",
    "BackupResult",
    "DestinationNotEmpty",
    "Manifest",
    "Progress",
    "RestoreOptions",
    "RestoreResult",
    "TargetNotFresh",
    "create_backup",
    "read_manifest",
    "restore_backup",
]
