"""From artifact files to catalog rows: read metadata and admit it (in parallel), build records.

A cold index run reads thousands of artifacts; reading, admission (`stockyard.types.admission`)
and encoding the row all happen in the reader processes (`index_artifacts`), so the main process
only assembles rows. What admission needs from the main process (the CEP 47 stamp's inputs,
what the catalog knows of the file) travels in the job (`ReadJob`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import hashlib
import multiprocessing
import operator
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from stockyard.catalog import ArtifactRow
from stockyard.package.metadata import INDEX_JSON, PathFlags
from stockyard.package.read import ArtifactMetadata, read_named_artifact
from stockyard.types.admission import describe, examine
from stockyard.types.encoding import encode_json
from stockyard.types.errors import InvalidArtifact, StockyardError
from stockyard.types.identifiers import ArtifactName, parse_artifact_filename
from stockyard.types.problems import Problem
from stockyard.types.repodata import icon_path

#: index.json keys that describe a download location, not the package; never republished.
_NOT_RECORD_KEYS = frozenset({"fn", "url", "channel", "schema_version"})

#: Below this many artifacts, reading in-process beats starting workers.
_POOL_THRESHOLD = 64

_FLAG_KEYS = (
    ("binary_prefix", "binary_prefix"),
    ("text_prefix", "text_prefix"),
    ("activate.d", "activate_d"),
    ("deactivate.d", "deactivate_d"),
    ("post_link", "post_link"),
    ("pre_link", "pre_link"),
    ("pre_unlink", "pre_unlink"),
)


class ReadJob(NamedTuple):
    """One artifact to read and admit (`index_one`), with what only the main process knows."""

    #: The file to read (in the channel directory, or its copy fetched from a bucket).
    path: str
    filename: str
    subdir: str
    mtime_ns: int
    #: What counts as now for CEP 47, and the `indexed_timestamp` of new bytes.
    now_ms: int
    #: (sha256, indexed_timestamp) published before the catalog lost them (CEP 47): the same
    #: bytes keep that stamp.
    seed: tuple[str, int] | None = None
    #: The sha256 the catalog holds for a possibly changed file: the same bytes are not admitted
    #: again (only their mtime moved).
    known_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class ReadFailure:
    """The file cannot be read, or does not belong in its subdir."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Refused:
    """Admission refused the artifact's record (`build_record`)."""

    reason: str


@dataclass(frozen=True, slots=True)
class SameBytes:
    """A possibly changed file holding the bytes the catalog has (`ReadJob.known_sha256`)."""

    size: int


@dataclass(frozen=True, slots=True)
class Indexed:
    """An admitted artifact: its catalog row, its icon and what admission warned about."""

    row: ArtifactRow
    icon: bytes | None
    warnings: list[Problem]

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Thousands cross the process pool in a cold run: positional fields pickle and unpickle
        # in half the time of the dataclasses' own __getstate__/__setstate__.
        return _indexed, (_row_values(self.row), self.icon, self.warnings)


#: An `ArtifactRow`'s fields as a tuple, in constructor order.
_row_values = operator.attrgetter(*(f.name for f in dataclasses.fields(ArtifactRow)))


def _indexed(fields: tuple[Any, ...], icon: bytes | None, warnings: list[Problem]) -> Indexed:
    return Indexed(ArtifactRow(*fields), icon, warnings)


Outcome = Indexed | SameBytes | Refused | ReadFailure


def index_one(job: ReadJob) -> Outcome:
    """Read one artifact and admit it: the whole per-artifact work of an index run."""
    try:
        expected = parse_artifact_filename(job.filename)
        meta = read_named_artifact(job.path, expected, display=job.filename)
    except StockyardError as exc:  # InvalidIdentifier (the filename) included
        reason = exc.reason if isinstance(exc, InvalidArtifact) else exc.message
        return ReadFailure(job.path, reason)
    except OSError as exc:
        return ReadFailure(job.path, f"cannot read file: {exc.strerror or exc}")
    problem = subdir_mismatch(meta, job.subdir)
    if problem:
        return ReadFailure(job.path, problem)
    if meta.sha256 == job.known_sha256:
        return SameBytes(meta.size)
    # CEP 47: new bytes are a new artifact (a replaced file gets a new stamp); only the same
    # bytes keep a stamp published before the catalog lost it.
    seed = job.seed
    stamp = seed[1] if seed is not None and seed[0] == meta.sha256 else job.now_ms
    try:
        admitted = build_record(meta, job.subdir, stamp, job.now_ms, expected=expected)
    except InvalidArtifact as exc:
        return Refused(exc.reason)
    row = artifact_row(meta, job.subdir, job.mtime_ns, admitted)
    return Indexed(row, meta.icon, admitted.warnings)


