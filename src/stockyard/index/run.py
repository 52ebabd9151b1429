"""`index_channel`: scan storage, read what changed, build the change set, commit (one path, see
`stockyard.index.commit`), remember the scans. Costs O(change) when little changed; a run with
no change writes nothing."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stockyard.catalog import Catalog, Channel, SubdirChanges, sqlite_url
from stockyard.catalog.coordination import channel_locks_for
from stockyard.index.commit import ChangeSet, ChannelCommit
from stockyard.index.ingest import (
    Clock,
    Indexed,
    Outcome,
    ReadFailure,
    ReadJob,
    Refused,
    SameBytes,
    index_artifacts,
    system_clock_ms,
)
from stockyard.index.lock import DEFAULT_LOCK_TIMEOUT
from stockyard.index.policy import effective_policy, updated_policy
from stockyard.index.scan import SubdirScan, remember_scans, scan_subdir
from stockyard.index.seed import published_stamps
from stockyard.index.workspace import ChannelWorkspace
from stockyard.storage import LocalStore, Store, check_key
from stockyard.storage.parallel import map_all
from stockyard.types.errors import ConfigError, NotFound
from stockyard.types.identifiers import SUBDIR_PATTERN, artifact_format
from stockyard.types.labels import is_label_channel, label_channel_name, split_label_channel
from stockyard.types.policy import PublishOptions
from stockyard.types.problems import Problem
from stockyard.types.repodata import icon_path

_subdir_re = re.compile(SUBDIR_PATTERN)

#: progress(phase, completed, total); phase is "scan", "read" or "publish".
Progress = Callable[[str, int, int], None]

#: Per subdir, each job read and admitted, and its outcome (read failures are already skipped).
_Read = dict[str, list[tuple[ReadJob, Outcome]]]


@dataclass(frozen=True, slots=True)
class IndexOptions:
    subdirs: tuple[str, ...] | None = None
    #: When given, becomes the channel's stored publish policy; None keeps the stored one.
    publish: PublishOptions | None = None
    #: When given, becomes the channel's stored patch source ("" removes it); None keeps it.
    #: A patch_instructions.json file, a patch package (file or name in the channel), or a
    #: Python file defining `_patch_repodata(repodata, subdir)`.
    patch_source: str | None = None
    db_url: str | None = None
    workers: int = max(1, os.cpu_count() or 1)
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    channel_name: str | None = None
    #: Where `indexed_timestamp` comes from: the system clock (tests pass a fixed one).
    clock: Clock = system_clock_ms


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class FileWarnings:
    """What admission warned about in one indexed artifact (published as it is)."""

    path: str
    warnings: list[Problem]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "warnings": [w.to_dict() for w in self.warnings]}


@dataclass(slots=True)
class IndexResult:
    channel: str
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    #: Artifacts indexed with legacy or non-standard metadata (`stockyard.types.admission`).
    warnings: list[FileWarnings] = field(default_factory=list)
    subdirs_published: list[str] = field(default_factory=list)
    files_written: int = 0
    seconds: float = 0.0
    #: Seconds per phase (scan, read, ingest, commit), for --json and benchmarks.
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "warnings": [w.to_dict() for w in self.warnings],
            "subdirs_published": self.subdirs_published,
            "files_written": self.files_written,
            "seconds": round(self.seconds, 4),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[phase] = time.perf_counter() - started


def index_channel(
    channel_dir: Path,
    options: IndexOptions | None = None,
    progress: Progress | None = None,
    *,
    store: Store | None = None,
) -> IndexResult:
    """Index the channel in `channel_dir` (artifacts in `<subdir>/` folders) in place; with
    `store` (a bucket), index that store and keep only the workspace in `channel_dir`."""
    started = time.perf_counter()
    options = options or IndexOptions()
    channel_dir = Path(channel_dir)
    if store is None:
        _check_channel_dir(channel_dir)
    else:
        channel_dir.mkdir(parents=True, exist_ok=True)
    name = options.channel_name or channel_dir.resolve().name or "channel"
    workspace = ChannelWorkspace(
        channel_dir, channel_locks_for(options.db_url), catalog_channel_name(name)
    )
    result = IndexResult(channel=name)
    with workspace.lock(options.lock_timeout):
        catalog = Catalog.open(options.db_url or sqlite_url(workspace.state_dir / "catalog.db"))
        try:
            channel = catalog.ensure_channel(catalog_channel_name(name))
            store = store if store is not None else LocalStore(channel_dir)
            run = _IndexRun(catalog, store, channel, workspace, options, progress, result)
            run.execute()
        finally:
            catalog.close()
    result.seconds = time.perf_counter() - started
    return result


def _check_channel_dir(channel_dir: Path) -> None:
    """The folder must be a channel: not missing, not a file, not one of its subdirs."""
    hint = "Pass the folder that holds the noarch/ and <platform>/ folders."
    if channel_dir.is_file():
        raise ConfigError(f"{str(channel_dir)!r} is a file, not a channel directory", hint=hint)
    if not channel_dir.is_dir():
        raise NotFound(f"channel directory {str(channel_dir)!r} does not exist", hint=hint)
    holds_artifacts = any(artifact_format(p.name) for p in channel_dir.iterdir() if p.is_file())
    if _subdir_re.fullmatch(channel_dir.name) and holds_artifacts:
        parent = channel_dir.resolve().parent
        raise ConfigError(
            f"{str(channel_dir)!r} is a subdir of a channel (it holds artifacts directly)",
            hint=f"Index the channel instead: stockyard index {parent}",
        )


def catalog_channel_name(name: str) -> str:
    """The catalog name of a channel directory (the catalog validates names, CEP 26; a
    directory may be called anything). A label's name (`c/label/rc`) keeps its shape."""
    if is_label_channel(name):
        parent, label = split_label_channel(name)
        return label_channel_name(catalog_channel_name(parent), label)
    cleaned = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.") or "channel"
    return cleaned[:128]


