"""Putting a mirror run into its target through the one commit path every way in takes
(`stockyard.index.commit.ChannelCommit`), under the channel lock:

- each verified download gets its record by admission (`build_record`, as `stockyard index`
  and uploads do) and is staged under `.stockyard/staged/` as a hard link of the download
  (so a crash before the commit loses nothing: the download is deleted only after it);
- artifacts no longer selected go to the trash and are listed in `removed`, as `stockyard
  package remove` does (`stockyard.index.manage`); upstream's `removed` names of mirrored
  packages are listed too;
- by default the channel's patch source becomes the mirror's `patch_instructions.json`
  (`stockyard.mirror.patching`), so the published records are upstream's patched ones;
  `--unpatched` drops it again and leaves the target's own patch source alone.

One `ChangeSet`, one catalog transaction: an interrupted run publishes nothing partial, and
the next commit (or `stockyard index`) repairs what a crash after the transaction left.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from stockyard.catalog import ArtifactRow, FileState, Move, SubdirChanges
from stockyard.index.commit import STAGING, TRASH, ChangeSet, ChannelCommit
from stockyard.index.ingest import Clock, artifact_row, build_record, icon_entry, subdir_mismatch
from stockyard.mirror.download import Verified
from stockyard.mirror.patching import faithful_instructions
from stockyard.mirror.plan import MirrorPlan
from stockyard.mirror.state import write_atomic
from stockyard.mirror.target import MirrorTarget
from stockyard.types.encoding import encode_json
from stockyard.types.errors import InvalidArtifact
from stockyard.types.policy import ChannelPolicy


@dataclass(slots=True)
class PublishOutcome:
    added: int = 0
    removed: int = 0
    #: (subdir/filename, reason) of downloads admission refused (not published).
    refused: list[tuple[str, str]] = field(default_factory=list)
    #: Records whose published form comes from upstream's patches.
    patched_records: int = 0
    #: Records the patch instructions cannot reproduce exactly (see `patching`).
    unfaithful: list[str] = field(default_factory=list)
    subdirs_published: list[str] = field(default_factory=list)
    files_written: int = 0


@dataclass(slots=True)
class MirrorPublish:
    target: MirrorTarget
    plan: MirrorPlan
    verified: list[Verified]
    #: subdir -> filename -> upstream's record, for every selected artifact.
    upstream: dict[str, dict[str, dict[str, Any]]]
    patched: bool
    clock: Clock
    lock_timeout: float
    outcome: PublishOutcome = field(default_factory=PublishOutcome)
    _new_records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def run(self) -> PublishOutcome:
        handle = self.target.handle
        with handle.workspace.lock(self.lock_timeout):
            changes = ChangeSet()
            now = self.clock()
            for subdir in sorted(self.upstream):
                changes.subdirs.append(self._subdir_changes(subdir, now, changes))
            policy, recheck = self._patch_policy()
            commit = ChannelCommit.open(
                self.target.catalog, handle.store, handle.channel, handle.workspace, policy
            )
            result = commit.commit(changes, recheck=recheck)
        self.outcome.subdirs_published = result.subdirs_published
        self.outcome.files_written = result.files_written
        for item in self.verified:  # published (or refused for good): the download goes
            item.path.unlink(missing_ok=True)
        return self.outcome

    def _subdir_changes(self, subdir: str, now: int, changes: ChangeSet) -> SubdirChanges:
        catalog, channel = self.target.catalog, self.target.handle.channel
        known = catalog.file_states(channel.id, subdir)
        change = SubdirChanges(subdir)
        for item in (v for v in self.verified if v.wanted.subdir == subdir):
            row = self._admit(item, known, now)
            if row is None:
                continue
            # The commit records the mtime the move reports (ChannelCommit.finish_moves).
            staged = self._stage(item)
            change.upserts.append(row)
            changes.moves.append(Move(staged, f"{subdir}/{item.wanted.filename}"))
            changes.icons.update(icon_entry(item.metadata))
            self._new_records.setdefault(subdir, {})[row.filename] = msgspec.json.decode(row.record)
        for filename in self.plan.removed.get(subdir, []):
            trash = f"{TRASH}/{subdir}/{filename}.{secrets.token_hex(8)}"
            changes.moves.append(Move(f"{subdir}/{filename}", trash))
            change.removed.append(filename)
        self.outcome.added += len(change.upserts)
        self.outcome.removed += len(change.removed)
        change.removed.extend(self.plan.removed_names.get(subdir, []))
        return change

    def _admit(self, item: Verified, known: dict[str, FileState], now: int) -> ArtifactRow | None:
        """The artifact's row by admission, as `stockyard index` builds it (a known filename
        with the same bytes keeps its CEP 47 stamp), or None when refused."""
        meta, subdir = item.metadata, item.wanted.subdir
        previous = known.get(meta.filename)
        same = previous is not None and previous.sha256 == meta.sha256
        stamp = previous.indexed_timestamp if previous is not None and same else now
        problem = subdir_mismatch(meta, subdir)
        try:
            if problem:
                raise InvalidArtifact(meta.filename, problem)
            admitted = build_record(meta, subdir, stamp, now)
        except InvalidArtifact as exc:
            self.outcome.refused.append((item.wanted.key, exc.reason))
            return None
        return artifact_row(meta, subdir, 0, admitted)

    def _stage(self, item: Verified) -> str:
        """A hard link of the download under the staging key (a copy across file systems)."""
        subdir, filename = item.wanted.subdir, item.wanted.filename
        staged = f"{STAGING}/{subdir}/{filename}.{secrets.token_hex(8)}"
        link = item.path.with_name(f"{item.path.name}.staging")
        link.unlink(missing_ok=True)
        try:
            os.link(item.path, link)
        except OSError:
            shutil.copy2(item.path, link)
        self.target.handle.store.put_file(staged, link)
        return staged

    def _patch_policy(self) -> tuple[ChannelPolicy, list[str]]:
        """The channel policy to commit with, and the subdirs whose instructions changed."""
        catalog, channel = self.target.catalog, self.target.handle.channel
        stored = catalog.channel_policy(channel.id)
        source = str(self.target.mirror_dir / "patch_instructions.json")
        recheck: list[str] = []
        if self.patched:
            if self._write_instructions(Path(source)):
                recheck = sorted(self.upstream)
            policy = msgspec.structs.replace(stored, patch_source=source)
        elif stored.patch_source == source:
            policy = msgspec.structs.replace(stored, patch_source=None)
        else:
            policy = stored
        if policy != stored:
            catalog.set_channel_policy(channel.id, policy)
            recheck = sorted(self.upstream)
        return policy, recheck

    def _write_instructions(self, path: Path) -> bool:
        """Write the instructions of every mirrored subdir (other subdirs' entries stay);
        whether the file changed."""
        existing: dict[str, Any] = {}
        if path.is_file():
            existing = msgspec.json.decode(path.read_bytes())
        combined = dict(existing)
        for subdir, theirs in sorted(self.upstream.items()):
            ours = self._target_records(subdir, theirs)
            instructions, unfaithful = faithful_instructions(ours, theirs)
            combined[subdir] = instructions
            self.outcome.patched_records += len(instructions["packages"]) + len(
                instructions["packages.conda"]
            )
            self.outcome.unfaithful.extend(f"{subdir}/{f}" for f in unfaithful)
        encoded = encode_json(combined)
        if path.is_file() and path.read_bytes() == encoded:
            return False
        write_atomic(path, encoded)
        return True

    def _target_records(
        self, subdir: str, theirs: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """The target's own (unpatched) records of the selected artifacts."""
        records = dict(self._new_records.get(subdir, {}))
        missing = [f for f in theirs if f not in records]
        catalog, channel = self.target.catalog, self.target.handle.channel
        for filename, raw in catalog.records_for_filenames(channel.id, subdir, missing):
            records[filename] = msgspec.json.decode(raw)
        return records
