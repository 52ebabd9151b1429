"""The one commit step: every way into a channel (`stockyard index`, uploads, and later mirrors
and jobs) ends here, so they all store and publish by the same rules.

`ChannelCommit.commit(changes)`, called with the channel lock held:

1. finish what an interrupted commit left (staged files not yet moved into place); sweep staged
   files no commit names and the trash (every commit on a local store; on a bucket the first
   commit of a channel in a process and then every `SWEEP_SECONDS`, see `_sweep_due`);
2. store the changed rows, each changed subdir's dirty flag, the channel files' dirty flag and the
   staged files still to move, in **one** catalog transaction;
3. move staged files into place (only now: a file is never visible before its row exists);
4. compute and validate the patch instructions of every subdir to publish (before any file of the
   channel is written);
5. publish subdirs (whole, or only what changed), refresh channeldata entries by one rule, write
   the channel files and clear their flag; remove scratch files.

A crash anywhere is repaired by the next commit or index run: rows and flags commit together, a
dirty subdir is republished whole, dirty channel files are rewritten from every name, and pending
moves are finished.

On a bucket every request is a network round trip, so independent ones overlap
(`stockyard.storage.parallel`): the moves of a commit, the existence checks of the plan, the
published files (`Publisher`, with its ordering barriers), the read of the CDN ledger.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stockyard.catalog import Catalog, Channel, Move, SubdirChanges, SubdirState
from stockyard.cdn.hooks import after_publish, prefetch_ledger
from stockyard.index.incremental_patches import (
    differ_only_within,
    published_instructions,
    remember_published,
    yaml_instructions,
    yaml_unchanged,
)
from stockyard.index.policy import effective_policy, load_policy_patch_source
from stockyard.index.workspace import ChannelWorkspace
from stockyard.patches.apply import validate_instructions
from stockyard.publish.channel import publish_channel_files, refresh_channeldata_entries
from stockyard.publish.subdir import (
    EMPTY_INSTRUCTIONS,
    SubdirChange,
    needs_full_publish,
    options_fingerprint,
    patch_fingerprint,
    publish_subdir,
    unpatched_repodata,
)
from stockyard.publish.writer import Publisher
from stockyard.storage import ObjectInfo, Store
from stockyard.storage.parallel import is_remote, run_all, stat_all
from stockyard.trust import is_signed_channel
from stockyard.trust.bucket import new_trust_stamp, pull_trust, push_trust
from stockyard.types.errors import InvalidMetadata, StockyardError
from stockyard.types.labels import is_label_channel
from stockyard.types.policy import ChannelPolicy
from stockyard.types.repodata import CHANNELDATA_JSON, REPODATA_JSON

if TYPE_CHECKING:
    from stockyard.patches.sources import PatchSource, YamlPatchSource

#: Where uploads are staged in the store until their commit (never scanned or served).
STAGING = ".stockyard/staged"

#: Where removed artifacts are moved by their commit, then deleted (never scanned or served).
TRASH = ".stockyard/trash"

#: Where uploads queued for any replica's commit wait (`stockyard.index.upload_queue`; never
#: scanned or served). Not `STAGING`: replicas add here without holding the lock.
QUEUED = ".stockyard/queued"
#: A queued object that no queue row names and is older than this is an orphan (its replica
#: died between storing and queueing it); done queue rows nobody collected go after it too.
ORPHAN_SECONDS = 3600

#: CEP 26: every channel has noarch/repodata.json, even when it holds no noarch package.
ALWAYS_PUBLISHED = ("noarch",)

#: On a bucket, listing staging and trash costs requests on every commit although they are
#: empty unless a process died mid-commit: a process sweeps them at its first commit of a
#: channel and then at most this often (every replica does; a restarted one at once).
SWEEP_SECONDS = 300.0
#: Store location + channel id -> when this process last swept them (`time.monotonic`).
_last_sweep: dict[tuple[str, int], float] = {}
_last_sweep_guard = threading.Lock()


class PublishPending(StockyardError):
    """The change is stored, but publishing it failed (twice): it is not installable yet."""

    default_hint = (
        "It is published by the next upload to this channel or the next server start; do not "
        "upload it again. Check the server log for the cause."
    )
    http_status = 503


@dataclass(slots=True)
class ChangeSet:
    """What one way in wants committed to a channel."""

    subdirs: list[SubdirChanges] = field(default_factory=list)
    #: Files already written to staging keys in the store, moved into place after the commit.
    moves: list[Move] = field(default_factory=list)
    #: Icons to publish content-addressed (key -> bytes), written before channeldata names them.
    icons: dict[str, bytes] = field(default_factory=dict)
    #: Queued uploads (`stockyard.index.upload_queue`) whose rows this change stores: id ->
    #: outcome, recorded in the same transaction.
    queued: dict[int, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class CommitResult:
    subdirs_published: list[str] = field(default_factory=list)
    files_written: int = 0
    #: Keys of the channel's files whose bytes this commit changed: published files written or
    #: removed, artifacts (and their sidecars) added, replaced or removed. For CDN purges.
    changed_keys: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Plan:
    """Which subdirs to publish, how, and with which instructions (validated)."""

    changes: dict[str, SubdirChange | None] = field(default_factory=dict)
    instructions: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class ChannelCommit:
    """Commits changes to one channel under its lock, by the channel's stored policy."""

    catalog: Catalog
    store: Store
    channel: Channel
    policy: ChannelPolicy
    patch_source: PatchSource | None
    scratch: Path
    #: Set once the catalog transaction of `commit` succeeded: from then on the change is stored
    #: (a failure later leaves a publish owed, never a lost artifact).
    stored: bool = False
    #: Existence of the files the plan and the channel files look at, checked together.
    _present: dict[str, ObjectInfo | None] = field(default_factory=dict)
    #: A signed channel in a bucket: the workspace's mirror of its trust files (pulled at
    #: `open`, `stockyard.trust.bucket`); None otherwise.
    trust_dir: Path | None = None

    @classmethod
    def open(
        cls,
        catalog: Catalog,
        store: Store,
        channel: Channel,
        workspace: ChannelWorkspace,
        policy: ChannelPolicy | None = None,
    ) -> ChannelCommit:
        """A commit by the channel's stored policy (or `policy`), its patch source loaded and
        checked. Call with the channel lock held."""
        policy = policy or effective_policy(catalog, channel)
        # A label's patch package, like its policy, is its channel's (two levels up).
        root_dir = workspace.directory.parents[1] if is_label_channel(channel.name) else None
        patch_source = load_policy_patch_source(policy, root_dir or workspace.directory)
        commit = cls(catalog, store, channel, policy, patch_source, workspace.scratch)
        if is_remote(store):
            commit.trust_dir = _trust_mirror(catalog, store, channel.id, workspace.directory)
        return commit

    def commit(self, changes: ChangeSet, *, recheck: Iterable[str] = ()) -> CommitResult:
        """Store `changes` and publish what they (and any earlier interruption) owe.

        `recheck` names subdirs whose patch instructions and options are compared with their
        last publish even if nothing changed in them (`stockyard index` rechecks every subdir).
        """
        sweep = self._sweep_due()
        moved = self.finish_moves()
        if sweep:
            self.discard_orphans(keep={move.source for move in changes.moves})
        states = self.catalog.subdir_states(self.channel.id)
        files_owed = self.catalog.channel_files_dirty(self.channel.id)
        touched = self._touched(changes.subdirs)
        writes = [c for c in changes.subdirs if c.changes_records or c.touched]
        if writes or changes.moves:  # a run that changed nothing writes nothing
            self.catalog.commit_changes(self.channel.id, writes, changes.moves, changes.queued)
        self.stored = True
        moved += self.finish_moves()
        self._clear_trash(moved, sweep)
        for key, data in changes.icons.items():
            if self.store.stat(key) is None:
                self.store.put(key, data)
        plan = self._plan(touched, states, set(recheck))
        changing = bool(plan.changes or touched or files_owed or changes.moves)
        ledger = prefetch_ledger(self.store) if changing else None  # overlaps the publish
        try:
            result = self._publish(plan, touched, full_names=files_owed)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)
        self.sign()
        result.changed_keys = sorted({*result.changed_keys, *_changed_artifacts(changes)})
        # CDN purge, ledger
        after_publish(self.store, self.channel.name, result.changed_keys, ledger=ledger)
        if result.files_written or changes.moves or writes:
            self.catalog.notify_published(self.channel.name)  # replicas drop cached files
        return result

    def sign(self) -> None:
        """For a channel set up with `stockyard trust init` (a no-op otherwise): the publish
        signed repodata.json inline (`trust.inline`); this publishes a pending key_mgr.json and
        signs any published subdir whose signing mark does not match its files (signed inline
        or unchanged: a few stats each)."""
        if self.trust_dir is not None:  # in a bucket: every publish was signed inline
            self._activate_pending_in_bucket(self.trust_dir)
            return
        channeldata = self.store.local_path(CHANNELDATA_JSON)
        if channeldata is None or not is_signed_channel(channeldata.parent):
            return
        from stockyard.trust.sign import sign_channel  # imports cryptography: only when signing

        sign_channel(channeldata.parent, zst_level=self.policy.publish.zst_level)

    def _activate_pending_in_bucket(self, trust_dir: Path) -> None:
        """A pre-signed key_mgr.json whose time came replaces the served one, in the bucket."""
        from stockyard.trust.rotation import activate_pending  # imports cryptography

        if activate_pending(trust_dir):
            push_trust(self.store, trust_dir)
            self.catalog.set_trust_stamp(self.channel.id, new_trust_stamp())

    def commit_or_report(self, changes: ChangeSet) -> CommitResult:
        """`commit`, for ways in that must tell a client the truth: when publishing fails after
        the change was stored, publish once more; if that fails too, raise PublishPending (the
        change is stored and owed a publish, never half-done). A failure before the change was
        stored leaves nothing stored and is raised as it is."""
        try:
            return self.commit(changes)
        except Exception as first:
            if not self.stored:
                raise
            try:
                return self.commit(ChangeSet())
            except Exception as second:
                raise PublishPending(
                    f"stored, but publishing failed: {type(second).__name__}: {second}"
                ) from first

    def finish_moves(self) -> list[Move]:
        """Move committed, staged files into place (also those a crash left pending); returns
        the moves finished. On a bucket they run concurrently (each is a copy and a delete).
        The moved artifacts' rows get the mtimes their stores reported for the move (what the
        next index run's listing compares with), in the transaction that forgets the moves."""
        moves = self.catalog.pending_moves(self.channel.id)
        mtimes: dict[str, int] = {}
        run_all(self.store, [functools.partial(self._move, move, mtimes) for move in moves])
        if moves:
            self.catalog.forget_moves(self.channel.id, moves, mtimes)
        return moves

    def _move(self, move: Move, mtimes: dict[str, int]) -> None:
        with contextlib.suppress(FileNotFoundError):  # moved before a crash
            mtime_ns = self.store.move(move.source, move.target)
            if mtime_ns is not None:
                mtimes[move.target] = mtime_ns  # one key per move: no lock needed

    def _sweep_due(self) -> bool:
        """Whether this commit sweeps staging and trash: always on a local store (a directory
        listing costs microseconds); on a bucket at this process's first commit of the
        channel, then every `SWEEP_SECONDS`. Orphans of a crash (staged files whose commit
        never happened, trash whose delete never happened) are so removed by the restarted
        process's first commit, by any other replica within `SWEEP_SECONDS`, or by the `gc`
        job; until then they only take space (nothing reads them)."""
        if not is_remote(self.store):
            return True
        key = (self.store.location, self.channel.id)
        now = time.monotonic()
        with _last_sweep_guard:
            last = _last_sweep.get(key)
            if last is not None and now - last < SWEEP_SECONDS:
                return False
            _last_sweep[key] = now
        return True

    def _clear_trash(self, moved: list[Move], sweep: bool) -> None:
        """Delete what the finished moves put in the trash (without listing it), or, when
        sweeping, everything in the trash."""
        if sweep:
            self.empty_trash()
            return
        trashed = [move.target for move in moved if move.target.startswith(f"{TRASH}/")]
        run_all(self.store, [functools.partial(self.store.delete, key) for key in trashed])

    def empty_trash(self) -> None:
        """Delete removed artifacts once their removal is committed and they are moved away."""
        for subdir in self.store.list_dirs(TRASH):
            for info in self.store.list(f"{TRASH}/{subdir}"):
                self.store.delete(info.key)

    def discard_orphans(self, keep: set[str]) -> None:
        """Delete staged files that no commit names (except `keep`, this commit's): a crash
        came before their commit, whose client was never told it succeeded. (Files are staged
        under the channel lock, so no other writer is staging now.)"""
        pending = {move.source for move in self.catalog.pending_moves(self.channel.id)} | keep
        for subdir in self.store.list_dirs(STAGING):
            for info in self.store.list(f"{STAGING}/{subdir}"):
                if info.key not in pending:
                    self.store.delete(info.key)
        self._discard_queue_orphans(pending)

    def _discard_queue_orphans(self, pending: set[str]) -> None:
        """Queued objects no queue row or pending move names, once older than
        `ORPHAN_SECONDS` (a replica stores an object first and queues it a moment later)."""
        old = [
            info.key
            for subdir in self.store.list_dirs(QUEUED)
            for info in self.store.list(f"{QUEUED}/{subdir}")
            if info.mtime_ns < time.time_ns() - ORPHAN_SECONDS * 1_000_000_000
        ]
        if not old:
            return
        named = pending | self.catalog.queued_keys(self.channel.id)
        for key in old:
            if key not in named:
                self.store.delete(key)

    def _touched(self, changes: list[SubdirChanges]) -> dict[str, SubdirChange]:
        """Per changed subdir: the names and filenames the change touches (removed names are
        looked up before the rows go)."""
        touched: dict[str, SubdirChange] = {}
        for change in changes:
            if not change.changes_records:
                continue
            item = touched.setdefault(change.subdir, SubdirChange())
            item.filenames |= {row.filename for row in change.upserts} | set(change.yanks)
            item.removed |= set(change.removed)
            item.names |= {row.name for row in change.upserts}
            looked_up = [*change.removed, *change.yanks]
            if looked_up:
                item.names |= self.catalog.names_for_filenames(
                    self.channel.id, change.subdir, looked_up
                )
        return touched

    def _plan(
        self, touched: dict[str, SubdirChange], before: dict[str, SubdirState], recheck: set[str]
    ) -> _Plan:
        """Decide every subdir's publish; instructions are computed (and a bad patch source
        fails) before any file is written."""
        plan = _Plan()
        options = self.policy.publish
        options_fp = options_fingerprint(options)
        subdirs = sorted(set(touched) | recheck | set(ALWAYS_PUBLISHED) | set(before))
        # One round of existence checks (concurrent on a bucket), also for `_publish`.
        keys = [f"{subdir}/{REPODATA_JSON}" for subdir in subdirs]
        self._present = stat_all(self.store, [*keys, CHANNELDATA_JSON])
        for subdir in subdirs:
            prior = before.get(subdir)  # as the last publish (or a crash) left it
            owed = (
                prior is None
                or prior.dirty
                or prior.options_fingerprint != options_fp
                or self._present[f"{subdir}/{REPODATA_JSON}"] is None
            )
            if not (owed or subdir in touched or subdir in recheck):
                continue
            change = touched.get(subdir)
            if change is None and not owed and self._rules_unchanged(subdir, prior):
                continue  # rechecked: the same rules, records and yanks as last published
            instructions = self._instructions(subdir, change, None if owed else prior)
            full = owed or needs_full_publish(prior, instructions, options)
            if full and not owed and change is not None and prior is not None:
                # Instructions that differ only in the entries of what this commit changed
                # need no full publish: those records are re-patched anyway.
                full = not self._changed_only_within(subdir, prior, instructions, change)
            if not full and change is None:
                continue  # rechecked: published with these instructions and options already
            if prior is None and subdir not in touched:
                self.catalog.ensure_subdir(self.channel.id, subdir)
            plan.changes[subdir] = None if full else change
            plan.instructions[subdir] = instructions
        return plan

    def _yaml_source(self) -> YamlPatchSource | None:
        source = self.patch_source
        if source is None:  # most channels: no need to import the patch engine (PyYAML)
            return None
        from stockyard.patches.sources import YamlPatchSource

        return source if isinstance(source, YamlPatchSource) else None

    def _rules_unchanged(self, subdir: str, prior: SubdirState | None) -> bool:
        source = self._yaml_source()
        return (
            prior is not None
            and source is not None
            and yaml_unchanged(self.store, source, subdir, prior)
        )

    def _changed_only_within(
        self, subdir: str, prior: SubdirState, instructions: dict[str, Any], change: SubdirChange
    ) -> bool:
        if prior.options_fingerprint != options_fingerprint(self.policy.publish):
            return False
        published = published_instructions(self.store, subdir, prior.patch_fingerprint)
        return published is not None and differ_only_within(
            published, instructions, change.affected
        )

    def _instructions(
        self,
        subdir: str,
        change: SubdirChange | None = None,
        published: SubdirState | None = None,
    ) -> dict[str, Any]:
        """The subdir's patch instructions (checked), with the operator's yanks as `revoke`.
        `published`: the subdir's state before this commit, when it owes no publish."""
        instructions = self._source_instructions(subdir, change, published)
        yanked = self.catalog.yanked_filenames(self.channel.id, subdir)
        if yanked:
            instructions = {**EMPTY_INSTRUCTIONS, **instructions}
            instructions["revoke"] = sorted({*instructions["revoke"], *yanked})
        if self._yaml_source() is not None:  # only the source that wrote the sidecar
            remember_published(self.store, subdir, patch_fingerprint(instructions))
        return instructions

    def _source_instructions(
        self,
        subdir: str,
        change: SubdirChange | None = None,
        published: SubdirState | None = None,
    ) -> dict[str, Any]:
        source = self.patch_source
        if source is None:
            return {}
        from stockyard.patches.sources import GeneratorPatchSource, YamlPatchSource

        if isinstance(source, YamlPatchSource):
            # Per record: only the changed records are patched again (O(change)).
            return yaml_instructions(
                self.catalog,
                self.channel,
                self.store,
                source,
                subdir,
                change,
                published=published,
            )
        # Only Python generators look at the repodata; building it is O(records).
        repodata: dict[str, Any] = {}
        if isinstance(source, GeneratorPatchSource):
            repodata = unpatched_repodata(self.catalog, self.channel, subdir)
        try:
            instructions = source.instructions_for(subdir, repodata) or {}
        except StockyardError:
            raise
        except Exception as exc:  # a patch generator is user code
            raise InvalidMetadata(
                f"patch source failed for {subdir}: {type(exc).__name__}: {exc}",
                hint="Fix the patch generator; nothing was published.",
            ) from exc
        # Checked here, before any subdir is published: never a half-patched channel.
        validate_instructions(instructions, origin=f"patch instructions for {subdir} ({source})")
        return instructions

    def _publish(
        self, plan: _Plan, touched: dict[str, SubdirChange], *, full_names: bool
    ) -> CommitResult:
        result = CommitResult()
        nothing_owed = not (plan.changes or touched or full_names)
        if nothing_owed and self._present[CHANNELDATA_JSON] is not None:
            return result
        publisher = Publisher(self.catalog, self.store, self.channel.id, self.trust_dir)
        try:
            names, whole = self._publish_subdirs(publisher, plan, result)
            self._publish_channel_files(publisher, names, full_names=full_names or whole)
        finally:
            publisher.settle()  # no write of this commit lands after the lock is released
        result.files_written = len(publisher.written)
        result.changed_keys = publisher.changed_keys()
        return result

    def _publish_subdirs(
        self, publisher: Publisher, plan: _Plan, result: CommitResult
    ) -> tuple[set[str], bool]:
        """Publish each planned subdir; the names they touched, and whether any was whole."""
        names: set[str] = set()
        whole = False
        for subdir, change in plan.changes.items():
            publish_subdir(
                self.catalog,
                publisher,
                self.channel,
                subdir,
                self.policy.publish,
                change,
                scratch=self.scratch,
                instructions=plan.instructions[subdir],
            )
            result.subdirs_published.append(subdir)
            whole = whole or change is None
            names |= change.names if change is not None else set()
        return names, whole

    def _publish_channel_files(
        self, publisher: Publisher, names: set[str], *, full_names: bool
    ) -> None:
        """channeldata entries: every name after a full publish (or an interrupted one), else
        the names this commit touched; then channeldata.json and index.html."""
        if full_names or self._present[CHANNELDATA_JSON] is None:
            names = self.catalog.names_in_channel(self.channel.id)
            names |= set(self.catalog.channeldata_entries(self.channel.id))
        refresh_channeldata_entries(self.catalog, self.channel, names)
        publish_channel_files(
            self.catalog,
            publisher,
            self.channel,
            self.catalog.known_subdirs(self.channel.id),
            write_html=self.policy.publish.html,
            write_gz=self.policy.publish.gz,
        )
        self.catalog.set_channel_files_dirty(self.channel.id, False)


