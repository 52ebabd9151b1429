"""Adding uploaded artifacts to a channel and republishing incrementally.

An upload is checked completely first (`validate_upload`: parses, sha256 matches, index.json agrees
with filename and subdir and passes admission, `stockyard.types.admission`), without any lock, so
uploads validate in parallel. Validated uploads are then committed in batches (`ingest_uploads`):
one channel lock, one catalog transaction and one publish per changed subdir for every upload
waiting, which is what keeps latency low when many clients upload at once. Each upload's result
carries admission's warnings (legacy metadata published as it is); a channel whose policy is
`strict` refuses such uploads instead. Accepted files are staged in the store and moved into place
only after the catalog commit names them (`stockyard.index.commit`); on any failure before that an
upload's temp file is deleted and nothing of it is stored.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stockyard.catalog import ArtifactRow, Catalog, Channel, FileState, Move, SubdirChanges
from stockyard.index.commit import STAGING, ChangeSet, ChannelCommit
from stockyard.index.ingest import (
    Admitted,
    Clock,
    artifact_row,
    build_record,
    icon_entry,
    subdir_mismatch,
    system_clock_ms,
)
from stockyard.index.lock import DEFAULT_LOCK_TIMEOUT
from stockyard.index.workspace import ChannelWorkspace
from stockyard.package.metadata import INDEX_JSON
from stockyard.package.read import ArtifactMetadata
from stockyard.package.verify import verify_artifact
from stockyard.storage import Store
from stockyard.types.admission import describe
from stockyard.types.errors import Conflict, HashMismatch, InvalidArtifact, StockyardError
from stockyard.types.identifiers import check_sha256, check_subdir, parse_artifact_filename
from stockyard.types.problems import Problem


@dataclass(frozen=True, slots=True)
class UploadResult:
    channel: str
    subdir: str
    filename: str
    sha256: str
    size: int
    replaced: bool
    seconds: float
    #: Legacy or non-standard metadata it was published with (`stockyard.types.admission`).
    warnings: list[Problem] = field(default_factory=list)


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
    #: Where the artifact already is in the store (an upload queued by any replica,
    #: `stockyard.index.upload_queue`); None: `temp_path` is staged by the commit.
    staged: str | None = None


def validate_upload(
    filename: str,
    temp_path: Path,
    *,
    subdir: str | None = None,
    sha256: str | None = None,
    force: bool = False,
    attestation: bytes | None = None,
) -> ValidatedUpload:
    """Check an upload completely: everything `stockyard package verify` checks (metadata, every
    payload member decompressed once within the package `Limits`, no unsafe member, payload
    matching paths.json), the sha256 sent, the subdir. Raises a StockyardError (and deletes the
    temp file) if bad."""
    received = time.perf_counter()
    try:
        parse_artifact_filename(filename)
        if subdir is not None:
            check_subdir(subdir)
        report = verify_artifact(temp_path, filename=filename)
        if sha256 is not None and check_sha256(sha256) != report.sha256:
            raise HashMismatch(
                f"{filename}: sha256 of the upload is {report.sha256}, not {sha256.lower()}",
                hint="The upload was corrupted or the wrong file was sent; upload it again.",
            )
        report.raise_for_problems()
        meta = report.metadata
        if meta is None:  # reading failed, so raise_for_problems raised
            raise InvalidArtifact(filename, "unreadable")
        target_subdir = subdir or _declared_subdir(meta)
        problem = subdir_mismatch(meta, target_subdir)
        if problem:
            raise InvalidArtifact(filename, problem)
        now = system_clock_ms()
        build_record(meta, target_subdir, now, now)  # admission: refuse what cannot be published
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
    workspace: ChannelWorkspace,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    clock: Clock = system_clock_ms,
) -> list[UploadResult | StockyardError]:
    """Store validated uploads and republish, all under one channel lock, through the one
    commit step (`ChannelCommit`) with the channel's stored policy.

    Returns one outcome per upload, in order: its result, or the error that refused it (a
    Conflict when the file exists and force is not set, also for a repeat within the batch).
    Errors that stop the whole batch (the lock timing out, a bad patch source) are raised.
    """
    return ingest_waiting(
        catalog,
        store,
        channel,
        lambda: uploads,
        workspace=workspace,
        lock_timeout=lock_timeout,
        clock=clock,
    )


def ingest_waiting(
    catalog: Catalog,
    store: Store,
    channel: Channel,
    take: Callable[[], list[ValidatedUpload]],
    *,
    workspace: ChannelWorkspace,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    clock: Clock = system_clock_ms,
) -> list[UploadResult | StockyardError]:
    """`ingest_uploads` of the uploads `take()` returns, called once the channel lock is held.

    Taking the batch only after the wait for the lock is what makes group commit work when
    several replicas share a channel: every upload that arrived while another replica was
    publishing joins this batch, instead of waiting for a publish of its own. When the lock is
    never held (a timeout), `take()` is still called: everything waiting fails with the error.
    """
    uploads: list[ValidatedUpload] | None = None
    try:
        with workspace.lock(lock_timeout):
            uploads = take()
            commit = ChannelCommit.open(catalog, store, channel, workspace)
            batch = UploadBatch(
                catalog, store, channel, uploads, clock(), strict=commit.policy.strict
            )
            changes = batch.stage()
            commit.commit_or_report(changes)
            return batch.outcomes(time.perf_counter())
    finally:
        if uploads is None:  # the lock was never held: what waits fails with this error
            uploads = take()
        for upload in uploads:
            with contextlib.suppress(FileNotFoundError):
                upload.temp_path.unlink()


@dataclass(slots=True)
class UploadBatch:
    """Judges each upload of a batch (under the lock) and stages the accepted ones."""

    catalog: Catalog
    store: Store
    channel: Channel
    uploads: list[ValidatedUpload]
    #: CEP 47 `indexed_timestamp` of this batch: the time it becomes available.
    now: int
    #: The channel policy's `strict`: refuse uploads admission warns about.
    strict: bool = False
    refusals: dict[int, StockyardError] = field(default_factory=dict)
    accepted: list[tuple[int, ArtifactRow, bool, list[Problem]]] = field(default_factory=list)

    def stage(self) -> ChangeSet:
        """Put accepted files under staging keys; the commit moves them into place."""
        changes = ChangeSet()
        by_subdir: dict[str, list[int]] = {}
        for i, upload in enumerate(self.uploads):
            by_subdir.setdefault(upload.subdir, []).append(i)
        for subdir, indices in by_subdir.items():
            rows = self._stage_subdir(subdir, indices, changes)
            if rows:
                changes.subdirs.append(SubdirChanges(subdir, upserts=list(rows.values())))
        return changes

    def _stage_subdir(
        self, subdir: str, indices: list[int], changes: ChangeSet
    ) -> dict[str, ArtifactRow]:
        known = self.catalog.file_states(self.channel.id, subdir)
        rows: dict[str, ArtifactRow] = {}
        for i in indices:
            upload = self.uploads[i]
            refusal = _conflict(self.channel, upload, known, rows)
            if refusal is not None:
                self.refusals[i] = refusal
                continue
            previous = known.get(upload.filename)
            # CEP 47: a forced replacement with other bytes is a new artifact; the same bytes
            # again keep their stamp.
            same = previous is not None and previous.sha256 == upload.meta.sha256
            stamp = previous.indexed_timestamp if previous is not None and same else self.now
            admitted = self._admit(i, subdir, stamp)
            if admitted is None:
                continue
            target = f"{subdir}/{upload.filename}"
            staged = upload.staged
            if staged is None:
                staged = f"{STAGING}/{subdir}/{upload.filename}.{secrets.token_hex(8)}"
                self.store.put_file(staged, upload.temp_path)
            changes.moves.append(Move(staged, target))
            if upload.attestation is not None:
                self.store.put(f"{target}.attestation.json", upload.attestation)
            # Provisional: the commit records the mtime the move reports (what the next index
            # run's listing shows, so it sees the file as unchanged) without asking the store.
            row = artifact_row(upload.meta, subdir, time.time_ns(), admitted)
            rows[upload.filename] = row  # a forced repeat in the batch: the last one wins
            self.accepted.append((i, row, previous is not None, admitted.warnings))
            changes.icons.update(icon_entry(upload.meta))
        return rows

    def _admit(self, i: int, subdir: str, stamp: int) -> Admitted | None:
        """The upload's record by admission, or None when refused (noted in `refusals`): its
        metadata cannot be published, or the channel is strict and admission warned."""
        upload = self.uploads[i]
        try:
            admitted = build_record(upload.meta, subdir, stamp, self.now)
        except InvalidArtifact as exc:
            self.refusals[i] = exc
            return None
        if self.strict and admitted.warnings:
            self.refusals[i] = InvalidArtifact(
                upload.filename,
                f"this channel is strict and {INDEX_JSON} breaks its rules: "
                f"{describe(admitted.warnings)}",
                hint="Fix the package's metadata and rebuild it, or ask the channel's owner "
                "to turn off `strict` in its policy.",
            )
            return None
        return admitted

    def outcomes(self, done: float) -> list[UploadResult | StockyardError]:
        results: dict[int, UploadResult | StockyardError] = dict(self.refusals)
        for i, row, replaced, warnings in self.accepted:
            upload = self.uploads[i]
            results[i] = UploadResult(
                channel=self.channel.name,
                subdir=upload.subdir,
                filename=upload.filename,
                sha256=row.sha256,
                size=row.size,
                replaced=replaced,
                seconds=done - upload.received,
                warnings=warnings,
            )
        return [results[i] for i in range(len(self.uploads))]


def _conflict(
    channel: Channel,
    upload: ValidatedUpload,
    known: dict[str, FileState],
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
