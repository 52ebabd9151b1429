"""`index_channel`: list storage, diff with the catalog, read what changed, update the catalog,
publish. Costs O(change) when little changed; a run with no change writes nothing."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from stockyard.catalog import Catalog, Channel, SubdirState, sqlite_url
from stockyard.index.ingest import (
    ReadFailure,
    artifact_row,
    first_indexed_ms,
    read_artifacts,
    store_icon,
    subdir_mismatch,
)
from stockyard.index.lock import channel_lock
from stockyard.package.read import ArtifactMetadata
from stockyard.publish.channel import publish_channel_files, refresh_channeldata_entries
from stockyard.publish.subdir import (
    PublishOptions,
    SubdirChange,
    patch_fingerprint,
    publish_subdir,
    unpatched_repodata,
)
from stockyard.publish.writer import Publisher
from stockyard.storage import LocalStore, Store
from stockyard.types.errors import NotFound, StockyardError
from stockyard.types.identifiers import SUBDIR_PATTERN, artifact_format
from stockyard.types.repodata import REPODATA_JSON

_subdir_re = re.compile(SUBDIR_PATTERN)

#: Where Stockyard keeps its state inside a channel directory.
STATE_DIR = ".stockyard"

#: progress(phase, completed, total); phase is "scan", "read" or "publish".
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class IndexOptions:
    subdirs: tuple[str, ...] | None = None
    publish: PublishOptions = field(default_factory=PublishOptions)
    #: A patch_instructions.json file, a patch package (file or name in the channel), or a Python
    #: file defining `_patch_repodata(repodata, subdir)`.
    patch_source: str | None = None
    db_url: str | None = None
    workers: int = max(1, os.cpu_count() or 1)
    lock_timeout: float = 600.0
    channel_name: str | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: str


@dataclass(slots=True)
class IndexResult:
    channel: str
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    subdirs_published: list[str] = field(default_factory=list)
    files_written: int = 0
    seconds: float = 0.0
    #: Seconds per phase (scan, read, ingest, patch, publish), for --json and benchmarks.
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "subdirs_published": self.subdirs_published,
            "files_written": self.files_written,
            "seconds": round(self.seconds, 4),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


@dataclass(slots=True)
class _SubdirScan:
    subdir: str
    signature: str
    files: int
    new: list[str] = field(default_factory=list)
    maybe_changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    mtimes: dict[str, int] = field(default_factory=dict)
    skipped: bool = False


def index_channel(
    channel_dir: Path, options: IndexOptions | None = None, progress: Progress | None = None
) -> IndexResult:
    """Index the channel in `channel_dir` (artifacts in `<subdir>/` folders) in place."""
    started = time.perf_counter()
    options = options or IndexOptions()
    channel_dir = Path(channel_dir)
    if not channel_dir.is_dir():
        raise NotFound(
            f"channel directory {str(channel_dir)!r} does not exist",
            hint="Pass the folder that holds the noarch/ and <platform>/ folders.",
        )
    state_dir = channel_dir / STATE_DIR
    state_dir.mkdir(exist_ok=True)
    name = options.channel_name or channel_dir.resolve().name or "channel"
    result = IndexResult(channel=name)
    # Fail on a bad patch source before touching anything.
    patch_source = _load_patch_source(options.patch_source, channel_dir)
    store = LocalStore(channel_dir)
    with channel_lock(state_dir / "index.lock", timeout=options.lock_timeout):
        catalog = Catalog.open(options.db_url or sqlite_url(state_dir / "catalog.db"))
        try:
            channel = catalog.ensure_channel(_catalog_channel_name(name))
            _index_locked(
                catalog, store, channel, state_dir, options, patch_source, progress, result
            )
        finally:
            catalog.close()
    result.seconds = time.perf_counter() - started
    return result


def _catalog_channel_name(name: str) -> str:
    # The catalog validates channel names (CEP 26); a directory may be called anything.
    cleaned = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.") or "channel"
    return cleaned[:128]


def _load_patch_source(spec: str | None, channel_dir: Path):  # type: ignore[no-untyped-def]
    if not spec:
        return None
    from stockyard.patches.sources import load_patch_source

    return load_patch_source(spec, channel_dir=channel_dir)


def scan_signature(files: dict[str, tuple[int, int]]) -> str:
    """A hash of the sorted (filename, size, mtime_ns) of a subdir's artifacts."""
    return hashlib.sha256(msgspec.msgpack.encode(sorted(files.items()))).hexdigest()


