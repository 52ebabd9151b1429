"""Scanning as a service: identify artifacts not scanned yet (in a process pool when many),
load OSV exports, and match components against advisories (again for every artifact after an
update, without reading any artifact).

Artifacts are local files, or objects of a channel's store that has none (a bucket): those are
fetched to a local scratch folder a few at a time, identified there and deleted after their
batch, so a scan needs scratch space for `REMOTE_BATCH` artifacts, not for the channel."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from stockyard.scan.identify import DEFAULT_SCAN_LIMITS, ScanLimits, identify_artifact
from stockyard.scan.matching import match_version
from stockyard.scan.model import Identification
from stockyard.scan.osv import load_osv_export
from stockyard.scan.store import ScanStore, Triple
from stockyard.types.errors import InvalidArtifact

#: Artifacts per batch: results are stored (and matched) batch by batch, so an interrupted
#: scan keeps what it did.
BATCH = 256
#: At most this many artifacts fetched from a store to scratch per batch (bounded disk use).
REMOTE_BATCH = 16
#: Parallel fetches of one batch (each a streamed GET).
FETCH_THREADS = 8


class StoredFiles(Protocol):
    """What scanning needs of a channel's store (`stockyard.storage.Store` has it)."""

    def local_path(self, key: str) -> Path | None: ...

    def open(self, key: str) -> BinaryIO: ...


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """An artifact to scan: its local file (None when it is an object of `store` without one),
    where it is published, and its sha256 when known."""

    path: Path | None
    subdir: str
    filename: str
    sha256: str | None = None
    #: The channel store holding `<subdir>/<filename>`, read when `path` is None.
    store: StoredFiles | None = None

    @property
    def key(self) -> str:
        return f"{self.subdir}/{self.filename}"


def stored_artifact(
    store: StoredFiles, subdir: str, filename: str, sha256: str | None = None
) -> ArtifactRef:
    """The ref of an artifact of a channel's store: its file when the store is a directory."""
    ref = ArtifactRef(None, subdir, filename, sha256, store)
    return dataclasses.replace(ref, path=store.local_path(ref.key))


@dataclass
class ScanSummary:
    artifacts: int = 0
    scanned: int = 0
    already_scanned: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    with_warnings: int = 0
    components: int = 0
    findings: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifacts": self.artifacts,
            "scanned": self.scanned,
            "already_scanned": self.already_scanned,
            "errors": [{"path": path, "message": message} for path, message in self.errors],
            "with_warnings": self.with_warnings,
            "components": self.components,
            "findings": self.findings,
            "seconds": round(self.seconds, 3),
        }


Outcome = Identification | tuple[str, str]  # an identification, or (sha256, error message)


def identify_or_error(path: Path, filename: str, limits: ScanLimits) -> Outcome:
    """What a worker returns: never raises for a bad artifact."""
    try:
        return identify_artifact(path, filename=filename, limits=limits)
    except InvalidArtifact as exc:
        try:
            with open(path, "rb") as file:
                sha256 = hashlib.file_digest(file, "sha256").hexdigest()
        except OSError:
            sha256 = ""
        return sha256, exc.message


def with_sha256(ref: ArtifactRef) -> ArtifactRef:
    """`ref` with its sha256 (hashing the file when unknown; unchanged if unreadable or only
    in a store: reports do not download artifacts, the scan learns it)."""
    if ref.sha256 is not None or ref.path is None:
        return ref
    try:
        with open(ref.path, "rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
    except OSError:
        return ref
    return dataclasses.replace(ref, sha256=digest)


def _batches(refs: Sequence[ArtifactRef]) -> Iterator[list[ArtifactRef]]:
    """`BATCH` refs at a time, fewer when `REMOTE_BATCH` of them must be fetched."""
    batch: list[ArtifactRef] = []
    remote = 0
    for ref in refs:
        batch.append(ref)
        remote += ref.path is None
        if len(batch) == BATCH or remote == REMOTE_BATCH:
            yield batch
            batch, remote = [], 0
    if batch:
        yield batch


def _fetch(ref: ArtifactRef, target: Path) -> None:
    """Copy the artifact out of its store; a missing one is left missing (identification
    then reports it unreadable, as for a local file deleted during a scan)."""
    if ref.store is None:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with ref.store.open(ref.key) as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, 1024 * 1024)
    except FileNotFoundError:
        target.unlink(missing_ok=True)


