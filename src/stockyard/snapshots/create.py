"""Creating, deleting and pruning snapshots.

A snapshot is a folder `<channel>/snapshots/<id>/` holding, per published subdir, the channel's
published files as they are at that moment (repodata.json and its compressed forms,
repodata_from_packages.json, current_repodata.json, run_exports.json, the shard index and every
shard it names, patch_instructions.json) **and every artifact they list**, plus
channeldata.json. Everything is hard-linked where the store allows (published files are only
ever replaced by rename, never rewritten in place, so a link keeps the old bytes): a snapshot
costs inodes, not bytes, and an artifact removed from the channel later stays downloadable from
every snapshot that lists it. Clients use the snapshot URL as a channel; its files are exactly
what the live channel served (same `base_url`, same records, same `removed`).

This deliberately departs from "base_url pointing at the live channel": self-contained folders
need no retention bookkeeping for removed artifacts, and are deleted with one rmtree.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import msgspec
import zstandard

from stockyard.catalog import Catalog, Channel, SnapshotRow
from stockyard.index.workspace import ChannelWorkspace
from stockyard.types.errors import InvalidMetadata
from stockyard.types.identifiers import artifact_format
from stockyard.types.repodata import (
    CHANNELDATA_JSON,
    CURRENT_REPODATA,
    PATCH_INSTRUCTIONS_JSON,
    REPODATA_FROM_PACKAGES,
    REPODATA_JSON,
    RUN_EXPORTS_JSON,
    SHARD_INDEX,
    SHARDS_DIR,
)

#: Where snapshots live in a channel (and are served from).
SNAPSHOTS_DIR: Final = "snapshots"
_REPODATA_FILES: Final = (REPODATA_JSON, REPODATA_FROM_PACKAGES, CURRENT_REPODATA, RUN_EXPORTS_JSON)
_PUBLISHED: Final = (
    *(name + suffix for name in _REPODATA_FILES for suffix in ("", ".zst", ".bz2")),
    SHARD_INDEX,
    PATCH_INSTRUCTIONS_JSON,
)

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def create_snapshot(
    catalog: Catalog,
    channel: Channel,
    workspace: ChannelWorkspace,
    *,
    by: str | None = None,
    description: str | None = None,
    lock_timeout: float = 60.0,
    clock: Clock = _now,
) -> SnapshotRow:
    """Snapshot what `channel` serves now (under its lock, so no publish is half-seen)."""
    root = workspace.directory
    with workspace.lock(lock_timeout):
        stamp = clock()
        snapshot_id = f"{stamp:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        scratch = root / SNAPSHOTS_DIR / f".new-{snapshot_id}"
        try:
            subdirs, records = _copy_channel(root, scratch)
            scratch.rename(root / SNAPSHOTS_DIR / snapshot_id)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        active = catalog.active_patch_set(channel.id)
        row = SnapshotRow(
            id=snapshot_id,
            created_at=int(stamp.timestamp() * 1000),
            created_by=by,
            patch_set_version=active.version if active else None,
            subdirs=subdirs,
            record_count=records,
            description=description,
        )
        catalog.add_snapshot(channel.id, row)
    return row


def _copy_channel(root: Path, target: Path) -> tuple[list[str], int]:
    subdirs: list[str] = []
    records = 0
    for subdir_dir in sorted(p for p in root.iterdir() if (p / REPODATA_JSON).is_file()):
        subdirs.append(subdir_dir.name)
        records += _copy_subdir(subdir_dir, target / subdir_dir.name)
    if (root / CHANNELDATA_JSON).is_file():
        _link(root / CHANNELDATA_JSON, target / CHANNELDATA_JSON)
    target.mkdir(parents=True, exist_ok=True)
    return subdirs, records


def _copy_subdir(source: Path, target: Path) -> int:
    for name in _PUBLISHED:
        if (source / name).is_file():
            _link(source / name, target / name)
    for digest in _shard_digests(target / SHARD_INDEX):
        name = f"{SHARDS_DIR}/{digest}.msgpack.zst"
        if (source / name).is_file():
            _link(source / name, target / name)
    # Every artifact file of the subdir (those patches removed from the records too): a
    # directory listing, not a decode of a repodata.json that may be hundreds of MB.
    for entry in os.scandir(source):
        if artifact_format(entry.name) is not None and entry.is_file():
            _link(Path(entry.path), target / entry.name)
    return _record_count(target / REPODATA_JSON)


def _record_count(repodata: Path) -> int:
    """How many records `repodata` lists, from its shape alone (record values not decoded)."""
    try:
        document = _sections_decoder.decode(repodata.read_bytes())
    except msgspec.DecodeError as exc:
        raise InvalidMetadata(
            f"{repodata}: not valid JSON ({exc})", hint="Republish the channel first."
        ) from None
    v3 = sum(len(section) for section in (document.v3 or {}).values())
    return len(document.packages or {}) + len(document.packages_conda or {}) + v3


class _Sections(msgspec.Struct):
    """The record maps of repodata.json; each record kept as raw bytes, not decoded."""

    packages: dict[str, msgspec.Raw] | None = None
    packages_conda: dict[str, msgspec.Raw] | None = msgspec.field(
        default=None, name="packages.conda"
    )
    v3: dict[str, dict[str, msgspec.Raw]] | None = None


_sections_decoder = msgspec.json.Decoder(_Sections)


def _shard_digests(index: Path) -> list[str]:
    if not index.is_file():
        return []
    data = msgspec.msgpack.decode(zstandard.decompress(index.read_bytes()))
    return [bytes(digest).hex() for digest in (data.get("shards") or {}).values()]


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def delete_snapshot(
    catalog: Catalog, channel: Channel, workspace: ChannelWorkspace, snapshot_id: str
) -> None:
    """Delete a snapshot: its row first (it stops being listed), then its folder."""
    catalog.snapshot(channel.id, snapshot_id)  # NotFound for an unknown id
    catalog.delete_snapshot(channel.id, snapshot_id)
    folder = workspace.directory / SNAPSHOTS_DIR / snapshot_id
    doomed = folder.with_name(f".deleted-{snapshot_id}-{secrets.token_hex(4)}")
    if folder.exists():
        folder.rename(doomed)
        shutil.rmtree(doomed, ignore_errors=True)


def prune(catalog: Catalog, channel: Channel, workspace: ChannelWorkspace, keep: int) -> list[str]:
    """Delete all but the newest `keep` snapshots; returns the deleted ids."""
    doomed = [row.id for row in catalog.snapshots(channel.id)[max(keep, 0) :]]
    for snapshot_id in doomed:
        delete_snapshot(catalog, channel, workspace, snapshot_id)
    return doomed
