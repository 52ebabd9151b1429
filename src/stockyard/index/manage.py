"""What operators do every day to a channel's packages, each through the one commit path:
remove (the file goes, the filename is listed in repodata `removed`), yank and restore (the
file stays; the record is revoked as conda-index's `revoke` does: listed, never chosen by a
solver), and copy or move to another channel (the same bytes and `indexed_timestamp`, no
re-upload)."""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stockyard.catalog import ArtifactRow, Catalog, Channel, Move, SubdirChanges
from stockyard.index.commit import STAGING, TRASH, ChangeSet, ChannelCommit
from stockyard.index.lock import DEFAULT_LOCK_TIMEOUT
from stockyard.index.workspace import ChannelWorkspace
from stockyard.storage import Store
from stockyard.types.errors import Conflict, InvalidIdentifier, NotFound
from stockyard.types.identifiers import check_subdir, parse_artifact_filename
from stockyard.types.repodata import ATTESTATIONS_SUFFIX


@dataclass(frozen=True, slots=True)
class ChannelHandle:
    """A channel with where its bytes live and where its writer works."""

    channel: Channel
    store: Store
    workspace: ChannelWorkspace


@dataclass(frozen=True, slots=True)
class PackageChange:
    """What an operation did, for the CLI and the API."""

    channel: str
    subdir: str
    filename: str
    action: Literal["removed", "yanked", "restored", "copied", "moved"]


def _require(catalog: Catalog, handle: ChannelHandle, subdir: str, filename: str) -> ArtifactRow:
    """The stored artifact. A name that is not even valid cannot be stored: also NotFound (the
    catalog holds only checked names, so nothing unchecked ever reaches a storage key)."""
    try:
        check_subdir(subdir)
        parse_artifact_filename(filename)
    except InvalidIdentifier:
        row = None
    else:
        row = catalog.artifact(handle.channel.id, subdir, filename)
    if row is None:
        raise NotFound(
            f"{subdir}/{filename} is not in channel {handle.channel.name}",
            hint="List the channel's packages with GET /api/channels/<channel>/packages.",
        )
    return row


def remove_package(
    catalog: Catalog,
    handle: ChannelHandle,
    subdir: str,
    filename: str,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> PackageChange:
    """Remove an artifact: its record leaves the channel and is listed in `removed`."""
    with handle.workspace.lock(lock_timeout):
        _require(catalog, handle, subdir, filename)
        _commit(catalog, handle, _removal(handle.store, subdir, filename))
    return PackageChange(handle.channel.name, subdir, filename, "removed")


def set_yanked(
    catalog: Catalog,
    handle: ChannelHandle,
    subdir: str,
    filename: str,
    yanked: bool,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> PackageChange:
    """Yank (revoke) an artifact, or restore it; reversible, the file stays."""
    with handle.workspace.lock(lock_timeout):
        _require(catalog, handle, subdir, filename)
        changes = ChangeSet(subdirs=[SubdirChanges(subdir, yanks={filename: yanked})])
        _commit(catalog, handle, changes)
    return PackageChange(handle.channel.name, subdir, filename, "yanked" if yanked else "restored")


def copy_package(
    catalog: Catalog,
    source: ChannelHandle,
    target: ChannelHandle,
    subdir: str,
    filename: str,
    *,
    move: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> PackageChange:
    """Copy (or move) an artifact to another channel: same bytes, same `indexed_timestamp`."""
    if source.channel.id == target.channel.id:
        raise Conflict("source and target are the same channel")
    # Both locks, always in the same order, so two opposite copies cannot deadlock.
    first, second = sorted((source, target), key=lambda h: h.channel.name)
    with first.workspace.lock(lock_timeout), second.workspace.lock(lock_timeout):
        row = _require(catalog, source, subdir, filename)
        if catalog.artifact(target.channel.id, subdir, filename) is not None:
            raise Conflict(
                f"{subdir}/{filename} already exists in {target.channel.name}",
                hint="Remove it there first, or copy another build.",
            )
        staged = _stage_copy(source, target, f"{subdir}/{filename}")
        # The commit records the mtime the move reports (ChannelCommit.finish_moves).
        moves = [Move(staged, f"{subdir}/{filename}")]
        sidecar = f"{subdir}/{filename}{ATTESTATIONS_SUFFIX}"
        if source.store.stat(sidecar) is not None:  # its attestations travel with it
            moves.append(Move(_stage_copy(source, target, sidecar), sidecar))
        changes = ChangeSet(subdirs=[SubdirChanges(subdir, upserts=[row])], moves=moves)
        _commit(catalog, target, changes)
        if move:
            _commit(catalog, source, _removal(source.store, subdir, filename))
    return PackageChange(target.channel.name, subdir, filename, "moved" if move else "copied")


def _removal(store: Store, subdir: str, filename: str) -> ChangeSet:
    """The record leaves (listed in `removed`); the file (and its attestations) go to the trash
    with the commit."""
    token = secrets.token_hex(8)
    moves = [Move(f"{subdir}/{filename}", f"{TRASH}/{subdir}/{filename}.{token}")]
    sidecar = f"{subdir}/{filename}{ATTESTATIONS_SUFFIX}"
    if store.stat(sidecar) is not None:
        moves.append(Move(sidecar, f"{TRASH}/{subdir}/{filename}{ATTESTATIONS_SUFFIX}.{token}"))
    return ChangeSet(subdirs=[SubdirChanges(subdir, removed=[filename])], moves=moves)


def _stage_copy(source: ChannelHandle, target: ChannelHandle, key: str) -> str:
    """Stream the artifact into the target's staging area (any size, any store); a hard link
    when both are local directories on one filesystem (labels copy without using space)."""
    staged = f"{STAGING}/{key}.{secrets.token_hex(8)}"
    if _link(source.store.local_path(key), target.store.local_path(staged)):
        return staged
    scratch = target.workspace.scratch
    scratch.mkdir(parents=True, exist_ok=True)
    temp = scratch / f"copy.{secrets.token_hex(8)}"
    try:
        with source.store.open(key) as reader, open(temp, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
        target.store.put_file(staged, temp)
    finally:
        temp.unlink(missing_ok=True)
    return staged


def _link(source: Path | None, target: Path | None) -> bool:
    if source is None or target is None:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or links not supported: copy instead
        return False
    return True


def _commit(catalog: Catalog, handle: ChannelHandle, changes: ChangeSet) -> None:
    commit = ChannelCommit.open(catalog, handle.store, handle.channel, handle.workspace)
    commit.commit_or_report(changes)
