"""Adding uploaded artifacts to a channel and republishing incrementally.

An upload is checked completely first (`validate_upload`: parses, sha256 matches, index.json agrees
with filename and subdir), without any lock, so uploads validate in parallel. Validated uploads
are then committed in batches (`ingest_uploads`): one channel lock, one catalog transaction per
subdir and one publish per changed subdir for every upload waiting, which is what keeps latency
low when many clients upload at once. On any failure an upload's temp file is deleted and nothing
of it is stored.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from stockyard.catalog import ArtifactRow, Catalog, Channel
from stockyard.index.ingest import artifact_row, first_indexed_ms, store_icon, subdir_mismatch
from stockyard.index.lock import channel_lock
from stockyard.package.read import ArtifactMetadata, read_artifact
from stockyard.publish.channel import publish_channel_files, refresh_channeldata_entries
from stockyard.publish.subdir import PublishOptions, SubdirChange, publish_subdir
from stockyard.publish.writer import Publisher
from stockyard.storage import Store
from stockyard.types.errors import Conflict, HashMismatch, InvalidArtifact, StockyardError
from stockyard.types.identifiers import check_sha256, check_subdir, parse_artifact_filename


@dataclass(frozen=True, slots=True)
class UploadResult:
    channel: str
    subdir: str
    filename: str
    sha256: str
    size: int
    replaced: bool
    seconds: float


@dataclass(frozen=True, slots=True)
class ValidatedUpload:
    """An upload whose artifact was read and checked; `temp_path` is still to be stored."""

    filename: str
    subdir: str
    temp_path: Path
    meta: ArtifactMetadata
    force: bool = False
    attestation: bytes | None = None
    received: float = 0.0


def validate_upload(
    filename: str,
    temp_path: Path,
    *,
    subdir: str | None = None,
    sha256: str | None = None,
    force: bool = False,
    attestation: bytes | None = None,
) -> ValidatedUpload:
    """Read and check an upload. Raises a StockyardError (and deletes the temp file) if bad."""
    received = time.perf_counter()
    try:
        parse_artifact_filename(filename)
        if subdir is not None:
            check_subdir(subdir)
        meta = read_artifact(temp_path, filename=filename)
        if sha256 is not None and check_sha256(sha256) != meta.sha256:
            raise HashMismatch(
                f"{filename}: sha256 of the upload is {meta.sha256}, not {sha256.lower()}",
                hint="The upload was corrupted or the wrong file was sent; upload it again.",
            )
        target_subdir = subdir or _declared_subdir(meta)
        problem = subdir_mismatch(meta, target_subdir)
        if problem:
            raise InvalidArtifact(filename, problem)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp_path.unlink()
        raise
    return ValidatedUpload(filename, target_subdir, temp_path, meta, force, attestation, received)


def ingest_uploads(
    catalog: Catalog,
    store: Store,
    channel: Channel,
    uploads: list[ValidatedUpload],
    *,
    options: PublishOptions | None = None,
    state_dir: Path,
    lock_timeout: float = 60.0,
) -> list[UploadResult | StockyardError]:
    """Store validated uploads and republish, all under one channel lock.

    Returns one outcome per upload, in order: its result, or the error that refused it (a
    Conflict when the file exists and force is not set, also for a repeat within the batch).
    Errors that stop the whole batch (the lock timing out) are raised.
    """
    options = options or PublishOptions()
    outcomes: list[UploadResult | StockyardError | None] = [None] * len(uploads)
    accepted: list[tuple[int, ArtifactRow, bool]] = []
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        with channel_lock(state_dir / "index.lock", timeout=lock_timeout):
            changes: dict[str, SubdirChange | None] = {}
            by_subdir: dict[str, list[int]] = {}
            for i, upload in enumerate(uploads):
                by_subdir.setdefault(upload.subdir, []).append(i)
            for subdir, indices in by_subdir.items():
                known = catalog.file_states(channel.id, subdir)
                # A subdir already dirty was left half-published by a crash: redo it whole.
                before = catalog.subdir_state(channel.id, subdir)
                interrupted = before is not None and before.dirty
                rows: dict[str, ArtifactRow] = {}
                for i in indices:
                    upload = uploads[i]
                    refusal = _conflict(channel, upload, known, rows)
                    if refusal is not None:
                        outcomes[i] = refusal
                        continue
                    key = f"{subdir}/{upload.filename}"
                    store.put_file(key, upload.temp_path)
                    if upload.attestation is not None:
                        store.put(f"{key}.attestation.json", upload.attestation)
                    info = store.stat(key)
                    mtime = info.mtime_ns if info else time.time_ns()
                    previous = known.get(upload.filename)
                    stamp = previous.indexed_timestamp if previous else first_indexed_ms()
                    row = artifact_row(upload.meta, subdir, mtime, stamp)
                    rows[upload.filename] = row  # a forced repeat in the batch: the last one wins
                    accepted.append((i, row, previous is not None))
                    store_icon(store, upload.meta)
                if not rows:
                    continue
                catalog.apply_changes(channel.id, subdir, upserts=list(rows.values()))
                changes[subdir] = (
                    None
                    if interrupted
                    else SubdirChange(names={r.name for r in rows.values()}, filenames=set(rows))
                )
            if changes:
                publish_after_changes(
                    catalog, store, channel, changes, options=options, scratch=state_dir / "tmp"
                )
    finally:
        for upload in uploads:
            with contextlib.suppress(FileNotFoundError):
                upload.temp_path.unlink()
    done = time.perf_counter()
    for i, row, replaced in accepted:
        upload = uploads[i]
        outcomes[i] = UploadResult(
            channel=channel.name,
            subdir=upload.subdir,
            filename=upload.filename,
            sha256=row.sha256,
            size=row.size,
            replaced=replaced,
            seconds=done - upload.received,
        )
    return [o for o in outcomes if o is not None]


def ingest_upload(
    catalog: Catalog,
    store: Store,
    channel: Channel,
    filename: str,
    temp_path: Path,
    *,
    subdir: str | None = None,
    sha256: str | None = None,
    force: bool = False,
    options: PublishOptions | None = None,
    state_dir: Path,
    lock_timeout: float = 60.0,
    attestation: bytes | None = None,
) -> UploadResult:
    """Validate `temp_path` as `filename`, store it in `channel`, republish its subdir."""
    upload = validate_upload(
        filename, temp_path, subdir=subdir, sha256=sha256, force=force, attestation=attestation
    )
    (outcome,) = ingest_uploads(
        catalog,
        store,
        channel,
        [upload],
        options=options,
        state_dir=state_dir,
        lock_timeout=lock_timeout,
    )
    if isinstance(outcome, StockyardError):
        raise outcome
    return outcome


def _conflict(
    channel: Channel,
    upload: ValidatedUpload,
    known: dict,  # type: ignore[type-arg]
    in_batch: dict[str, ArtifactRow],
) -> Conflict | None:
    if upload.force:
        return None
    key = f"{upload.subdir}/{upload.filename}"
    existing = known.get(upload.filename)
    existing_sha = in_batch[upload.filename].sha256 if upload.filename in in_batch else None
    if existing is not None:
        existing_sha = existing.sha256
    if existing_sha is None:
        return None
    if existing_sha == upload.meta.sha256:
        return Conflict(
            f"{key} already exists in {channel.name} with the same content",
            hint="Nothing to do; pass force=true to upload it again anyway.",
        )
    return Conflict(
        f"{key} already exists in {channel.name}",
        hint="Bump the build number, or pass force=true to replace it.",
    )


def publish_after_changes(
    catalog: Catalog,
    store: Store,
    channel: Channel,
    changes: dict[str, SubdirChange | None],
    *,
    options: PublishOptions,
    scratch: Path,
) -> None:
    """Republish changed subdirs and the channel files (the caller holds the lock).

    A change of None republishes that subdir whole. Subdirs never published (noarch in a new
    channel) are published too, so `noarch/repodata.json` always exists.
    """
    publisher = Publisher(catalog, store, channel.id)
    for other in sorted(set(catalog.known_subdirs(channel.id)) | {"noarch"}):
        if other in changes:
            continue
        state = catalog.subdir_state(channel.id, other)
        if state is None or store.stat(f"{other}/repodata.json") is None:
            catalog.ensure_subdir(channel.id, other)
            publish_subdir(catalog, publisher, channel, other, options, None, scratch=scratch)
    names: set[str] = set()
    for subdir, change in sorted(changes.items()):
        outcome = publish_subdir(
            catalog, publisher, channel, subdir, options, change, scratch=scratch
        )
        if outcome.full or change is None:
            names |= catalog.names_in_subdir(channel.id, subdir)
            names |= set(catalog.channeldata_entries(channel.id))
        else:
            names |= change.names
    refresh_channeldata_entries(catalog, channel, names)
    publish_channel_files(catalog, publisher, channel, catalog.known_subdirs(channel.id))


def _declared_subdir(meta: ArtifactMetadata) -> str:
    declared = meta.index_json.get("subdir")
    if isinstance(declared, str):
        return check_subdir(declared)
    if meta.index_json.get("noarch"):
        return "noarch"
    raise InvalidArtifact(
        meta.filename,
        "index.json has no subdir",
        hint="Upload it to an explicit subdir: PUT /<channel>/<subdir>/<filename>.",
    )
