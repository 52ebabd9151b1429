"""Artifacts: change detection, committing changes (rows, dirty flags, staged files in one
transaction), and the plain reads over a subdir's artifacts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    delete,
    func,
    select,
    update,
)

from stockyard.catalog.base import CatalogPart, chunks, insert_ignore, now_ms, rows_in
from stockyard.catalog.channels import write_channel_files_dirty
from stockyard.catalog.rows import ArtifactRow, FileState, Move, SubdirChanges
from stockyard.catalog.schema import (
    artifact_history,
    artifacts,
    pending_moves,
    removed,
    subdirs,
)
from stockyard.catalog.upload_queue import store_outcomes


class ArtifactsPart(CatalogPart):
    def known_subdirs(self, channel_id: int) -> list[str]:
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(subdirs.c.subdir).where(subdirs.c.channel_id == channel_id)
            ).all()
        return sorted(r[0] for r in rows)

    def file_states(self, channel_id: int, subdir: str) -> dict[str, FileState]:
        """Change-detection state of the subdir's local files (mirrored records excluded)."""
        query = select(
            artifacts.c.filename,
            artifacts.c.size,
            artifacts.c.mtime_ns,
            artifacts.c.sha256,
            artifacts.c.indexed_timestamp,
        ).where(
            artifacts.c.channel_id == channel_id,
            artifacts.c.subdir == subdir,
            artifacts.c.origin == "local",
        )
        with self.reader.connect() as conn:
            rows = conn.execute(query).all()
        return {f: FileState(s, m, h, t) for f, s, m, h, t in rows}

    def commit_changes(
        self,
        channel_id: int,
        changes: Sequence[SubdirChanges],
        moves: Sequence[Move] = (),
        queued: Mapping[int, bytes] | None = None,
    ) -> None:
        """Store every change of a commit in one transaction: the rows, each changed subdir's
        dirty flag, the channel files' dirty flag, the staged files still to be moved, and the
        outcomes of the queued uploads these rows came from (`queued`: id -> outcome).

        A crash before this returns leaves nothing; after it, the dirty flags make the next run
        publish what is owed, and `pending_moves` lets it finish placing the files.
        """
        stamp = now_ms()
        with self.engine.begin() as conn:
            for change in changes:
                _write_subdir_changes(conn, channel_id, change, stamp)
            if moves:
                conn.execute(
                    pending_moves.insert(),
                    [
                        {"channel_id": channel_id, "source": m.source, "target": m.target}
                        for m in moves
                    ],
                )
            if any(change.changes_records for change in changes):
                write_channel_files_dirty(conn, channel_id, True)
            store_outcomes(conn, queued or {})

    def apply_changes(
        self,
        channel_id: int,
        subdir: str,
        *,
        upserts: Iterable[ArtifactRow] = (),
        touched: Iterable[tuple[str, int, int]] = (),
        removed: Iterable[str] = (),
    ) -> None:
        """`commit_changes` for one subdir (tests, benchmarks and bulk loaders)."""
        change = SubdirChanges(subdir, list(upserts), list(touched), list(removed))
        self.commit_changes(channel_id, [change])

    def ensure_subdir(self, channel_id: int, subdir: str) -> None:
        self.commit_changes(channel_id, [SubdirChanges(subdir)])

    def pending_moves(self, channel_id: int) -> list[Move]:
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(pending_moves.c.source, pending_moves.c.target)
                .where(pending_moves.c.channel_id == channel_id)
                .order_by(pending_moves.c.source)
            ).all()
        return [Move(source, target) for source, target in rows]

    def forget_moves(
        self, channel_id: int, moves: Iterable[Move], mtimes: dict[str, int] | None = None
    ) -> None:
        """Drop finished moves; `mtimes` (target key -> mtime_ns after the move) corrects the
        rows of moved artifacts (`subdir/filename` keys) in the same transaction: a row
        stored before the move holds only a provisional mtime."""
        sources = [m.source for m in moves]
        corrections = [
            {"c": channel_id, "s": subdir, "f": filename, "m": mtime_ns}
            for key, mtime_ns in sorted((mtimes or {}).items())
            for subdir, _, filename in [key.partition("/")]
            if filename and "/" not in filename
        ]
        with self.engine.begin() as conn:
            for chunk in chunks(sources):
                conn.execute(
                    delete(pending_moves).where(
                        pending_moves.c.channel_id == channel_id,
                        pending_moves.c.source.in_(chunk),
                    )
                )
            if corrections:
                conn.execute(
                    update(artifacts)
                    .where(
                        artifacts.c.channel_id == bindparam("c"),
                        artifacts.c.subdir == bindparam("s"),
                        artifacts.c.filename == bindparam("f"),
                    )
                    .values(mtime_ns=bindparam("m")),
                    corrections,
                )

    # --- reads --------------------------------------------------------------------------------

    def names_for_filenames(
        self, channel_id: int, subdir: str, filenames: Iterable[str]
    ) -> set[str]:
        query = select(artifacts.c.name).where(_in_subdir(channel_id, subdir))
        with self.reader.connect() as conn:
            return {r[0] for r in rows_in(conn, query, artifacts.c.filename, filenames)}

    def filenames_for_names(self, channel_id: int, subdir: str, names: Iterable[str]) -> list[str]:
        query = select(artifacts.c.filename).where(_in_subdir(channel_id, subdir))
        with self.reader.connect() as conn:
            return sorted(r[0] for r in rows_in(conn, query, artifacts.c.name, names))

    def records_for_filenames(
        self, channel_id: int, subdir: str, filenames: Iterable[str]
    ) -> list[tuple[str, bytes]]:
        query = select(artifacts.c.filename, artifacts.c.record).where(
            _in_subdir(channel_id, subdir)
        )
        with self.reader.connect() as conn:
            return [(f, bytes(r)) for f, r in rows_in(conn, query, artifacts.c.filename, filenames)]

    def names_in_subdir(self, channel_id: int, subdir: str) -> set[str]:
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(artifacts.c.name).distinct().where(_in_subdir(channel_id, subdir))
            ).all()
        return {r[0] for r in rows}

    def names_in_channel(self, channel_id: int) -> set[str]:
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(artifacts.c.name).distinct().where(artifacts.c.channel_id == channel_id)
            ).all()
        return {r[0] for r in rows}

    def yanked_filenames(self, channel_id: int, subdir: str) -> list[str]:
        query = select(artifacts.c.filename).where(
            _in_subdir(channel_id, subdir), artifacts.c.yanked.is_(True)
        )
        with self.reader.connect() as conn:
            return sorted(row[0] for row in conn.execute(query))

    def artifact(self, channel_id: int, subdir: str, filename: str) -> ArtifactRow | None:
        """One artifact as stored (for copying it to another channel)."""
        columns = [artifacts.c[name] for name in ArtifactRow.__dataclass_fields__]
        query = select(*columns).where(
            _in_subdir(channel_id, subdir), artifacts.c.filename == filename
        )
        with self.reader.connect() as conn:
            row = conn.execute(query).first()
        return ArtifactRow(*row) if row is not None else None

    def repodata_removed(self, channel_id: int, subdir: str) -> list[str]:
        """The filenames repodata lists as `removed`: once in the subdir, gone since."""
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(removed.c.filename).where(
                    removed.c.channel_id == channel_id, removed.c.subdir == subdir
                )
            ).all()
        return sorted(r[0] for r in rows)

    def count_artifacts(self, channel_id: int, subdir: str | None = None) -> int:
        query = (
            select(func.count()).select_from(artifacts).where(artifacts.c.channel_id == channel_id)
        )
        if subdir is not None:
            query = query.where(artifacts.c.subdir == subdir)
        with self.reader.connect() as conn:
            return int(conn.execute(query).scalar_one())


