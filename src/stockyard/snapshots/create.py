"""Creating, deleting and pruning snapshots.

A snapshot is the folder `snapshots/<id>/` of the channel's store holding, per published
subdir, the channel's published files as they are at that moment (repodata.json and its
compressed forms, repodata_from_packages.json, current_repodata.json, run_exports.json, the
shard index and every shard it names, patch_instructions.json) **and every artifact they list**
(with its `.v0.sigs` attestations), plus channeldata.json. Every object is copied with
`Store.copy`, which costs no bytes where the store allows: a hard link in a local directory
(published files are only ever replaced by rename, never rewritten in place, so a link keeps
the old bytes), a server-side copy in a bucket (no byte passes through this process). An
artifact removed from the channel later stays downloadable from every snapshot that lists it.
Clients use the snapshot URL as a channel; its files are exactly what the live channel served
(same `base_url`, same records, same `removed`).

This deliberately departs from "base_url pointing at the live channel": self-contained folders
need no retention bookkeeping for removed artifacts, and are deleted as one tree.

**A snapshot appears whole.** Everything happens under the channel's lock, so no publish is
half-seen, and the snapshot is listed (API, CLI, the URL returned) only once its catalog row is
added, after the last copy.
- In a local directory it is built under the hidden `snapshots/.new-<id>/` (never served) and
  renamed into place in one step.
- In a bucket a prefix cannot be renamed (that would copy every object again), so objects are
  copied straight to `snapshots/<id>/`: per subdir the artifacts and shards first, then the
  shard index and patch instructions, then the repodata files clients read first;
  channeldata.json last. Until the row exists nobody knows the id (it ends in random digits).
  A process that dies mid-way leaves an unlisted prefix: the next snapshot of the channel
  (under the same lock) deletes every snapshot folder the catalog does not list.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import msgspec
import zstandard

from stockyard.catalog import Catalog, Channel, SnapshotRow
from stockyard.index.workspace import ChannelWorkspace
from stockyard.storage import LocalStore, Store
from stockyard.types.errors import InvalidMetadata, NotFound
from stockyard.types.identifiers import artifact_format
from stockyard.types.repodata import (
    ATTESTATIONS_SUFFIX,
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
#: `20260101T120000Z-a1b2c3`: what `create_snapshot` names them (and the leftover sweep deletes).
SNAPSHOT_ID: Final = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")
#: Copied after the artifacts and shards, in this order; repodata.json (what clients read
#: first) last. `.gz` is copied when a publisher writes it.
_METADATA: Final = (SHARD_INDEX, PATCH_INSTRUCTIONS_JSON)
_REPODATA: Final = tuple(
    name + suffix
    for name in (RUN_EXPORTS_JSON, CURRENT_REPODATA, REPODATA_FROM_PACKAGES, REPODATA_JSON)
    for suffix in (".bz2", ".gz", ".zst", "")
)
#: Parallel server-side copies into a bucket (each is one request; the client pools 32).
COPY_THREADS: Final = 16

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def channel_store(workspace: ChannelWorkspace, store: Store | None) -> Store:
    """`store`, or the channel directory of `workspace` (the embedded layout, where the two
    are one folder)."""
    return store if store is not None else LocalStore(workspace.directory)


def snapshot_store(store: Store, snapshot_id: str) -> Store:
    """The files of one snapshot, as a store of their own (a view for `diff_views`)."""
    return store.child(f"{SNAPSHOTS_DIR}/{snapshot_id}")


def create_snapshot(
    catalog: Catalog,
    channel: Channel,
    workspace: ChannelWorkspace,
    *,
    store: Store | None = None,
    by: str | None = None,
    description: str | None = None,
    lock_timeout: float = 60.0,
    clock: Clock = _now,
) -> SnapshotRow:
    """Snapshot what `channel` serves now from `store` (its channel directory when None).
    NotFound when the channel has published nothing (a proxy channel, a wrong store)."""
    files = channel_store(workspace, store)
    with workspace.lock(lock_timeout):
        remove_leftovers(catalog, channel, files)
        stamp = clock()
        snapshot_id = f"{stamp:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        plan = _plan(files)
        if not plan.subdirs:
            raise NotFound(
                f"channel {channel.name} has no published repodata.json (no "
                "<subdir>/repodata.json in its storage)",
                hint="Publish it first (`stockyard index`, or any upload); proxy channels "
                "have no snapshots.",
            )
        _build(files, plan, snapshot_id)
        active = catalog.active_patch_set(channel.id)
        row = SnapshotRow(
            id=snapshot_id,
            created_at=int(stamp.timestamp() * 1000),
            created_by=by,
            patch_set_version=active.version if active else None,
            subdirs=plan.subdirs,
            record_count=plan.records,
            description=description,
        )
        catalog.add_snapshot(channel.id, row)
    return row


@dataclass(slots=True)
class _Plan:
    """What a snapshot copies: keys relative to the channel, in the order they are copied."""

    subdirs: list[str] = field(default_factory=list)
    records: int = 0
    #: Artifacts, their attestations and shards: many objects, copied in parallel.
    bulk: list[str] = field(default_factory=list)
    #: The few published files, copied one by one after `bulk`, the repodata files last.
    last: list[str] = field(default_factory=list)


def _plan(store: Store) -> _Plan:
    plan = _Plan()
    for subdir in store.list_dirs():
        if subdir == SNAPSHOTS_DIR or store.stat(f"{subdir}/{REPODATA_JSON}") is None:
            continue
        plan.subdirs.append(subdir)
        _plan_subdir(store, subdir, plan)
    if store.stat(CHANNELDATA_JSON) is not None:
        plan.last.append(CHANNELDATA_JSON)
    return plan


def _plan_subdir(store: Store, subdir: str, plan: _Plan) -> None:
    # A listing, not a decode of a repodata.json that may be hundreds of MB: every artifact
    # file of the subdir (those patches removed from the records too).
    names = store.file_sizes(subdir)
    artifacts = sorted(name for name in names if artifact_format(name) is not None)
    plan.bulk += [f"{subdir}/{name}" for name in artifacts]
    plan.bulk += [
        f"{subdir}/{name}{ATTESTATIONS_SUFFIX}"
        for name in artifacts
        if name + ATTESTATIONS_SUFFIX in names
    ]
    if SHARD_INDEX in names:
        stored = store.file_sizes(f"{subdir}/{SHARDS_DIR}")
        digests = _shard_digests(store.get(f"{subdir}/{SHARD_INDEX}"))
        shards = [f"{digest}.msgpack.zst" for digest in digests]
        plan.bulk += [f"{subdir}/{SHARDS_DIR}/{name}" for name in shards if name in stored]
    plan.last += [f"{subdir}/{name}" for name in (*_METADATA, *_REPODATA) if name in names]
    plan.records += _record_count(
        store.get(f"{subdir}/{REPODATA_JSON}"), f"{subdir}/{REPODATA_JSON}"
    )


def _build(store: Store, plan: _Plan, snapshot_id: str) -> None:
    """Copy the plan under `snapshots/<id>/`: through a hidden folder renamed into place in a
    local directory; straight there, metadata last, in a bucket. A failure removes the copy."""
    folder = store.local_path(SNAPSHOTS_DIR)
    building = f".new-{snapshot_id}" if folder is not None else snapshot_id
    target = f"{SNAPSHOTS_DIR}/{building}"
    try:
        _copy_all(store, plan.bulk, target, parallel=folder is None)
        _copy_all(store, plan.last, target, parallel=False)
        if folder is not None:
            (folder / building).mkdir(parents=True, exist_ok=True)
            os.rename(folder / building, folder / snapshot_id)
    except BaseException:
        _remove_folder(store, building)
        raise


def _copy_all(store: Store, keys: list[str], target: str, *, parallel: bool) -> None:
    def copy(key: str) -> None:
        store.copy(key, f"{target}/{key}")

    if not parallel or len(keys) < 2:
        for key in keys:
            copy(key)
        return
    with ThreadPoolExecutor(max_workers=min(COPY_THREADS, len(keys))) as pool:
        list(pool.map(copy, keys))  # re-raises the first failure


def _record_count(repodata: bytes, where: str) -> int:
    """How many records `repodata` lists, from its shape alone (record values not decoded)."""
    try:
        document = _sections_decoder.decode(repodata)
    except msgspec.DecodeError as exc:
        raise InvalidMetadata(
            f"{where}: not valid JSON ({exc})", hint="Republish the channel first."
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


def _shard_digests(index: bytes) -> list[str]:
    data = msgspec.msgpack.decode(zstandard.decompress(index))
    return [bytes(digest).hex() for digest in (data.get("shards") or {}).values()]


def _remove_folder(store: Store, name: str) -> None:
    """Delete `snapshots/<name>/`: in a local directory renamed away first (it disappears in
    one step), in a bucket object by object."""
    folder = store.local_path(SNAPSHOTS_DIR)
    if folder is None:
        store.child(f"{SNAPSHOTS_DIR}/{name}").delete_tree()
        return
    doomed = folder / f".deleted-{name}-{secrets.token_hex(4)}"
    try:
        os.rename(folder / name, doomed)
    except FileNotFoundError:
        return
    shutil.rmtree(doomed, ignore_errors=True)


def remove_leftovers(catalog: Catalog, channel: Channel, store: Store) -> list[str]:
    """Delete the snapshot folders the catalog does not list (a snapshot whose creator died
    before recording it, or whose deletion stopped after its row went). Call it under the
    channel's lock, so no snapshot is being built. Returns the names deleted."""
    listed = {row.id for row in catalog.snapshots(channel.id)}
    doomed = [
        name
        for name in store.list_dirs(SNAPSHOTS_DIR)
        if SNAPSHOT_ID.fullmatch(name) and name not in listed
    ]
    folder = store.local_path(SNAPSHOTS_DIR)
    if folder is not None and folder.is_dir():  # hidden build and delete folders
        doomed += [p.name for p in folder.iterdir() if p.name.startswith((".new-", ".deleted-"))]
    for name in doomed:
        _remove_folder(store, name)
    return doomed


