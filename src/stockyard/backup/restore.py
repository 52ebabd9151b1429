"""`stockyard restore`: a backup into a fresh deployment (SQLite or PostgreSQL, local files or a
bucket, whatever the backup came from).

1. Read the manifest and check every file's size and sha256: a damaged backup is refused before
   anything is written. Refuse a target catalog that holds anything.
2. Check that the artifacts the backup left in storage are in the target's storage (size).
3. Put the files through the target's `Store` (hard links where the file system allows; local
   files keep their mtime, so change detection sees them unchanged), then insert the catalog
   rows with their ids in one transaction (a failure leaves the catalog empty: run it again).
4. Republish what the backup marked (files a concurrent publish had changed), so the restored
   catalog and files agree before any server starts.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from stockyard.backup.errors import ArtifactsMissing, BackupInvalid
from stockyard.backup.files import COPY_THREADS, link_or_copy, place_file
from stockyard.backup.manifest import (
    ChannelEntry,
    FileEntry,
    Manifest,
    read_manifest,
    store_path,
    verify_files,
    work_path,
)
from stockyard.backup.progress import NO_PROGRESS, Progress
from stockyard.backup.tables import check_fresh, load_catalog, precheck_fresh
from stockyard.catalog.channels import write_channel_files_dirty
from stockyard.catalog.schema import SCHEMA_VERSION
from stockyard.config import Settings
from stockyard.server.channels import (
    DataLayout,
    data_dir_exists,
    is_proxy_channel,
    layout_for,
    open_catalog,
    publish_channel,
    sync_public_links,
)
from stockyard.storage import LocalStore, Store
from stockyard.types.policy import decode_policy

#: Files under here are private (the encrypted signing key, its configuration).
_PRIVATE = ".stockyard/trust/"


@dataclass(frozen=True, slots=True)
class RestoreOptions:
    #: Restore even when artifacts the backup left in storage are missing or changed: their
    #: subdirs are republished, which drops the missing packages.
    allow_missing_artifacts: bool = False


@dataclass(frozen=True, slots=True)
class RestoreResult:
    source: Path
    manifest: Manifest
    rows: dict[str, int]
    files: int
    bytes: int
    kept_checked: int
    missing_artifacts: list[str]
    republished: list[str]
    warnings: list[str]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "created_at": self.manifest.created_at,
            "backup_dialect": self.manifest.dialect,
            "tables": self.rows,
            "channels": [c.name for c in self.manifest.channels],
            "files": self.files,
            "bytes": self.bytes,
            "kept_artifacts_checked": self.kept_checked,
            "missing_artifacts": self.missing_artifacts,
            "republished": self.republished,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
        }


def restore_backup(
    settings: Settings,
    source: Path,
    options: RestoreOptions | None = None,
    progress: Progress = NO_PROGRESS,
) -> RestoreResult:
    """Restore the backup in `source` into the fresh deployment of `settings`."""
    started = time.monotonic()
    source = Path(source).absolute()
    manifest, missing = _checked(settings, source, options or RestoreOptions(), progress)
    layout = layout_for(settings)
    plan = _Plan(manifest, layout, missing)
    catalog = open_catalog(settings, create=True)
    try:
        where = catalog.engine.url.render_as_string(hide_password=True)
        with catalog.engine.connect() as conn:
            check_fresh(conn, where)
        files, size = _write_files(layout, manifest, source, progress)
        os.sync()  # the files are on disk before the catalog says they exist
        with catalog.engine.begin() as conn:
            check_fresh(conn, where)
            rows = load_catalog(conn, source, manifest.tables, plan.transform, progress)
            for channel_id in plan.dirty_channel_files:
                write_channel_files_dirty(conn, channel_id, True)
        channels = catalog.list_channels()
        proxies = {c.name for c in channels if is_proxy_channel(catalog, c)}
    finally:
        catalog.close()
    sync_public_links(layout, channels)
    warnings = list(manifest.warnings)
    republished = _republish(settings, sorted(plan.stale - proxies), warnings, progress)
    return RestoreResult(
        source,
        manifest,
        rows,
        files,
        size,
        sum(len(c.kept) for c in manifest.channels),
        [f"{name}: {problem}" for name, _, problem in missing],
        republished,
        warnings,
        time.monotonic() - started,
    )


def _checked(
    settings: Settings, source: Path, options: RestoreOptions, progress: Progress
) -> tuple[Manifest, list[tuple[str, str, str]]]:
    """Everything checked before anything is written: the manifest and every file's sha256,
    a fresh target, the artifacts left in storage (returns those missing, when allowed)."""
    manifest = read_manifest(source)
    if manifest.schema_version > SCHEMA_VERSION:
        raise BackupInvalid(
            f"the backup has catalog schema {manifest.schema_version}; this Stockyard knows "
            f"{SCHEMA_VERSION}",
            hint="Restore it with the Stockyard version that made it, or a newer one.",
        )
    if data_dir_exists(settings):
        precheck_fresh(settings.catalog_url)
    verify_files(source, manifest, progress)
    missing = _missing_kept(layout_for(settings), manifest, progress)
    if missing and not options.allow_missing_artifacts:
        shown = "; ".join(f"{name}: {problem}" for name, _, problem in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ArtifactsMissing(
            f"{len(missing)} artifact(s) the backup left in storage are not in the target's "
            f"storage as they were: {shown}{more}"
        )
    return manifest, missing


def _missing_kept(
    layout: DataLayout, manifest: Manifest, progress: Progress
) -> list[tuple[str, str, str]]:
    """(channel, key, problem) of each artifact left in storage that the target's storage does
    not hold with its size (one listing per folder)."""
    progress.phase("check artifacts in storage", sum(len(c.kept) for c in manifest.channels))
    problems: list[tuple[str, str, str]] = []
    for channel in manifest.channels:
        store = layout.store(channel.name)
        listings: dict[str, dict[str, tuple[int, int]]] = {}
        for kept in channel.kept:
            folder, _, name = kept.key.rpartition("/")
            if folder not in listings:
                listings[folder] = store.file_sizes(folder)
            found = listings[folder].get(name)
            if found is None:
                problems.append((channel.name, kept.key, f"{kept.key} is missing"))
            elif found[0] != kept.size:
                problems.append(
                    (channel.name, kept.key, f"{kept.key} has {found[0]} bytes, not {kept.size}")
                )
            progress.advance()
    return problems


def _write_files(
    layout: DataLayout, manifest: Manifest, source: Path, progress: Progress
) -> tuple[int, int]:
    entries = [(c, f) for c in manifest.channels for f in (*c.store, *c.work)]
    progress.phase("restore files", len(entries))
    for channel in manifest.channels:
        _ChannelWriter(layout, channel, source, progress).write()
    return len(entries), sum(f.size for _, f in entries)


@dataclass
class _ChannelWriter:
    layout: DataLayout
    channel: ChannelEntry
    source: Path
    progress: Progress

    def write(self) -> None:
        store = self.layout.store(self.channel.name)
        if isinstance(store, LocalStore):
            # One `os.sync` before the catalog is written instead of an fsync per file.
            store = LocalStore(store.root, fsync=False)
        scratch = self.layout.workspace(self.channel.name).scratch
        scratch.mkdir(parents=True, exist_ok=True)

        def put(entry: FileEntry) -> None:
            self._put(store, scratch, entry)

        if self.layout.remote is not None:  # a request each: many at once
            with ThreadPoolExecutor(COPY_THREADS) as pool:
                for _ in pool.map(put, self.channel.store):
                    self.progress.advance()
        else:
            for entry in self.channel.store:
                put(entry)
                self.progress.advance()
        for entry in self.channel.work:
            self._place(entry)
            self.progress.advance()

    def _put(self, store: Store, scratch: Path, entry: FileEntry) -> None:
        # A temp name of the backup's file handed to the store: a rename into a local channel
        # (the same inode), an upload into a bucket (the temp is removed).
        temp = scratch / f".restore-{secrets.token_hex(8)}"
        link_or_copy(self.source / store_path(self.channel.id, entry.key), temp)
        if self.layout.remote is None and entry.mtime_ns is not None:
            os.utime(temp, ns=(entry.mtime_ns, entry.mtime_ns))
        store.put_file(entry.key, temp)
        # Left behind when the target already was this very inode (a restore over the files
        # the backup was taken from): renaming a file onto itself does nothing.
        temp.unlink(missing_ok=True)

    def _place(self, entry: FileEntry) -> None:
        work_dir = self.layout.channel_dir(self.channel.name)
        target = work_dir / entry.key
        private = entry.key.startswith(_PRIVATE)
        source = self.source / work_path(self.channel.id, entry.key)
        place_file(source, target, mode=0o600 if private else 0o644)
        if entry.mtime_ns is not None:
            os.utime(target, ns=(entry.mtime_ns, entry.mtime_ns))
        if private:
            (work_dir / _PRIVATE).chmod(0o700)


@dataclass
class _Plan:
    """How rows change on their way in: stored paths of the source's working areas move to the
    target's; subdirs whose files were left out are dirty; dropped snapshots stay out."""

    manifest: Manifest
    layout: DataLayout
    missing: list[tuple[str, str, str]]
    stale: set[str] = field(default_factory=set)
    dirty_channel_files: list[int] = field(default_factory=list)
    _dirty: set[tuple[int, str]] = field(default_factory=set)
    _moved: dict[int, tuple[str, str]] = field(default_factory=dict)
    _dropped: set[tuple[int, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        by_name = {c.name: c for c in self.manifest.channels}
        for channel in self.manifest.channels:
            target = str(self.layout.channel_dir(channel.name))
            self._moved[channel.id] = (channel.work_dir, target)
            self._mark(channel, channel.republish_subdirs)
            if channel.republish_channel_files:
                self.dirty_channel_files.append(channel.id)
                self.stale.add(channel.name)
            self._dropped |= {(channel.id, s) for s in channel.dropped_snapshots}
        for name, key, _ in self.missing:
            if not key.startswith("snapshots/"):
                self._mark(by_name[name], [key.split("/", 1)[0]])

    def _mark(self, channel: ChannelEntry, subdirs: Iterable[str]) -> None:
        for subdir in subdirs:
            self._dirty.add((channel.id, subdir))
            self.stale.add(channel.name)

    def transform(self, table: str, row: dict[str, Any]) -> dict[str, Any] | None:
        if table == "subdirs" and (row["channel_id"], row["subdir"]) in self._dirty:
            return {**row, "dirty": True}
        if table == "snapshots" and (row["channel_id"], row["id"]) in self._dropped:
            return None
        if table == "patch_sets":
            return {**row, "path": self._relocate(row["channel_id"], row["path"])}
        if table == "channel_policies":
            policy = decode_policy(row["policy"])
            if policy.patch_source is not None:
                moved = self._relocate(row["channel_id"], policy.patch_source)
                if moved != policy.patch_source:
                    policy = msgspec.structs.replace(policy, patch_source=moved)
                    return {**row, "policy": msgspec.json.encode(policy)}
        return row

    def _relocate(self, channel_id: int, path: str) -> str:
        old, new = self._moved.get(channel_id, ("", ""))
        if old and (path == old or path.startswith(old + "/")):
            return new + path[len(old) :]
        return path


def _republish(
    settings: Settings, names: list[str], warnings: list[str], progress: Progress
) -> list[str]:
    """Publish each channel the backup marked (its dirty subdirs and files are rewritten from
    the restored catalog). A failure is a warning: `stockyard serve` republishes at start."""
    progress.phase("republish", len(names))
    done = []
    for name in names:
        try:
            publish_channel(settings, name)
            done.append(name)
        except Exception as exc:  # the catalog is restored; the start of the server repairs it
            warnings.append(
                f"{name}: republishing failed ({type(exc).__name__}: {exc}); `stockyard serve` "
                "publishes it again at start"
            )
        progress.advance()
    return done
