"""From artifact files to catalog rows: read metadata (in parallel), admit it, build records."""

from __future__ import annotations

import concurrent.futures
import hashlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from stockyard.catalog import ArtifactRow
from stockyard.package.metadata import INDEX_JSON
from stockyard.package.read import ArtifactMetadata, read_artifact
from stockyard.types.admission import describe, examine
from stockyard.types.encoding import encode_json
from stockyard.types.errors import InvalidArtifact, StockyardError
from stockyard.types.identifiers import parse_artifact_filename
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


@dataclass(frozen=True, slots=True)
class ReadFailure:
    path: str
    reason: str


def _read_one(job: tuple[str, str]) -> ArtifactMetadata | ReadFailure:
    path, filename = job
    try:
        return read_artifact(path, filename=filename)
    except StockyardError as exc:
        reason = exc.reason if isinstance(exc, InvalidArtifact) else exc.message
        return ReadFailure(path, reason)
    except OSError as exc:
        return ReadFailure(path, f"cannot read file: {exc.strerror or exc}")


def read_artifacts(
    jobs: list[tuple[str, str]],
    *,
    workers: int,
    on_done: Callable[[int], None] | None = None,
) -> Iterator[ArtifactMetadata | ReadFailure]:
    """Read (path, filename) jobs, in a process pool when there are many; yields in job order."""
    if len(jobs) < _POOL_THRESHOLD or workers <= 1:
        for job in jobs:
            result = _read_one(job)
            if on_done:
                on_done(1)
            yield result
        return
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    chunksize = max(8, min(256, len(jobs) // (workers * 8) or 1))
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for result in pool.map(_read_one, jobs, chunksize=chunksize):
            if on_done:
                on_done(1)
            yield result


def path_flags_dict(meta: ArtifactMetadata) -> dict[str, bool]:
    flags = meta.path_flags
    return {key: bool(getattr(flags, attr)) for key, attr in _FLAG_KEYS}


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
    meta: ArtifactMetadata, subdir: str, indexed_timestamp: int, now_ms: int
) -> Admitted:
    """The repodata record of an artifact: index.json (verbatim, as conda-index publishes it)
    plus hashes, size and CEP 47 timestamp, admitted (`stockyard.types.admission`).

    Raises InvalidArtifact naming every problem when it cannot be published. `now_ms` is the
    time that counts as now for CEP 47's checks.
    """
    record = {k: v for k, v in meta.index_json.items() if k not in _NOT_RECORD_KEYS}
    record["md5"] = meta.md5
    record["sha256"] = meta.sha256
    record["size"] = meta.size
    record["indexed_timestamp"] = indexed_timestamp
    if meta.run_exports:
        # As rattler-index does: clients that read run_exports (rattler-build) need no second file.
        record["run_exports"] = meta.run_exports
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
        path_flags=encode_json(path_flags_dict(meta)),
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
