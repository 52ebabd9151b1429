"""Group commit across replicas: uploads accepted by any replica are committed by whichever
replica holds the channel's lock, in one batch and one publish.

With a PostgreSQL catalog every replica commits its uploads through `SharedUploads`
(`server/upload_batch.py`, `SharedUploadBatcher`) instead of committing them alone:

1. store each artifact under `.stockyard/queued/` and queue it in the catalog
   (`catalog.upload_queue`) with the metadata its validation read, as soon as it is validated
   (also while this replica is busy committing: the next leader, here or elsewhere, takes it);
2. wait for the channel's lock in short slices; between slices, and once the lock comes, look
   whether another replica committed any of them already (then answer with the outcomes it
   recorded, before leading any commit);
3. with the lock, lead: claim every queued upload of the channel (this replica's and every
   other's), judge and commit them as one batch (`UploadBatch`, `ChannelCommit`), record each
   outcome (the accepted ones in the catalog transaction that stores their rows), publish, and
   mark them done.

A replica that dies while leading leaves its claimed uploads to the next leader: rows it had not
stored are judged again, rows it had stored are published by the next commit (their subdirs are
dirty) and then marked done. A replica whose wait runs out withdraws the uploads no leader has
claimed and answers LockTimeout for them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from stockyard.catalog import Catalog, Channel, now_ms
from stockyard.catalog.upload_queue import ClaimedUpload, QueuedUpload
from stockyard.index.commit import ORPHAN_SECONDS, QUEUED, ChannelCommit, PublishPending
from stockyard.index.ingest import Clock, system_clock_ms
from stockyard.index.lock import DEFAULT_LOCK_TIMEOUT
from stockyard.index.upload import UploadBatch, UploadResult, ValidatedUpload
from stockyard.index.workspace import ChannelWorkspace
from stockyard.package.read import ArtifactMetadata
from stockyard.storage import Store
from stockyard.types.errors import InvalidArtifact, LockTimeout, StockyardError

_metadata_decoder = msgspec.json.Decoder(ArtifactMetadata)
_result_decoder = msgspec.json.Decoder(UploadResult)


def encode_metadata(meta: ArtifactMetadata) -> bytes:
    return msgspec.json.encode(meta)


def decode_metadata(raw: bytes) -> ArtifactMetadata:
    return _metadata_decoder.decode(raw)


def encode_outcome(outcome: UploadResult | StockyardError) -> bytes:
    """An upload's outcome for the queue: its result, or its error (class, message, hint)."""
    if isinstance(outcome, StockyardError):
        return msgspec.json.encode({"error": outcome.to_dict()})
    return msgspec.json.encode({"result": outcome})


def decode_outcome(raw: bytes) -> UploadResult | StockyardError:
    document = msgspec.json.decode(raw)
    if "result" in document:
        return _result_decoder.decode(msgspec.json.encode(document["result"]))
    error = document["error"]
    return rebuild_error(error["error"], error["message"], error["hint"])


def rebuild_error(name: str, message: str, hint: str) -> StockyardError:
    """The error another process raised, as the same class when this one knows it (its HTTP
    status and the client's handling follow the class), else a plain StockyardError."""
    cls = _error_classes().get(name, StockyardError)
    error = cls.__new__(cls)
    StockyardError.__init__(error, message, hint)
    return error


def _error_classes() -> dict[str, type[StockyardError]]:
    found: dict[str, type[StockyardError]] = {}
    pending: list[type[StockyardError]] = [StockyardError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.__name__, cls)
        pending.extend(cls.__subclasses__())
    return found