def index_artifacts(
    jobs: list[ReadJob],
    *,
    workers: int,
    on_done: Callable[[int], None] | None = None,
) -> Iterator[Outcome]:
    """`index_one` of every job, in a process pool when there are many; yields in job order."""
    if len(jobs) < _POOL_THRESHOLD or workers <= 1:
        for job in jobs:
            result = index_one(job)
            if on_done:
                on_done(1)
            yield result
        return
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    chunksize = max(8, min(256, len(jobs) // (workers * 8) or 1))
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for result in pool.map(index_one, jobs, chunksize=chunksize):
            if on_done:
                on_done(1)
            yield result


@functools.lru_cache(maxsize=256)
def _path_flags_json(flags: PathFlags) -> bytes:
    # 128 possible values; one bytes object per value also pickles once per chunk of results.
    return encode_json({key: bool(getattr(flags, attr)) for key, attr in _FLAG_KEYS})


def subdir_mismatch(meta: ArtifactMetadata, subdir: str) -> str | None:
    """Why `meta` does not belong in `subdir`, or None when it does."""
    declared = meta.index_json.get("subdir")
    if declared is None:
        # Very old packages have no subdir: noarch ones belong in noarch, others anywhere else.
        is_noarch = bool(meta.index_json.get("noarch"))
        if is_noarch != (subdir == "noarch"):
            return f"a {'noarch' if is_noarch else 'platform'} package cannot live in {subdir}/"
        return None
    if declared != subdir:
        return f"index.json says subdir {declared!r} but the file is in {subdir}/"
    return None


@dataclass(frozen=True, slots=True)
class Admitted:
    """An artifact's repodata record as it is published, and what admission warned about."""

    record: dict[str, Any]
    #: Legacy or non-standard metadata, published as it is (`stockyard.types.admission`);
    #: pointers are into the record, whose keys are index.json's.
    warnings: list[Problem]


def build_record(
    meta: ArtifactMetadata,
    subdir: str,
    indexed_timestamp: int,
    now_ms: int,
    *,
    expected: ArtifactName | None = None,
) -> Admitted:
    """The repodata record of an artifact: index.json (verbatim, as conda-index publishes it)
    plus hashes, size and CEP 47 timestamp, admitted (`stockyard.types.admission`).

    Raises InvalidArtifact naming every problem when it cannot be published. `now_ms` is the
    time that counts as now for CEP 47's checks; `expected` is `meta.filename` parsed, when the
    caller has it already.
    """
    record = {k: v for k, v in meta.index_json.items() if k not in _NOT_RECORD_KEYS}
    record["md5"] = meta.md5
    record["sha256"] = meta.sha256
    record["size"] = meta.size
    record["indexed_timestamp"] = indexed_timestamp
    if meta.run_exports:
        # As rattler-index does: clients that read run_exports (rattler-build) need no second file.
        record["run_exports"] = meta.run_exports
    if expected is None:
        expected = parse_artifact_filename(meta.filename)
    verdict = examine(record, kind="index_json", expected=expected, now_ms=now_ms)
    if verdict.errors:
        raise InvalidArtifact(
            meta.filename,
            f"{INDEX_JSON} cannot be published: {describe(verdict.errors)}",
            hint="Fix the package's metadata and rebuild it; see docs/specs/repodata.md, "
            "section Admission.",
        )
    record.setdefault("subdir", subdir)  # as conda-index does for packages that lack it
    record.setdefault("depends", [])
    return Admitted(record, verdict.warnings)


def artifact_row(
    meta: ArtifactMetadata, subdir: str, mtime_ns: int, admitted: Admitted
) -> ArtifactRow:
    """The catalog row of an admitted artifact (`build_record`)."""
    record = admitted.record
    icon_sha256 = hashlib.sha256(meta.icon).hexdigest() if meta.icon else None
    return ArtifactRow(
        subdir=subdir,
        filename=meta.filename,
        name=record["name"],
        version=record["version"],
        build=record["build"],
        size=meta.size,
        mtime_ns=mtime_ns,
        sha256=meta.sha256,
        md5=meta.md5,
        record=encode_json(record),
        run_exports=encode_json(meta.run_exports) if meta.run_exports is not None else None,
        about=encode_json(meta.about) if meta.about is not None else None,
        path_flags=_path_flags_json(meta.path_flags),
        icon_sha256=icon_sha256,
        indexed_timestamp=record["indexed_timestamp"],
    )


def icon_entry(meta: ArtifactMetadata) -> dict[str, bytes]:
    """{key: bytes} of the artifact's icon, published content-addressed where channeldata's
    `icon_url` points; empty when it has none."""
    if not meta.icon:
        return {}
    return {icon_path(hashlib.sha256(meta.icon).hexdigest()): meta.icon}


#: Milliseconds since the epoch: the source of CEP 47 `indexed_timestamp`. Only the server's own
#: clock may be one (CEP 47: the actual time an artifact became available); tests that need
#: fixed bytes pass a fixed one explicitly.
Clock = Callable[[], int]


def system_clock_ms() -> int:
    return time.time_ns() // 1_000_000
