"""`stockyard backup`: the catalog at one instant, then the files it says are published.

1. Every catalog table is dumped inside one read transaction (`tables.read_snapshot`).
2. Each channel's files are copied and checked against that dump (`channel_copy`): what a
   concurrent publish changed meanwhile is left out and marked for republishing on restore.
3. The manifest, with the sha256 of every file, is written last.

Nothing is written to the deployment, and no lock is held while copying (a signed channel's
repodata is copied under its channel lock, briefly): uploads go on during a backup.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stockyard import __version__
from stockyard.backup.channel_copy import ChannelCopy, ChannelSource, CopyContext
from stockyard.backup.errors import DestinationNotEmpty
from stockyard.backup.facts import read_facts
from stockyard.backup.manifest import FORMAT, ChannelEntry, Manifest, write_manifest
from stockyard.backup.progress import NO_PROGRESS, Progress
from stockyard.backup.tables import dump_catalog, read_snapshot
from stockyard.catalog import Catalog
from stockyard.catalog.schema import SCHEMA_VERSION
from stockyard.config import Settings
from stockyard.index.lock import DEFAULT_LOCK_TIMEOUT
from stockyard.server.channels import layout_for, open_catalog


@dataclass(frozen=True, slots=True)
class BackupOptions:
    #: Copy (hard-link) the artifacts of local storage into the backup. Artifacts in a bucket
    #: are always left there and only listed.
    include_artifacts: bool = True
    #: How long a signed channel's copy waits for its channel lock.
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    manifest: Manifest
    #: Artifacts hard-linked into the backup / copied (another file system).
    linked: int
    copied: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        manifest = self.manifest
        files = manifest.files()
        return {
            "path": str(self.path),
            "created_at": manifest.created_at,
            "schema_version": manifest.schema_version,
            "dialect": manifest.dialect,
            "storage": manifest.storage,
            "artifacts_included": manifest.artifacts_included,
            "tables": {t.name: t.rows for t in manifest.tables},
            "channels": [_channel_dict(c) for c in manifest.channels],
            "files": len(files),
            "bytes": sum(size for _, _, size in files),
            "kept_artifacts": sum(len(c.kept) for c in manifest.channels),
            "linked_artifacts": self.linked,
            "copied_artifacts": self.copied,
            "warnings": manifest.warnings,
            "seconds": round(self.seconds, 3),
        }


def _channel_dict(channel: ChannelEntry) -> dict[str, Any]:
    return {
        "name": channel.name,
        "files": len(channel.store) + len(channel.work),
        "bytes": sum(f.size for f in (*channel.store, *channel.work)),
        "kept_artifacts": len(channel.kept),
        "republish_on_restore": channel.republish_subdirs
        + (["channel files"] if channel.republish_channel_files else []),
    }


def create_backup(
    settings: Settings,
    dest: Path,
    options: BackupOptions | None = None,
    progress: Progress = NO_PROGRESS,
) -> BackupResult:
    """Back up the deployment of `settings` into the new or empty directory `dest`. On any
    failure, what was written to `dest` is removed again."""
    options = options or BackupOptions()
    catalog = open_catalog(settings)  # a wrong --data fails before anything is made
    try:
        dest = _prepare(Path(dest))
        try:
            return _Backup(settings, catalog, dest, options, progress).run()
        except BaseException:
            _clear(dest)
            raise
    finally:
        catalog.close()


def _prepare(dest: Path) -> Path:
    dest = dest.absolute()
    if dest.exists() and not dest.is_dir():
        raise DestinationNotEmpty(f"{dest} exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()):
        raise DestinationNotEmpty(f"{dest} is not empty")
    # Private: the backup holds token hashes, encrypted signing keys and policies.
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    return dest


def _clear(dest: Path) -> None:
    for entry in dest.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


@dataclass
class _Backup:
    settings: Settings
    catalog: Catalog
    dest: Path
    options: BackupOptions
    progress: Progress

    def run(self) -> BackupResult:
        started = time.monotonic()
        with read_snapshot(self.catalog.engine) as conn:
            taken = datetime.now(UTC)
            tables = dump_catalog(conn, self.dest, self.progress)
        layout = layout_for(self.settings)
        bucket = layout.remote is not None
        ctx = CopyContext(
            self.dest, self.options.include_artifacts, self.progress, self.options.lock_timeout
        )
        entries = []
        for facts in read_facts(self.dest, {t.name: t for t in tables}):
            source = ChannelSource(
                layout.store(facts.name),
                layout.channel_dir(facts.name),
                layout.workspace(facts.name),
                bucket,
            )
            entries.append(ChannelCopy(ctx, facts, source).run())
        manifest = Manifest(
            format=FORMAT,
            stockyard_version=__version__,
            schema_version=SCHEMA_VERSION,
            created_at=taken.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            created_at_ms=int(taken.timestamp() * 1000),
            dialect=self.catalog.engine.dialect.name,
            storage="bucket" if bucket else "local",
            storage_url=self.settings.storage_url,
            artifacts_included=self.options.include_artifacts and not bucket,
            tables=tables,
            channels=entries,
            warnings=ctx.warnings,
        )
        os.sync()  # every file on disk before the manifest says the backup is complete
        write_manifest(self.dest, manifest)
        seconds = time.monotonic() - started
        return BackupResult(self.dest, manifest, ctx.hasher.linked, ctx.hasher.copied, seconds)