@dataclass(slots=True)
class SharedUploads:
    """The uploads of one channel on one replica, committed through the shared queue: `queue`
    them where every replica sees them, then `settle` them (lead a commit when the lock comes,
    or learn that another replica committed them). Called as a `CommitBatch`
    (`server/upload_batch.py`), it does both for one batch."""

    catalog: Catalog
    store: Store
    channel: Channel
    workspace: ChannelWorkspace
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    clock: Clock = system_clock_ms
    #: Told of each commit this replica leads: uploads committed (every replica's, refused ones
    #: included) and seconds from the start of the wait for the lock (the server's metrics).
    on_commit: Callable[[int, float], None] | None = None

    def __call__(
        self, take: Callable[[], list[ValidatedUpload]]
    ) -> list[UploadResult | StockyardError]:
        uploads = take()
        ids = self.queue(uploads)
        outcomes: dict[int, UploadResult | StockyardError] = {}
        try:
            while len(outcomes) < len(ids):
                outcomes.update(self.settle(lambda: [i for i in ids if i not in outcomes]))
        finally:
            self.catalog.forget_uploads(i for i in ids if i not in outcomes)
        return [timed(outcomes[i], upload) for i, upload in zip(ids, uploads, strict=True)]

    def queue(self, uploads: list[ValidatedUpload]) -> list[int]:
        """Store the artifacts (before waiting for anything: on a bucket the PUTs overlap other
        replicas' commits), then queue them; their ids. On a failure the objects are deleted.
        The temp files are consumed either way."""
        queued: list[QueuedUpload] = []
        try:
            for upload in uploads:
                key = f"{QUEUED}/{upload.subdir}/{upload.filename}.{secrets.token_hex(8)}"
                self.store.put_file(key, upload.temp_path)
                queued.append(
                    QueuedUpload(
                        upload.subdir,
                        upload.filename,
                        key,
                        upload.force,
                        encode_metadata(upload.meta),
                        upload.attestation,
                    )
                )
            return self.catalog.queue_uploads(self.channel.id, queued)
        except BaseException:
            for entry in queued:
                with contextlib.suppress(Exception):
                    self.store.delete(entry.staged)
            raise
        finally:
            for upload in uploads:
                with contextlib.suppress(FileNotFoundError):
                    upload.temp_path.unlink()

    def settle(self, waiting: Callable[[], list[int]]) -> dict[int, UploadResult | StockyardError]:
        """Wait for the channel's lock unless one of the queued uploads `waiting()` names is
        done first; lead a commit when the lock comes. Returns the outcomes of those now done
        (their rows forgotten). When the wait runs out, the ones no leader has claimed are
        withdrawn and answered with the timeout; the others stay waiting."""
        found: dict[int, UploadResult | StockyardError] = {}
        started = time.perf_counter()

        def settled() -> bool:  # read at every look
            return self._any_done(waiting())

        try:
            with self.workspace.lock_unless(self.lock_timeout, settled) as held:
                # The lock often comes the moment the leader that committed these uploads let
                # go: then answer them first (the lock goes back, and the next `settle` leads
                # for what is still waiting) instead of making their clients wait through a
                # commit of uploads queued since.
                if held and not settled():
                    QueueLeader(self, started).lead()
        except LockTimeout as exc:
            withdrawn = self.catalog.withdraw_uploads(waiting())
            for key in withdrawn.values():
                with contextlib.suppress(Exception):
                    self.store.delete(key)
            found.update(dict.fromkeys(withdrawn, exc))
        done = self.catalog.upload_outcomes(i for i in waiting() if i not in found)
        found.update({i: _outcome_or_unknown(raw) for i, raw in done.items() if raw is not None})
        self.catalog.forget_uploads(found)
        return found

    def _any_done(self, ids: list[int]) -> bool:
        return any(raw is not None for raw in self.catalog.upload_outcomes(ids).values())


