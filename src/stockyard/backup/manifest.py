"""The manifest of a backup: what it holds and the sha256 of every file in it.

```
DEST/manifest.json                       written last: a folder without it is not a backup
DEST/catalog/<table>.jsonl.zst           the rows of each catalog table (stockyard.backup.tables)
DEST/channels/<id>/store/<key>           a channel's files, by their key in the channel's store
DEST/channels/<id>/work/<path>           files of a channel's local working area (patch sets,
                                         trust keys, mirror patches) when the store is a bucket
```

Restore reads nothing but what the manifest lists, and checks every listed file's size and
sha256 before it writes anything: a truncated, damaged or edited file refuses the whole backup.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

import msgspec

from stockyard.backup.errors import BackupInvalid
from stockyard.backup.progress import Progress
from stockyard.storage import check_key
from stockyard.types.errors import StockyardError
from stockyard.types.identifiers import check_channel_name

#: Bumped when the layout changes incompatibly; restore refuses newer formats.
FORMAT = 1
MANIFEST = "manifest.json"
CATALOG_DIR = "catalog"
CHANNELS_DIR = "channels"
#: Every working-area file of a backup is Stockyard's state of the channel.
WORK_PREFIX = ".stockyard/"


class FileEntry(msgspec.Struct, frozen=True):
    """A file of the backup: its key (in the channel's store, or relative to its working area)."""

    key: str
    sha256: str
    size: int
    #: The source file's mtime: restored on local storage, so change detection (size, mtime)
    #: sees restored artifacts as unchanged. None for objects of a bucket.
    mtime_ns: int | None = None


class KeptObject(msgspec.Struct, frozen=True):
    """An artifact left in the channel's storage (a bucket, or local with --no-artifacts):
    restore checks that it is there with this size."""

    key: str
    size: int
    #: What the catalog says its sha256 is (None when the catalog does not know the object:
    #: an artifact of a snapshot that left the channel).
    sha256: str | None


class TableEntry(msgspec.Struct, frozen=True):
    name: str
    #: Relative to the backup folder.
    path: str
    rows: int
    #: The order of the values in each row.
    columns: list[str]
    sha256: str
    size: int


class ChannelEntry(msgspec.Struct, frozen=True):
    id: int
    name: str
    #: The source's working area of the channel (absolute): stored paths under it (patch
    #: sets, a mirror's patch source) are moved to the target's on restore.
    work_dir: str
    store: list[FileEntry]
    work: list[FileEntry]
    kept: list[KeptObject]
    #: Subdirs whose published files changed after the catalog snapshot (left out of the
    #: backup): restore marks them dirty and republishes them from the restored catalog.
    republish_subdirs: list[str]
    #: Likewise for the channel-level files (channeldata.json, index.html).
    republish_channel_files: bool
    #: Snapshots listed by the catalog whose files were deleted meanwhile: not restored.
    dropped_snapshots: list[str]


class Manifest(msgspec.Struct, frozen=True):
    format: int
    stockyard_version: str
    schema_version: int
    #: ISO 8601, UTC: when the catalog snapshot was taken.
    created_at: str
    created_at_ms: int
    #: "sqlite" or "postgresql": the engine the rows were read from.
    dialect: str
    #: Where the channels' files were: "local" (a directory) or "bucket".
    storage: Literal["local", "bucket"]
    storage_url: str | None
    #: Whether local artifacts were copied into the backup (False: bucket, or --no-artifacts).
    artifacts_included: bool
    tables: list[TableEntry]
    channels: list[ChannelEntry]
    warnings: list[str]

    def files(self) -> list[tuple[str, str, int]]:
        """(path in the backup, sha256, size) of every file the backup holds."""
        out = [(t.path, t.sha256, t.size) for t in self.tables]
        for channel in self.channels:
            out += [(store_path(channel.id, f.key), f.sha256, f.size) for f in channel.store]
            out += [(work_path(channel.id, f.key), f.sha256, f.size) for f in channel.work]
        return out

    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)


def store_path(channel_id: int, key: str) -> str:
    return f"{CHANNELS_DIR}/{channel_id}/store/{key}"


def work_path(channel_id: int, key: str) -> str:
    return f"{CHANNELS_DIR}/{channel_id}/work/{key}"


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Written last and atomically (temp, fsync, rename): its presence means the backup is
    complete."""
    data = msgspec.json.format(msgspec.json.encode(manifest), indent=1)
    temp = directory / f".{MANIFEST}.tmp"
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, directory / MANIFEST)


def read_manifest(directory: Path) -> Manifest:
    """The manifest of the backup in `directory`, with every name in it checked (paths from
    outside never leave the backup or the target's stores)."""
    path = directory / MANIFEST
    if not directory.is_dir():
        raise BackupInvalid(f"{directory} is not a directory", hint="Give the backup's folder.")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BackupInvalid(
            f"{directory} has no {MANIFEST}: not a backup, or one that did not finish"
        ) from None
    try:
        manifest = msgspec.json.decode(data, type=Manifest)
    except msgspec.DecodeError as exc:
        raise BackupInvalid(f"{path} is damaged or not a Stockyard manifest: {exc}") from None
    if manifest.format > FORMAT:
        raise BackupInvalid(
            f"the backup has format {manifest.format}; this Stockyard reads up to {FORMAT}",
            hint="Restore it with the Stockyard version that made it, or a newer one.",
        )
    _check_names(manifest)
    return manifest


def _check_names(manifest: Manifest) -> None:
    try:
        for table in manifest.tables:
            check_key(table.path)
        seen: set[int] = set()
        for channel in manifest.channels:
            check_channel_name(channel.name)
            if channel.id in seen:
                raise BackupInvalid(f"channel id {channel.id} is listed twice in the manifest")
            seen.add(channel.id)
            for key in [f.key for f in channel.store]:
                check_key(key)
            for key in [f.key for f in channel.work]:
                if not check_relative(key).startswith(WORK_PREFIX):
                    raise BackupInvalid(
                        f"working-area file {key[:80]!r} is not under {WORK_PREFIX}"
                    )
            for kept in channel.kept:
                check_key(kept.key)
    except BackupInvalid:
        raise
    except StockyardError as exc:
        raise BackupInvalid(f"the manifest names an unsafe path: {exc.message}") from None


def check_relative(path: str) -> str:
    """A relative path of plain segments (working-area files may have any name, unlike store
    keys, but never leave their folder)."""
    segments = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\0" in path
        or any(segment in {"", ".", ".."} for segment in segments)
    ):
        raise BackupInvalid(f"the manifest names an unsafe path {path[:80]!r}")
    return path


def sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


#: Problems listed in the error before "and N more".
_SHOWN = 5


def verify_files(directory: Path, manifest: Manifest, progress: Progress) -> None:
    """Every file the manifest lists is in `directory` with its size and sha256; else
    BackupInvalid naming the first problems."""
    files = manifest.files()
    progress.phase("verify backup", sum(size for _, _, size in files))
    problems: list[str] = []
    for relative, digest, size in files:
        path = directory / relative
        try:
            found = path.stat().st_size
        except FileNotFoundError:
            problems.append(f"{relative}: missing")
            continue
        if found != size:
            problems.append(f"{relative}: {found} bytes, the manifest says {size}")
        elif sha256_file(path) != digest:
            problems.append(f"{relative}: sha256 differs from the manifest's")
        progress.advance(size)
    if problems:
        more = f" and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        raise BackupInvalid(
            f"the backup in {directory} does not match its manifest ({len(problems)} "
            f"file(s)): {'; '.join(problems[:_SHOWN])}{more}"
        )