def _in_subdir(channel_id: int, subdir: str) -> ColumnElement[bool]:
    return and_(artifacts.c.channel_id == channel_id, artifacts.c.subdir == subdir)


def _write_subdir_changes(
    conn: Connection, channel_id: int, change: SubdirChanges, stamp: int
) -> None:
    conn.execute(
        insert_ignore(conn.dialect.name, subdirs).values(
            channel_id=channel_id, subdir=change.subdir, dirty=change.changes_records
        )
    )
    if change.upserts:
        _upsert(conn, channel_id, change.subdir, change.upserts, stamp)
    where = _in_subdir(channel_id, change.subdir)
    for filename, size, mtime_ns in change.touched:
        conn.execute(
            update(artifacts)
            .where(where, artifacts.c.filename == filename)
            .values(size=size, mtime_ns=mtime_ns)
        )
    if change.removed:
        _remove(conn, channel_id, change.subdir, change.removed)
    for filename, yanked in change.yanks.items():
        conn.execute(
            update(artifacts).where(where, artifacts.c.filename == filename).values(yanked=yanked)
        )
    if change.changes_records:
        conn.execute(
            update(subdirs)
            .where(subdirs.c.channel_id == channel_id, subdirs.c.subdir == change.subdir)
            .values(dirty=True)
        )