def _scan(
    catalog: Catalog, store: Store, channel: Channel, subdir: str, state: SubdirState | None
) -> _SubdirScan:
    files = {name: st for name, st in store.file_sizes(subdir).items() if artifact_format(name)}
    scan = _SubdirScan(subdir, scan_signature(files), len(files))
    if state is not None and not state.dirty and state.scan_signature == scan.signature:
        return scan  # the same files as after the last complete run: nothing to compare
    known = catalog.file_states(channel.id, subdir)
    for filename, (size, mtime_ns) in files.items():
        scan.mtimes[filename] = mtime_ns
        previous = known.get(filename)
        if previous is None:
            scan.new.append(filename)
        elif previous.size != size or previous.mtime_ns != mtime_ns:
            scan.maybe_changed.append(filename)
    scan.removed = sorted(set(known) - set(files))
    scan.new.sort()
    scan.maybe_changed.sort()
    return scan


def _index_locked(
    catalog: Catalog,
    store: LocalStore,
    channel: Channel,
    state_dir: Path,
    options: IndexOptions,
    patch_source: Any,
    progress: Progress | None,
    result: IndexResult,
) -> None:
    root = store.root
    subdirs = [d for d in store.list_dirs() if _subdir_re.match(d)]
    if options.subdirs:
        subdirs = [d for d in subdirs if d in options.subdirs]
    if not options.subdirs or "noarch" in options.subdirs:
        subdirs = sorted(set(subdirs) | {"noarch"})  # CEP 26: noarch/repodata.json must exist
    clock = time.perf_counter()
    states = catalog.subdir_states(channel.id)
    scans = [_scan(catalog, store, channel, s, states.get(s)) for s in subdirs]
    # A subdir left dirty by an interrupted run must be republished whole.
    interrupted = {s for s in subdirs if (st := states.get(s)) is not None and st.dirty}
    if progress:
        progress("scan", len(scans), len(scans))

    # Read everything new or possibly changed, in parallel.
    jobs = [(str(root / s.subdir / f), f) for s in scans for f in (*s.new, *s.maybe_changed)]
    owners = [s for s in scans for _ in (*s.new, *s.maybe_changed)]
    total = len(jobs)
    done = 0

    def on_done(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("read", done, total)

    result.timings["scan"] = time.perf_counter() - clock
    clock = time.perf_counter()
    if progress:
        progress("read", 0, total)
    changes: dict[str, SubdirChange] = {}
    per_subdir: dict[str, list[ArtifactMetadata]] = {}
    for scan, outcome in zip(
        owners, read_artifacts(jobs, workers=options.workers, on_done=on_done), strict=True
    ):
        if isinstance(outcome, ReadFailure):
            result.skipped.append(Skipped(outcome.path, outcome.reason))
            scan.skipped = True
            continue
        problem = subdir_mismatch(outcome, scan.subdir)
        if problem:
            result.skipped.append(Skipped(str(root / scan.subdir / outcome.filename), problem))
            scan.skipped = True
            continue
        per_subdir.setdefault(scan.subdir, []).append(outcome)

    result.timings["read"] = time.perf_counter() - clock
    clock = time.perf_counter()
    for scan in scans:
        known = catalog.file_states(channel.id, scan.subdir) if scan.maybe_changed else {}
        maybe = set(scan.maybe_changed)
        rows = []
        touched = []
        change = SubdirChange()
        for meta in per_subdir.get(scan.subdir, []):
            state = known.get(meta.filename)
            mtime = scan.mtimes[meta.filename]
            if meta.filename in maybe and state is not None and state.sha256 == meta.sha256:
                touched.append((meta.filename, meta.size, mtime))  # same bytes, new mtime
                result.unchanged += 1
                continue
            stamp = state.indexed_timestamp if state is not None else 0
            row = artifact_row(meta, scan.subdir, mtime, stamp or first_indexed_ms())
            rows.append(row)
            change.filenames.add(row.filename)
            change.names.add(row.name)
            if meta.filename in maybe:
                result.changed += 1
            else:
                result.added += 1
        if scan.removed:
            change.names |= catalog.names_for_filenames(channel.id, scan.subdir, scan.removed)
        result.removed += len(scan.removed)
        catalog.apply_changes(
            channel.id,
            scan.subdir,
            upserts=rows,
            touched=touched,
            removed_filenames=scan.removed,
            mark_dirty=False,
        )
        if rows or scan.removed:
            catalog.mark_dirty(channel.id, scan.subdir)
            changes[scan.subdir] = change
        for meta in per_subdir.get(scan.subdir, []):
            store_icon(store, meta)
    result.unchanged += sum(scan.files - len(scan.new) - len(scan.maybe_changed) for scan in scans)

    result.timings["ingest"] = time.perf_counter() - clock
    clock = time.perf_counter()
    # Patch instructions for every subdir, validated before anything is published.
    instructions = {s: _instructions(patch_source, catalog, channel, s) for s in subdirs}
    options_fp = options.publish.fingerprint()
    to_publish: list[tuple[str, SubdirChange | None]] = []
    states = catalog.subdir_states(channel.id)
    for subdir in subdirs:
        state = states.get(subdir)
        change = None if subdir in interrupted else changes.get(subdir)
        needs = (
            state is None
            or state.dirty
            or state.patch_fingerprint != patch_fingerprint(instructions[subdir])
            or state.options_fingerprint != options_fp
            or store.stat(f"{subdir}/{REPODATA_JSON}") is None
        )
        if needs:
            to_publish.append((subdir, change))

    result.timings["patch"] = time.perf_counter() - clock
    clock = time.perf_counter()
    if not to_publish and store.stat("channeldata.json") is not None:
        _remember_scans(catalog, channel, scans, states)
        return
    publisher = Publisher(catalog, store, channel.id)
    scratch = state_dir / "tmp"
    changed_names: set[str] = set()
    full_names = False
    for i, (subdir, change) in enumerate(to_publish):
        if progress:
            progress("publish", i, len(to_publish))
        outcome = publish_subdir(
            catalog,
            publisher,
            channel,
            subdir,
            options.publish,
            change,
            scratch=scratch,
            instructions=instructions[subdir],
        )
        result.subdirs_published.append(subdir)
        if outcome.full:
            full_names = True
        elif change is not None:
            changed_names |= change.names
    if full_names or store.stat("channeldata.json") is None:
        names = set()
        for subdir in catalog.known_subdirs(channel.id):
            names |= catalog.names_in_subdir(channel.id, subdir)
        names |= set(catalog.channeldata_entries(channel.id))
        changed_names = names
    refresh_channeldata_entries(catalog, channel, changed_names)
    publish_channel_files(
        catalog,
        publisher,
        channel,
        catalog.known_subdirs(channel.id),
        write_html=options.publish.html,
    )
    if progress:
        progress("publish", len(to_publish), len(to_publish))
    result.files_written = len(publisher.written)
    shutil.rmtree(scratch, ignore_errors=True)
    _remember_scans(catalog, channel, scans, catalog.subdir_states(channel.id))
    result.timings["publish"] = time.perf_counter() - clock


def _remember_scans(
    catalog: Catalog, channel: Channel, scans: list[_SubdirScan], states: dict[str, SubdirState]
) -> None:
    """Store each fully handled subdir's scan signature, so an unchanged one is skipped next time.

    A subdir with unreadable artifacts keeps no signature: they are read, and reported, again.
    """
    for scan in scans:
        signature = None if scan.skipped else scan.signature
        state = states.get(scan.subdir)
        if state is not None and not state.dirty and state.scan_signature != signature:
            catalog.set_scan_signature(channel.id, scan.subdir, signature)


def _instructions(patch_source: Any, catalog: Catalog, channel: Channel, subdir: str) -> dict:
    if patch_source is None:
        return {}
    from stockyard.patches.sources import GeneratorPatchSource

    # Only Python generators look at the repodata; building it is O(records).
    if isinstance(patch_source, GeneratorPatchSource):
        repodata = unpatched_repodata(catalog, channel, subdir)
    else:
        repodata = {}
    try:
        return patch_source.instructions_for(subdir, repodata) or {}
    except StockyardError:
        raise
    except Exception as exc:  # a patch generator is user code
        from stockyard.types.errors import InvalidMetadata

        raise InvalidMetadata(
            f"patch source failed for {subdir}: {type(exc).__name__}: {exc}",
            hint="Fix the patch generator; nothing was published.",
        ) from exc