class QueueLeader:
    """With the channel's lock held: commits every queued upload of the channel as one batch."""

    def __init__(self, shared: SharedUploads, started: float) -> None:
        self.shared = shared
        self.started = started
        self.catalog = shared.catalog
        self.store = shared.store

    def lead(self) -> None:
        channel_id = self.shared.channel.id
        if _purge_due(self.store.location, channel_id):
            self.catalog.purge_finished_uploads(channel_id, now_ms() - ORPHAN_SECONDS * 1000)
        claimed = self.catalog.claim_uploads(channel_id)
        if not claimed:
            return
        judge, uploads = self._readable([c for c in claimed if c.state == "claimed"])
        owed = {c.id: c.outcome or b"" for c in claimed if c.state == "stored"}
        shared = self.shared
        batch: UploadBatch | None = None
        commit: ChannelCommit | None = None
        try:
            commit = ChannelCommit.open(
                shared.catalog, shared.store, shared.channel, shared.workspace
            )
            batch = UploadBatch(
                shared.catalog,
                shared.store,
                shared.channel,
                uploads,
                shared.clock(),
                strict=commit.policy.strict,
            )
            changes = batch.stage()
            judged = batch.outcomes(time.perf_counter())
            changes.queued = {
                c.id: encode_outcome(o)
                for c, o in zip(judge, judged, strict=True)
                if isinstance(o, UploadResult)
            }
            commit.commit_or_report(changes)
        except Exception as exc:
            stored = commit is not None and commit.stored
            self._fail(judge, owed, batch, exc, stored=stored)
            if not isinstance(exc, StockyardError):
                raise  # a bug: logged by the server, every upload of this batch fails with it
            return
        self.catalog.finish_uploads(
            {**owed, **{c.id: encode_outcome(o) for c, o in zip(judge, judged, strict=True)}}
        )
        if shared.on_commit is not None:
            shared.on_commit(len(judge), time.perf_counter() - self.started)
        self._discard(judge, batch.refusals)

    def _readable(
        self, claimed: list[ClaimedUpload]
    ) -> tuple[list[ClaimedUpload], list[ValidatedUpload]]:
        """The claimed uploads whose queued metadata decodes, as uploads to judge; any other
        (written by another version of Stockyard, or damaged) is refused at once, so one bad
        row never fails the batches of everyone else."""
        judge: list[ClaimedUpload] = []
        uploads: list[ValidatedUpload] = []
        refused: dict[int, bytes] = {}
        for entry in claimed:
            try:
                uploads.append(_validated(entry))
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                refused[entry.id] = encode_outcome(
                    InvalidArtifact(
                        entry.upload.filename,
                        f"its queued metadata cannot be read ({exc})",
                        hint="Upload it again; a replica running another version of "
                        "Stockyard may have queued it.",
                    )
                )
                with contextlib.suppress(Exception):
                    self.store.delete(entry.upload.staged)
                continue
            judge.append(entry)
        if refused:
            self.catalog.finish_uploads(refused)
        return judge, uploads

    def _fail(
        self,
        judge: list[ClaimedUpload],
        owed: dict[int, bytes],
        batch: UploadBatch | None,
        exc: Exception,
        *,
        stored: bool,
    ) -> None:
        """Record why the batch failed. Before its rows were stored nothing of it stays (the
        staged objects go); after, the accepted uploads are stored and owed a publish."""
        error = exc if isinstance(exc, StockyardError) else _internal(exc)
        refusals = batch.refusals if batch is not None else {}
        outcomes: dict[int, bytes] = {}
        for index, claimed in enumerate(judge):
            refusal = refusals.get(index)
            outcomes[claimed.id] = encode_outcome(refusal if refusal is not None else error)
        if stored:
            pending = error if isinstance(error, PublishPending) else PublishPending(str(error))
            outcomes.update(dict.fromkeys(owed, encode_outcome(pending)))
        self.catalog.finish_uploads(outcomes)
        if stored:
            self._discard(judge, refusals)
        else:
            self._discard(judge, dict.fromkeys(range(len(judge)), error))

    def _discard(self, judge: list[ClaimedUpload], refused: dict[int, Any]) -> None:
        """Delete the queued objects of uploads that were not stored."""
        for index in refused:
            with contextlib.suppress(Exception):
                self.store.delete(judge[index].upload.staged)


#: Store location + channel id -> when this process last dropped uncollected queue rows.
_last_purge: dict[tuple[str, int], float] = {}


def _purge_due(location: str, channel_id: int) -> bool:
    now = time.monotonic()
    last = _last_purge.get((location, channel_id))
    if last is not None and now - last < ORPHAN_SECONDS / 4:
        return False
    _last_purge[(location, channel_id)] = now
    return True


def _validated(claimed: ClaimedUpload) -> ValidatedUpload:
    queued = claimed.upload
    return ValidatedUpload(
        queued.filename,
        queued.subdir,
        Path(),
        decode_metadata(queued.metadata),
        force=queued.force,
        attestation=queued.attestation,
        staged=queued.staged,
    )


def _internal(exc: Exception) -> StockyardError:
    return StockyardError(
        f"the commit of this upload failed: {type(exc).__name__}: {exc}",
        hint="Upload it again; if it keeps failing, check the server log.",
    )


def _outcome_or_unknown(raw: bytes | None) -> UploadResult | StockyardError:
    if raw:
        return decode_outcome(raw)
    return LockTimeout(
        "another replica was committing this upload and did not finish in time; whether it "
        "was published is not known",
        hint="Check whether the package is listed before uploading it again.",
    )


def timed(
    outcome: UploadResult | StockyardError, upload: ValidatedUpload
) -> UploadResult | StockyardError:
    """The result with this replica's own clock (the leader's `seconds` counted from its own
    start, not from when this replica received the upload)."""
    if isinstance(outcome, UploadResult):
        return dataclasses.replace(outcome, seconds=time.perf_counter() - upload.received)
    return outcome