def _upsert(
    conn: Connection, channel_id: int, subdir: str, rows: list[ArtifactRow], stamp: int
) -> None:
    """Replace rows by filename; a re-added filename leaves repodata `removed`. A row replaced
    by other bytes goes to the history (it left the channel now)."""
    filenames = [r.filename for r in rows]
    new_hashes = {r.filename: r.sha256 for r in rows}
    _to_history(conn, channel_id, subdir, filenames, stamp, keep_if=new_hashes)
    for chunk in chunks(filenames):
        conn.execute(
            delete(artifacts).where(_in_subdir(channel_id, subdir), artifacts.c.filename.in_(chunk))
        )
        conn.execute(
            delete(removed).where(
                removed.c.channel_id == channel_id,
                removed.c.subdir == subdir,
                removed.c.filename.in_(chunk),
            )
        )
    values = [_artifact_values(channel_id, subdir, row, stamp) for row in rows]
    for chunk in chunks(values):
        conn.execute(artifacts.insert(), chunk)


def _artifact_values(channel_id: int, subdir: str, r: ArtifactRow, stamp: int) -> dict[str, Any]:
    r.indexed_timestamp = r.indexed_timestamp or stamp
    return {
        "channel_id": channel_id,
        "subdir": subdir,
        "filename": r.filename,
        "name": r.name,
        "version": r.version,
        "build": r.build,
        "size": r.size,
        "mtime_ns": r.mtime_ns,
        "sha256": r.sha256,
        "md5": r.md5,
        "indexed_timestamp": r.indexed_timestamp,
        "record": r.record,
        "patched": None,
        "patch_removed": False,
        "run_exports": r.run_exports,
        "about": r.about,
        "path_flags": r.path_flags,
        "icon_sha256": r.icon_sha256,
        "origin": r.origin,
    }


def _remove(conn: Connection, channel_id: int, subdir: str, gone: list[str]) -> None:
    """Drop rows (into the history) and remember their filenames for repodata `removed`."""
    _to_history(conn, channel_id, subdir, gone, now_ms())
    for chunk in chunks(gone):
        conn.execute(
            delete(artifacts).where(_in_subdir(channel_id, subdir), artifacts.c.filename.in_(chunk))
        )
    known_removed = select(removed.c.filename).where(
        removed.c.channel_id == channel_id, removed.c.subdir == subdir
    )
    existing = {r[0] for r in rows_in(conn, known_removed, removed.c.filename, gone)}
    fresh = [
        {"channel_id": channel_id, "subdir": subdir, "filename": f}
        for f in sorted(set(gone) - existing)
    ]
    for chunk in chunks(fresh):
        conn.execute(removed.insert(), chunk)


def _to_history(
    conn: Connection,
    channel_id: int,
    subdir: str,
    filenames: list[str],
    stamp: int,
    keep_if: dict[str, str] | None = None,
) -> None:
    """Copy the rows of `filenames` into `artifact_history` as leaving at `stamp`, except those
    whose sha256 is `keep_if[filename]` (the same bytes stay: nothing left)."""
    query = select(
        artifacts.c.filename, artifacts.c.sha256, artifacts.c.indexed_timestamp, artifacts.c.record
    ).where(_in_subdir(channel_id, subdir))
    leaving = [
        {
            "channel_id": channel_id,
            "subdir": subdir,
            "filename": filename,
            "sha256": sha256,
            "indexed_timestamp": indexed,
            "removed_at": stamp,
            "record": record,
        }
        for filename, sha256, indexed, record in rows_in(
            conn, query, artifacts.c.filename, filenames
        )
        if keep_if is None or keep_if.get(filename) != sha256
    ]
    for chunk in chunks(leaving):
        conn.execute(artifact_history.insert(), chunk)