@contextmanager
def local_files(batch: Sequence[ArtifactRef], scratch: Path | None) -> Iterator[list[Path]]:
    """A local path per ref of `batch`: its file, or a copy fetched into a folder under
    `scratch` (the system's temporary directory when None), deleted on exit."""
    remote = [ref for ref in batch if ref.path is None]
    if not remote:
        yield [ref.path for ref in batch if ref.path is not None]
        return
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="scan-", dir=scratch))
    try:
        fetched = {id(ref): folder / ref.subdir / ref.filename for ref in remote}
        with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(remote))) as pool:
            list(pool.map(lambda ref: _fetch(ref, fetched[id(ref)]), remote))
        yield [ref.path if ref.path is not None else fetched[id(ref)] for ref in batch]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def scan_artifacts(
    store: ScanStore,
    refs: Sequence[ArtifactRef],
    *,
    workers: int = 1,
    force: bool = False,
    limits: ScanLimits = DEFAULT_SCAN_LIMITS,
    progress: Callable[[int], None] | None = None,
    scratch: Path | None = None,
) -> ScanSummary:
    """Identify every artifact of `refs` not scanned yet (all with `force`), store the results
    and match them against the loaded advisories. Artifacts only in a store are fetched under
    `scratch` (a channel's working area; the system's temporary directory when None)."""
    started = time.perf_counter()
    summary = ScanSummary(artifacts=len(refs))
    refs = [with_sha256(r) for r in refs]  # hashing is cheap next to decompressing
    known = set() if force else store.scanned(r.sha256 for r in refs if r.sha256)
    todo = [r for r in refs if force or r.sha256 is None or r.sha256 not in known]
    summary.already_scanned = len(refs) - len(todo)
    pool = ProcessPoolExecutor(workers) if workers > 1 and len(todo) > BATCH else None
    try:
        for batch in _batches(todo):
            with local_files(batch, scratch) as paths:
                args = (paths, [r.filename for r in batch], [limits] * len(batch))
                outcomes = list(
                    pool.map(identify_or_error, *args, chunksize=16)
                    if pool
                    else map(identify_or_error, *args)
                )
            _store_batch(store, batch, outcomes, summary)
            if progress is not None:
                progress(len(batch))
    finally:
        if pool is not None:
            pool.shutdown()
    summary.seconds = time.perf_counter() - started
    return summary


def _store_batch(
    store: ScanStore, batch: Sequence[ArtifactRef], outcomes: list[Outcome], summary: ScanSummary
) -> None:
    identified = [o for o in outcomes if isinstance(o, Identification)]
    for ref, outcome in zip(batch, outcomes, strict=True):
        if isinstance(outcome, tuple):
            sha256, message = outcome
            summary.errors.append((f"{ref.subdir}/{ref.filename}", message))
            if sha256:
                store.put_error(sha256, ref.filename, message)
    store.put_identifications(identified)
    summary.scanned += len(identified)
    summary.with_warnings += sum(1 for i in identified if i.warnings)
    summary.components += sum(len(i.components) for i in identified)
    summary.findings += rematch(store, [i.sha256 for i in identified])


def match_triples(
    store: ScanStore, triples: Sequence[Triple]
) -> dict[Triple, list[tuple[str, tuple[str, ...]]]]:
    """(ecosystem, name, version) -> [(advisory id, fixed versions)] for those affected."""
    by_ecosystem: dict[str, set[str]] = {}
    for ecosystem, name, _ in triples:
        by_ecosystem.setdefault(ecosystem, set()).add(name)
    ids_by_key: dict[tuple[str, str], list[str]] = {}
    for ecosystem, names in by_ecosystem.items():
        for name, ids in store.advisories_by_name(ecosystem, names).items():
            ids_by_key[(ecosystem, name)] = ids
    advisories = store.advisories(i for ids in ids_by_key.values() for i in ids)
    out: dict[Triple, list[tuple[str, tuple[str, ...]]]] = {}
    for ecosystem, name, version in triples:
        candidates = [
            advisories[i] for i in ids_by_key.get((ecosystem, name), []) if i in advisories
        ]
        matches = match_version(ecosystem, name, version, candidates)
        if matches:
            out[(ecosystem, name, version)] = [(m.advisory.id, m.fixed) for m in matches]
    return out


def rematch(store: ScanStore, sha256s: Sequence[str] | None = None) -> int:
    """Match the stored components (of `sha256s`, or all) against the stored advisories and
    replace their findings; reads no artifact. Returns the number of findings of the scope."""
    if sha256s is not None and not sha256s:
        return 0
    matches = match_triples(store, store.candidate_triples(sha256s))
    return store.replace_findings(matches, sha256s)


@dataclass
class DatabaseUpdate:
    source: str
    documents: int
    advisories_loaded: int
    advisories_stored: int
    skipped_documents: int
    skipped_ranges: int
    ignored_ranges: int
    withdrawn: int
    warning_count: int
    warnings: list[str]
    ecosystems: list[str]
    findings: int
    load_seconds: float
    rematch_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def update_database(store: ScanStore, source: Path, *, merge: bool = False) -> DatabaseUpdate:
    """Load an OSV export (replacing the advisories of its ecosystems unless `merge`), then
    match every stored artifact again."""
    started = time.perf_counter()
    loaded = load_osv_export(source)
    ecosystems = loaded.ecosystems
    stored = store.replace_advisories(loaded.advisories, ecosystems=set() if merge else ecosystems)
    loaded_at = time.time()
    store.set_meta({"osv_source": str(source), "osv_loaded_at": str(int(loaded_at))})
    load_seconds = time.perf_counter() - started
    findings = rematch(store)
    return DatabaseUpdate(
        source=os.fspath(source),
        documents=loaded.documents,
        advisories_loaded=len(loaded.advisories),
        advisories_stored=stored,
        skipped_documents=loaded.skipped_documents,
        skipped_ranges=loaded.skipped_ranges,
        ignored_ranges=loaded.ignored_ranges,
        withdrawn=loaded.withdrawn,
        warning_count=loaded.warning_count,
        warnings=loaded.warnings,
        ecosystems=sorted(ecosystems),
        findings=findings,
        load_seconds=round(load_seconds, 3),
        rematch_seconds=round(time.perf_counter() - started - load_seconds, 3),
    )