#: Store location + channel id -> the trust stamp whose files this process mirrored.
_mirrored: dict[tuple[str, int], str] = {}


def _trust_mirror(catalog: Catalog, store: Store, channel_id: int, directory: Path) -> Path | None:
    """For a channel in a bucket: the workspace mirror of its trust files when it is signed,
    fetched only when the catalog's trust stamp changed since this process last did (so an
    unsigned channel costs one catalog read per commit, and no request to the bucket)."""
    stamp = catalog.trust_stamp(channel_id)
    if stamp is None:
        return None
    key = (store.location, channel_id)
    if _mirrored.get(key) != stamp or not is_signed_channel(directory):
        if not pull_trust(store, directory):
            return None
        _mirrored[key] = stamp
    return directory


def _changed_artifacts(changes: ChangeSet) -> set[str]:
    """Keys of the artifacts (and sidecars) a change set adds, replaces or removes; staging and
    trash keys (`.stockyard/`) are never served."""
    keys = {f"{c.subdir}/{f}" for c in changes.subdirs for f in c.removed}
    keys |= {f"{c.subdir}/{row.filename}" for c in changes.subdirs for row in c.upserts}
    for move in changes.moves:
        keys |= {key for key in (move.source, move.target) if not key.startswith(".")}
    return keys