def delete_snapshot(
    catalog: Catalog,
    channel: Channel,
    workspace: ChannelWorkspace,
    snapshot_id: str,
    *,
    store: Store | None = None,
) -> None:
    """Delete a snapshot: its row first (it stops being listed), then its repodata files (so
    clients stop finding it), then the rest of its folder."""
    files = channel_store(workspace, store)
    row = catalog.snapshot(channel.id, snapshot_id)  # NotFound for an unknown id
    catalog.delete_snapshot(channel.id, snapshot_id)
    if files.local_path(SNAPSHOTS_DIR) is None:  # a bucket: object by object
        view = snapshot_store(files, snapshot_id)
        for subdir in row.subdirs:
            present = view.file_sizes(subdir)
            for name in reversed(_REPODATA):
                if name in present:
                    view.delete(f"{subdir}/{name}")
    _remove_folder(files, snapshot_id)
    catalog.notify_published(channel.name)  # replicas drop what they cached of its files


def prune(
    catalog: Catalog,
    channel: Channel,
    workspace: ChannelWorkspace,
    keep: int,
    *,
    store: Store | None = None,
) -> list[str]:
    """Delete all but the newest `keep` snapshots; returns the deleted ids."""
    doomed = [row.id for row in catalog.snapshots(channel.id)[max(keep, 0) :]]
    for snapshot_id in doomed:
        delete_snapshot(catalog, channel, workspace, snapshot_id, store=store)
    return doomed