@dataclass(slots=True)
class _IndexRun:
    """One index run under the channel lock: scan -> read changed -> ingest -> commit ->
    remember scans."""

    catalog: Catalog
    store: Store
    channel: Channel
    workspace: ChannelWorkspace
    options: IndexOptions
    progress: Progress | None
    result: IndexResult
    #: Subdirs the catalog knew before this run (others get timestamps seeded, CEP 47).
    known: set[str] = field(default_factory=set)
    #: While reading from a bucket: the scratch folder the artifacts were fetched to.
    fetched: Path | None = None

    def execute(self) -> None:
        # The policy and its patch source are checked before anything is touched.
        stored = effective_policy(self.catalog, self.channel)
        policy = updated_policy(stored, self.options.publish, self.options.patch_source)
        commit = ChannelCommit.open(self.catalog, self.store, self.channel, self.workspace, policy)
        if policy != stored:
            self.catalog.set_channel_policy(self.channel.id, policy)
        # Files an interrupted upload committed but did not move yet: in place before the scan,
        # or it would take them for removed.
        commit.finish_moves()
        with self.result.timed("scan"):
            scans = self.scan()
        with self.result.timed("read"):  # and admit, in the reader processes
            read = self.read(scans)
        with self.result.timed("ingest"):
            changes = self.ingest(scans, read)
        with self.result.timed("commit"):
            outcome = commit.commit(changes, recheck=[s.subdir for s in scans])
        self.result.subdirs_published = outcome.subdirs_published
        self.result.files_written = outcome.files_written
        remember_scans(
            self.catalog, self.channel.id, scans, self.catalog.subdir_states(self.channel.id)
        )

    def subdirs(self) -> list[str]:
        wanted = self.options.subdirs
        found = [d for d in self.store.list_dirs() if _subdir_re.fullmatch(d)]
        if wanted:
            found = [d for d in found if d in wanted]
        if not wanted or "noarch" in wanted:
            found = sorted(set(found) | {"noarch"})  # CEP 26: noarch/repodata.json must exist
        return found

    def scan(self) -> list[SubdirScan]:
        states = self.catalog.subdir_states(self.channel.id)
        self.known = set(states)
        subdirs = self.subdirs()
        # On a bucket each listing is a round trip (or more): the subdirs are listed together.
        listings = map_all(self.store, self.store.file_sizes, subdirs)
        scans = [
            scan_subdir(self.catalog, self.store, self.channel.id, s, states.get(s), listings[s])
            for s in subdirs
        ]
        self._report("scan", len(scans), len(scans))
        return scans

    def read(self, scans: list[SubdirScan]) -> _Read:
        """Read and admit everything new or possibly changed, in parallel; per subdir, in scan
        order. From a bucket, the files to read are fetched to scratch first (and deleted
        after)."""
        if self.store.local_path("noarch") is not None:
            return self._read(scans)
        fetched = self.workspace.scratch / "fetched"
        try:
            fetch_to_scratch(
                self.store,
                [f"{s.subdir}/{f}" for s in scans for f in s.to_read],
                fetched,
                workers=max(4, self.options.workers * 4),
            )
            self.fetched = fetched
            return self._read(scans)
        finally:
            self.fetched = None
            shutil.rmtree(fetched, ignore_errors=True)

    def _read(self, scans: list[SubdirScan]) -> _Read:
        per_scan = [(scan, self._jobs(scan)) for scan in scans]
        owners = [scan for scan, jobs in per_scan for _ in jobs]
        jobs = [job for _, scan_jobs in per_scan for job in scan_jobs]
        done = 0

        def on_done(count: int) -> None:
            nonlocal done
            done += count
            self._report("read", done, len(jobs))

        self._report("read", 0, len(jobs))
        read: _Read = {}
        outcomes = index_artifacts(jobs, workers=self.options.workers, on_done=on_done)
        for job, scan, outcome in zip(jobs, owners, outcomes, strict=True):
            if isinstance(outcome, ReadFailure):
                self.result.skipped.append(Skipped(outcome.path, outcome.reason))
                scan.skipped = True
            else:
                read.setdefault(scan.subdir, []).append((job, outcome))
        return read

    def _jobs(self, scan: SubdirScan) -> list[ReadJob]:
        """What the readers need for each file of `scan` to read: the CEP 47 stamp's inputs and
        the sha256 the catalog holds for a possibly changed file."""
        names = scan.to_read
        if not names:
            return []
        known = self.catalog.file_states(self.channel.id, scan.subdir) if scan.maybe_changed else {}
        seeds = {} if scan.subdir in self.known else published_stamps(self.store, scan.subdir)
        now = self.options.clock()
        folder = self._folder(scan.subdir)
        jobs = []
        for filename in names:
            state = known.get(filename)  # None for a new file
            check_key(f"{scan.subdir}/{filename}")  # the traversal check of a store's key
            jobs.append(
                ReadJob(
                    f"{folder}/{filename}",
                    filename,
                    scan.subdir,
                    scan.mtimes[filename],
                    now,
                    seeds.get(filename),
                    state.sha256 if state is not None else None,
                )
            )
        return jobs

    def _folder(self, subdir: str) -> str:
        """Where the files of `subdir` are read: the channel directory, or the copies fetched
        from the bucket (a key's path is its folder's path and its name: one `Path` per subdir
        rather than two per file, which cost the main process 0.2-0.5 s per 13,000 artifacts)."""
        path = self.store.local_path(subdir)
        if path is not None:
            return str(path)
        if self.fetched is None:
            return subdir  # only named in messages
        return str(self.fetched / subdir)

    def ingest(self, scans: list[SubdirScan], read: _Read) -> ChangeSet:
        changes = ChangeSet()
        # Admission's findings name the file in the channel (a key, for a bucket).
        in_place = self.store.local_path("noarch") is not None
        for scan in scans:
            outcomes = read.get(scan.subdir, [])
            changes.subdirs.append(self._subdir_changes(scan, outcomes, changes.icons, in_place))
            self.result.removed += len(scan.removed)
            self.result.unchanged += scan.unchanged
        return changes

    def _subdir_changes(
        self,
        scan: SubdirScan,
        outcomes: list[tuple[ReadJob, Outcome]],
        icons: dict[str, bytes],
        in_place: bool,
    ) -> SubdirChanges:
        maybe = set(scan.maybe_changed)
        change = SubdirChanges(scan.subdir, removed=list(scan.removed))
        for job, outcome in outcomes:
            if isinstance(outcome, SameBytes):
                change.touched.append((job.filename, outcome.size, job.mtime_ns))  # new mtime
                self.result.unchanged += 1
                continue
            path = job.path if in_place else f"{job.subdir}/{job.filename}"
            if isinstance(outcome, Refused):  # skipped with the reason, read again next run
                self.result.skipped.append(Skipped(path, outcome.reason))
                scan.skipped = True
                continue
            assert isinstance(outcome, Indexed)
            if outcome.warnings:
                self.result.warnings.append(FileWarnings(path, outcome.warnings))
            change.upserts.append(outcome.row)
            if outcome.icon and outcome.row.icon_sha256:
                icons[icon_path(outcome.row.icon_sha256)] = outcome.icon
            if job.filename in maybe:
                self.result.changed += 1
            else:
                self.result.added += 1
        return change

    def _report(self, phase: str, completed: int, total: int) -> None:
        if self.progress is not None:
            self.progress(phase, completed, total)


def fetch_to_scratch(store: Store, keys: list[str], target: Path, *, workers: int) -> None:
    """Copy `keys` of a (remote) store to `target/<key>`, in parallel. A missing key is skipped:
    the reader then reports it as unreadable, as for a file deleted during a local scan."""
    from concurrent.futures import ThreadPoolExecutor

    def fetch(key: str) -> None:
        path = target / key
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "wb") as out:
                store.download(key, out)  # one GET each, not a HEAD and ranged reads
        except FileNotFoundError:
            path.unlink(missing_ok=True)

    if not keys:
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(keys))) as pool:
        list(pool.map(fetch, keys))
