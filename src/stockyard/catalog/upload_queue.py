"""The shared upload queue: uploads that wait for a channel's next commit, visible to every
replica of a PostgreSQL catalog, so that whichever replica holds the channel's lock commits
them all in one batch (`stockyard.index.upload_queue`).

A row moves waiting -> claimed -> stored -> done. Only the holder of the channel's lock claims,
stores and finishes rows; the replica that queued a row reads its outcome, withdraws it while it
is still waiting (its lock wait ran out), and deletes it when it has answered its client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from sqlalchemy import Connection, bindparam, delete, select, update

from stockyard.catalog.base import CatalogPart, chunks, now_ms
from stockyard.catalog.schema import upload_queue

QueueState = Literal["waiting", "claimed", "stored", "done"]
#: States a leader takes over: never judged, or judged by a leader that died before its commit.
_CLAIMABLE: Final = ("waiting", "claimed")


@dataclass(frozen=True, slots=True)
class QueuedUpload:
    """One upload in the queue: where its artifact is staged and what its validation read."""

    subdir: str
    filename: str
    staged: str
    force: bool
    metadata: bytes  #: `ArtifactMetadata`, encoded JSON
    attestation: bytes | None = None


@dataclass(frozen=True, slots=True)
class ClaimedUpload:
    id: int
    state: QueueState  #: "claimed" (to judge) or "stored" (committed, owed a publish)
    upload: QueuedUpload
    outcome: bytes | None  #: the stored outcome ("stored" rows)


def store_outcomes(conn: Connection, outcomes: Mapping[int, bytes]) -> None:
    """Inside a commit's transaction: the accepted uploads' rows are stored with their outcome
    (so a leader that dies before publishing never has them judged again)."""
    if not outcomes:
        return
    conn.execute(
        update(upload_queue)
        .where(upload_queue.c.id == bindparam("i"))
        .values(state="stored", outcome=bindparam("o")),
        [{"i": i, "o": o} for i, o in sorted(outcomes.items())],
    )


class UploadQueuePart(CatalogPart):
    def queue_uploads(self, channel_id: int, uploads: Iterable[QueuedUpload]) -> list[int]:
        """Queue uploads (their artifacts already staged); their ids, in order."""
        stamp = now_ms()
        ids: list[int] = []
        with self.engine.begin() as conn:
            for upload in uploads:
                result = conn.execute(
                    upload_queue.insert().values(
                        channel_id=channel_id,
                        state="waiting",
                        subdir=upload.subdir,
                        filename=upload.filename,
                        staged=upload.staged,
                        force=upload.force,
                        metadata=upload.metadata,
                        attestation=upload.attestation,
                        queued_at=stamp,
                    )
                )
                key = result.inserted_primary_key
                assert key is not None
                ids.append(int(key[0]))
        return ids

    def claim_uploads(self, channel_id: int) -> list[ClaimedUpload]:
        """For the holder of the channel's lock: every queued upload not yet done, the ones to
        judge marked claimed (a waiting replica can no longer withdraw them), oldest first."""
        columns = (
            upload_queue.c.id,
            upload_queue.c.state,
            upload_queue.c.subdir,
            upload_queue.c.filename,
            upload_queue.c.staged,
            upload_queue.c.force,
            upload_queue.c.metadata,
            upload_queue.c.attestation,
            upload_queue.c.outcome,
        )
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(*columns)
                .where(upload_queue.c.channel_id == channel_id, upload_queue.c.state != "done")
                .order_by(upload_queue.c.id)
                .with_for_update()
            ).all()
            claim = [row.id for row in rows if row.state == "waiting"]
            for chunk in chunks(claim):
                conn.execute(
                    update(upload_queue).where(upload_queue.c.id.in_(chunk)).values(state="claimed")
                )
        return [
            ClaimedUpload(
                id=row.id,
                state="claimed" if row.state in _CLAIMABLE else row.state,
                upload=QueuedUpload(
                    row.subdir,
                    row.filename,
                    row.staged,
                    bool(row.force),
                    bytes(row.metadata),
                    bytes(row.attestation) if row.attestation is not None else None,
                ),
                outcome=bytes(row.outcome) if row.outcome is not None else None,
            )
            for row in rows
        ]

    def finish_uploads(self, outcomes: Mapping[int, bytes]) -> None:
        """Queued uploads are done: published, refused, or failed with the batch."""
        if not outcomes:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(upload_queue)
                .where(upload_queue.c.id == bindparam("i"))
                .values(state="done", outcome=bindparam("o")),
                [{"i": i, "o": o} for i, o in sorted(outcomes.items())],
            )

    def upload_outcomes(self, ids: Iterable[int]) -> dict[int, bytes | None]:
        """The outcome of each of these queued uploads that is done (None: not yet)."""
        wanted = sorted(set(ids))
        found: dict[int, bytes | None] = dict.fromkeys(wanted)
        with self.reader.connect() as conn:
            for chunk in chunks(wanted):
                for row in conn.execute(
                    select(upload_queue.c.id, upload_queue.c.outcome).where(
                        upload_queue.c.id.in_(chunk), upload_queue.c.state == "done"
                    )
                ):
                    found[row.id] = bytes(row.outcome) if row.outcome is not None else b""
        return found

    def withdraw_uploads(self, ids: Iterable[int]) -> dict[int, str]:
        """Take back queued uploads no leader has claimed yet: {id: staged key} of those
        withdrawn (the others are being committed and must be waited for)."""
        withdrawn: dict[int, str] = {}
        with self.engine.begin() as conn:
            for chunk in chunks(sorted(set(ids))):
                rows = conn.execute(
                    delete(upload_queue)
                    .where(upload_queue.c.id.in_(chunk), upload_queue.c.state == "waiting")
                    .returning(upload_queue.c.id, upload_queue.c.staged)
                ).all()
                withdrawn.update({row.id: row.staged for row in rows})
        return withdrawn

    def forget_uploads(self, ids: Iterable[int]) -> None:
        """Drop queued uploads whose outcome their replica has read."""
        with self.engine.begin() as conn:
            for chunk in chunks(sorted(set(ids))):
                conn.execute(delete(upload_queue).where(upload_queue.c.id.in_(chunk)))

    def queued_keys(self, channel_id: int) -> set[str]:
        """Staged keys the queue still names (the sweep of orphans keeps them)."""
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(upload_queue.c.staged).where(upload_queue.c.channel_id == channel_id)
            ).all()
        return {row[0] for row in rows}

    def purge_finished_uploads(self, channel_id: int, older_than_ms: int) -> int:
        """Drop done rows nobody collected (their replica died before answering); count."""
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(upload_queue).where(
                    upload_queue.c.channel_id == channel_id,
                    upload_queue.c.state == "done",
                    upload_queue.c.queued_at < older_than_ms,
                )
            )
        return int(result.rowcount or 0)
