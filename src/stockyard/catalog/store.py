"""The `Catalog`: what each channel holds. Every method is one transaction."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Engine, and_, bindparam, delete, func, select, update

from stockyard.catalog.db import create_catalog_engine
from stockyard.catalog.schema import (
    artifacts,
    channeldata_entries,
    channels,
    published_files,
    removed,
    shards,
    subdirs,
)
from stockyard.types.errors import Conflict, NotFound
from stockyard.types.identifiers import check_channel_name

#: Rows per statement for bulk writes and IN lists (SQLite allows 32766 variables).
_BATCH = 500


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class Channel:
    id: int
    name: str
    private: bool
    description: str | None
    created_at: int


@dataclass(frozen=True, slots=True)
class FileState:
    """What change detection compares: size and mtime first, sha256 to confirm."""

    size: int
    mtime_ns: int
    sha256: str
    indexed_timestamp: int


@dataclass(slots=True)
class ArtifactRow:
    """One artifact as the indexer stores it (record bytes already encoded)."""

    subdir: str
    filename: str
    name: str
    version: str
    build: str
    size: int
    mtime_ns: int
    sha256: str
    md5: str
    record: bytes
    run_exports: bytes | None = None
    about: bytes | None = None
    path_flags: bytes | None = None
    icon_sha256: str | None = None
    #: CEP 47: the first time this filename was indexed (the caller keeps the old value on a
    #: re-upload, so it is never overwritten). Also inside `record`.
    indexed_timestamp: int = 0
    #: "local" (a file in storage) or "mirror" (a record from upstream repodata).
    origin: str = "local"


class PublishRow(NamedTuple):
    """One artifact as publishing needs it. A tuple, because publishing builds one per artifact
    of a subdir on every change, straight from the database row."""

    filename: str
    name: str
    record: bytes
    patched: bytes | None
    patch_removed: bool
    run_exports: bytes | None
    size: int = 0
    sha256: str = ""
    indexed_timestamp: int = 0

    @property
    def published(self) -> bytes:
        return self.patched if self.patched is not None else self.record

    @property
    def run_exports_entry(self) -> bytes | None:
        """This artifact's entry in run_exports.json (CEP 12)."""
        if self.run_exports is None:
            return None
        return b'{"run_exports":' + self.run_exports + b"}"


@dataclass(frozen=True, slots=True)
class SubdirState:
    dirty: bool
    patch_fingerprint: str | None
    options_fingerprint: str | None
    scan_signature: str | None = None


def _chunks(items: list, size: int = _BATCH) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _rows_in(conn: Any, query: Any, column: Any, values: Iterable[Any]) -> Iterator[Any]:
    """Rows of `query` restricted to `column IN values`, in chunks the database accepts."""
    for chunk in _chunks(sorted(set(values))):
        yield from conn.execute(query.where(column.in_(chunk)))


def _replace_by_key(
    conn: Any,
    table: Any,
    scope: dict[str, Any],
    key: str,
    updates: Mapping[str, dict[str, Any] | None],
) -> None:
    """Replace the rows of `table` within `scope` whose `key` is in `updates` (column values
    for the new row, or None to delete it), in chunks the database accepts."""
    if not updates:
        return
    where = [table.c[column] == value for column, value in scope.items()]
    for chunk in _chunks(list(updates)):
        conn.execute(delete(table).where(*where, table.c[key].in_(chunk)))
    values = [{**scope, key: k, **v} for k, v in updates.items() if v is not None]
    for chunk in _chunks(values):
        conn.execute(table.insert(), chunk)


#: What publishing reads of an artifact, in `PublishRow` field order.
_PUBLISH_COLUMNS = (
    artifacts.c.filename,
    artifacts.c.name,
    artifacts.c.record,
    artifacts.c.patched,
    artifacts.c.patch_removed,
    artifacts.c.run_exports,
    artifacts.c.size,
    artifacts.c.sha256,
    artifacts.c.indexed_timestamp,
)


class Catalog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._c_order = "C" if engine.dialect.name == "postgresql" else None

    @classmethod
    def open(cls, url: str) -> Catalog:
        return cls(create_catalog_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    # --- channels ---------------------------------------------------------------------------

    def create_channel(
        self, name: str, *, private: bool = False, description: str | None = None
    ) -> Channel:
        check_channel_name(name)
        with self.engine.begin() as conn:
            if conn.execute(select(channels.c.id).where(channels.c.name == name)).first():
                raise Conflict(f"channel {name!r} already exists")
            created = now_ms()
            result = conn.execute(
                channels.insert().values(
                    name=name, private=private, description=description, created_at=created
                )
            )
            return Channel(result.inserted_primary_key[0], name, private, description, created)

    def ensure_channel(self, name: str, *, private: bool = False) -> Channel:
        existing = self.get_channel(name)
        if existing is not None:
            return existing
        try:
            return self.create_channel(name, private=private)
        except Conflict:  # created concurrently
            channel = self.get_channel(name)
            assert channel is not None
            return channel

    def get_channel(self, name: str) -> Channel | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(channels).where(channels.c.name == name)).first()
        return Channel(*row) if row else None

    def require_channel(self, name: str) -> Channel:
        channel = self.get_channel(name)
        if channel is None:
            raise NotFound(f"channel {name!r} does not exist")
        return channel

    def list_channels(self) -> list[Channel]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(channels).order_by(channels.c.name)).all()
        return [Channel(*row) for row in rows]

    def set_channel_private(self, channel_id: int, private: bool) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(channels).where(channels.c.id == channel_id).values(private=private)
            )

    # --- artifacts: change detection and ingest -----------------------------------------------

    def known_subdirs(self, channel_id: int) -> list[str]:
        with self.engine.connect() as conn:
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
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {f: FileState(s, m, h, t) for f, s, m, h, t in rows}

    def apply_changes(
        self,
        channel_id: int,
        subdir: str,
        *,
        upserts: Iterable[ArtifactRow] = (),
        touched: Iterable[tuple[str, int, int]] = (),
        removed_filenames: Iterable[str] = (),
        mark_dirty: bool = True,
    ) -> None:
        """Store new and changed artifacts, refresh mtimes, drop removed ones: one transaction.

        Removed filenames are remembered for repodata `removed`; re-adding one takes it off that
        list.
        """
        rows = list(upserts)
        touched = list(touched)
        gone = list(removed_filenames)
        stamp = now_ms()
        where_subdir = and_(artifacts.c.channel_id == channel_id, artifacts.c.subdir == subdir)
        with self.engine.begin() as conn:
            conn.execute(
                _insert_ignore(conn.dialect.name, subdirs).values(
                    channel_id=channel_id, subdir=subdir, dirty=bool(rows or gone)
                )
            )
            if rows:
                names = [r.filename for r in rows]
                for chunk in _chunks(names):
                    conn.execute(
                        delete(artifacts).where(where_subdir, artifacts.c.filename.in_(chunk))
                    )
                    conn.execute(
                        delete(removed).where(
                            removed.c.channel_id == channel_id,
                            removed.c.subdir == subdir,
                            removed.c.filename.in_(chunk),
                        )
                    )
                values = []
                for r in rows:
                    r.indexed_timestamp = r.indexed_timestamp or stamp
                    values.append(
                        {
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
                    )
                for chunk in _chunks(values):
                    conn.execute(artifacts.insert(), chunk)
            for filename, size, mtime_ns in touched:
                conn.execute(
                    update(artifacts)
                    .where(where_subdir, artifacts.c.filename == filename)
                    .values(size=size, mtime_ns=mtime_ns)
                )
            if gone:
                for chunk in _chunks(gone):
                    conn.execute(
                        delete(artifacts).where(where_subdir, artifacts.c.filename.in_(chunk))
                    )
                known_removed = select(removed.c.filename).where(
                    removed.c.channel_id == channel_id, removed.c.subdir == subdir
                )
                existing = {r[0] for r in _rows_in(conn, known_removed, removed.c.filename, gone)}
                fresh = [
                    {"channel_id": channel_id, "subdir": subdir, "filename": f}
                    for f in sorted(set(gone) - existing)
                ]
                for chunk in _chunks(fresh):
                    conn.execute(removed.insert(), chunk)
            if mark_dirty and (rows or gone):
                conn.execute(
                    update(subdirs)
                    .where(subdirs.c.channel_id == channel_id, subdirs.c.subdir == subdir)
                    .values(dirty=True)
                )

    def ensure_subdir(self, channel_id: int, subdir: str) -> None:
        self.apply_changes(channel_id, subdir, mark_dirty=False)

    # --- publishing ---------------------------------------------------------------------------

    def subdir_state(self, channel_id: int, subdir: str) -> SubdirState | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    subdirs.c.dirty,
                    subdirs.c.patch_fingerprint,
                    subdirs.c.options_fingerprint,
                    subdirs.c.scan_signature,
                ).where(subdirs.c.channel_id == channel_id, subdirs.c.subdir == subdir)
            ).first()
        return SubdirState(bool(row[0]), row[1], row[2], row[3]) if row else None

    def subdir_states(self, channel_id: int) -> dict[str, SubdirState]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    subdirs.c.subdir,
                    subdirs.c.dirty,
                    subdirs.c.patch_fingerprint,
                    subdirs.c.options_fingerprint,
                    subdirs.c.scan_signature,
                ).where(subdirs.c.channel_id == channel_id)
            ).all()
        return {r[0]: SubdirState(bool(r[1]), r[2], r[3], r[4]) for r in rows}

    def set_scan_signature(self, channel_id: int, subdir: str, signature: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(subdirs)
                .where(subdirs.c.channel_id == channel_id, subdirs.c.subdir == subdir)
                .values(scan_signature=signature)
            )

    def mark_published(
        self, channel_id: int, subdir: str, patch_fingerprint: str, options_fingerprint: str
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(subdirs)
                .where(subdirs.c.channel_id == channel_id, subdirs.c.subdir == subdir)
                .values(
                    dirty=False,
                    patch_fingerprint=patch_fingerprint,
                    options_fingerprint=options_fingerprint,
                    published_at=now_ms(),
                )
            )

    def mark_dirty(self, channel_id: int, subdir: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(subdirs)
                .where(subdirs.c.channel_id == channel_id, subdirs.c.subdir == subdir)
                .values(dirty=True)
            )

    def _ordered_filename(self):  # type: ignore[no-untyped-def]
        # Published maps are sorted by Python string order; PostgreSQL must not use a locale.
        col = artifacts.c.filename
        return col.collate(self._c_order) if self._c_order else col

    def _publish_query(self, channel_id: int, subdir: str):  # type: ignore[no-untyped-def]
        return (
            select(*_PUBLISH_COLUMNS)
            .where(artifacts.c.channel_id == channel_id, artifacts.c.subdir == subdir)
            .order_by(self._ordered_filename())
        )

    def iter_publish_rows(
        self, channel_id: int, subdir: str, suffix: str | None = None
    ) -> Iterator[PublishRow]:
        """The artifacts of a subdir (ending in `suffix`), ordered by filename, streamed."""
        query = self._publish_query(channel_id, subdir)
        if suffix is not None:
            query = query.where(artifacts.c.filename.endswith(suffix, autoescape=True))
        make = PublishRow._make
        for batch in self._raw_batches(query):
            for row in batch:
                yield make(row)

    def iter_publish_batches(
        self, channel_id: int, subdir: str, suffix: str
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Like `iter_publish_rows`, as batches of plain tuples in `PublishRow` field order
        (the monolithic render unpacks them directly: one object less per artifact)."""
        query = self._publish_query(channel_id, subdir).where(
            artifacts.c.filename.endswith(suffix, autoescape=True)
        )
        return self._raw_batches(query)

    def _raw_batches(self, query: Any, size: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
        """Plain DBAPI tuples in batches, for the one query that reads a whole subdir.

        Publishing reads every row of a subdir on every change; SQLAlchemy row objects would cost
        more than the rest of the render. SQLAlchemy still builds and compiles the SQL; a fresh
        DBAPI cursor runs it (server-side on PostgreSQL, so memory stays flat). The selected
        columns need no result processing: sqlite3 and psycopg 3 return str, int and bytes
        (booleans may come back as 0/1 from SQLite, used only for their truth value).
        """
        with self.engine.connect() as conn:
            compiled = query.compile(dialect=conn.dialect)
            params = compiled.construct_params()
            if compiled.positiontup is not None:
                args: Any = tuple(params[key] for key in compiled.positiontup)
            else:
                args = params
            raw = conn.connection.dbapi_connection
            assert raw is not None
            if conn.dialect.name == "postgresql":
                cursor = raw.cursor(name=f"publish_{id(query):x}")
            else:
                cursor = raw.cursor()
            try:
                cursor.execute(str(compiled), args)
                while batch := cursor.fetchmany(size):
                    yield batch
            finally:
                cursor.close()

    def rows_for_names(
        self, channel_id: int, subdir: str, names: Iterable[str]
    ) -> dict[str, list[PublishRow]]:
        out: dict[str, list[PublishRow]] = {}
        # No ORDER BY: SQLite would then walk the filename index of the whole subdir instead of
        # the name index. The few rows per name are sorted below.
        query = select(*_PUBLISH_COLUMNS).where(
            artifacts.c.channel_id == channel_id, artifacts.c.subdir == subdir
        )
        with self.engine.connect() as conn:
            for row in _rows_in(conn, query, artifacts.c.name, names):
                out.setdefault(row[1], []).append(PublishRow._make(row))
        for rows in out.values():
            rows.sort(key=lambda row: row.filename)
        return out

    def names_for_filenames(
        self, channel_id: int, subdir: str, filenames: Iterable[str]
    ) -> set[str]:
        query = select(artifacts.c.name).where(
            artifacts.c.channel_id == channel_id, artifacts.c.subdir == subdir
        )
        with self.engine.connect() as conn:
            return {r[0] for r in _rows_in(conn, query, artifacts.c.filename, filenames)}

    def set_patched(
        self, channel_id: int, subdir: str, updates: Iterable[tuple[str, bytes | None, bool]]
    ) -> None:
        """Store patch results: (filename, patched bytes or None if unchanged, removed?)."""
        items = list(updates)
        if not items:
            return
        with self.engine.begin() as conn:
            stmt = (
                update(artifacts)
                .where(
                    artifacts.c.channel_id == channel_id,
                    artifacts.c.subdir == subdir,
                    artifacts.c.filename == bindparam("b_filename"),
                )
                .values(patched=bindparam("b_patched"), patch_removed=bindparam("b_removed"))
            )
            for chunk in _chunks(items, 2000):
                conn.execute(
                    stmt,
                    [{"b_filename": f, "b_patched": p, "b_removed": r} for f, p, r in chunk],
                )

    def reset_patches(self, channel_id: int, subdir: str) -> None:
        """Forget every patch result of a subdir (before re-applying changed instructions)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(artifacts)
                .where(
                    artifacts.c.channel_id == channel_id,
                    artifacts.c.subdir == subdir,
                    (artifacts.c.patched.is_not(None)) | (artifacts.c.patch_removed.is_(True)),
                )
                .values(patched=None, patch_removed=False)
            )

    def has_patch_results(self, channel_id: int, subdir: str) -> bool:
        """Whether any record of the subdir is patched or removed by patches."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(artifacts.c.id)
                .where(
                    artifacts.c.channel_id == channel_id,
                    artifacts.c.subdir == subdir,
                    (artifacts.c.patched.is_not(None)) | (artifacts.c.patch_removed.is_(True)),
                )
                .limit(1)
            ).first()
        return row is not None

    def records_for_filenames(
        self, channel_id: int, subdir: str, filenames: Iterable[str]
    ) -> list[tuple[str, bytes]]:
        query = select(artifacts.c.filename, artifacts.c.record).where(
            artifacts.c.channel_id == channel_id, artifacts.c.subdir == subdir
        )
        with self.engine.connect() as conn:
            return [
                (f, bytes(r)) for f, r in _rows_in(conn, query, artifacts.c.filename, filenames)
            ]

    def names_in_subdir(self, channel_id: int, subdir: str) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(artifacts.c.name)
                .distinct()
                .where(artifacts.c.channel_id == channel_id, artifacts.c.subdir == subdir)
            ).all()
        return {r[0] for r in rows}

    def listing(self, channel_id: int, subdir: str) -> list[tuple[str, int, int, str]]:
        """(filename, size, indexed_timestamp, sha256) of every artifact, by filename."""
        with self.engine.connect() as conn:
            return [
                (f, s, t, h)
                for f, s, t, h in conn.execute(
                    select(
                        artifacts.c.filename,
                        artifacts.c.size,
                        artifacts.c.indexed_timestamp,
                        artifacts.c.sha256,
                    )
                    .where(artifacts.c.channel_id == channel_id, artifacts.c.subdir == subdir)
                    .order_by(self._ordered_filename())
                )
            ]

    def removed_filenames(self, channel_id: int, subdir: str) -> list[str]:
        with self.engine.connect() as conn:
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
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # --- shards -------------------------------------------------------------------------------

    def shard_hashes(self, channel_id: int, subdir: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(shards.c.name, shards.c.sha256).where(
                    shards.c.channel_id == channel_id, shards.c.subdir == subdir
                )
            ).all()
        return dict(rows)

    def set_shard_hashes(
        self, channel_id: int, subdir: str, updates: Mapping[str, str | None]
    ) -> None:
        rows = {n: {"sha256": h} if h is not None else None for n, h in updates.items()}
        with self.engine.begin() as conn:
            _replace_by_key(
                conn, shards, {"channel_id": channel_id, "subdir": subdir}, "name", rows
            )

    # --- channeldata --------------------------------------------------------------------------

    def channel_names_summary(self, channel_id: int, names: Iterable[str]):  # type: ignore[no-untyped-def]
        """Everything channeldata needs about `names`: rows of (name, subdir, filename, record,
        patched, about, run_exports, path_flags, icon_sha256)."""
        query = select(
            artifacts.c.name,
            artifacts.c.subdir,
            artifacts.c.filename,
            artifacts.c.record,
            artifacts.c.patched,
            artifacts.c.patch_removed,
            artifacts.c.about,
            artifacts.c.run_exports,
            artifacts.c.path_flags,
            artifacts.c.icon_sha256,
        ).where(artifacts.c.channel_id == channel_id)
        with self.engine.connect() as conn:
            return list(_rows_in(conn, query, artifacts.c.name, names))

    def channeldata_entries(self, channel_id: int) -> dict[str, bytes]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(channeldata_entries.c.name, channeldata_entries.c.entry).where(
                    channeldata_entries.c.channel_id == channel_id
                )
            ).all()
        return {n: bytes(e) for n, e in rows}

    def set_channeldata_entries(self, channel_id: int, updates: Mapping[str, bytes | None]) -> None:
        rows = {n: {"entry": e} if e is not None else None for n, e in updates.items()}
        with self.engine.begin() as conn:
            _replace_by_key(conn, channeldata_entries, {"channel_id": channel_id}, "name", rows)

    # --- published files ----------------------------------------------------------------------

    def published_hashes(
        self, channel_id: int, keys: Iterable[str] | None = None
    ) -> dict[str, str]:
        query = select(published_files.c.key, published_files.c.sha256).where(
            published_files.c.channel_id == channel_id
        )
        with self.engine.connect() as conn:
            if keys is None:
                return dict(conn.execute(query).all())
            out: dict[str, str] = {}
            for chunk in _chunks(list(keys)):
                out.update(conn.execute(query.where(published_files.c.key.in_(chunk))).all())
            return out

    def record_published(self, channel_id: int, entries: Iterable[tuple[str, str, int]]) -> None:
        rows = {k: {"sha256": h, "size": size} for k, h, size in entries}
        with self.engine.begin() as conn:
            _replace_by_key(conn, published_files, {"channel_id": channel_id}, "key", rows)


def _insert_ignore(dialect: str, table):  # type: ignore[no-untyped-def]
    """INSERT that does nothing when the primary key exists (SQLite and PostgreSQL)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()


__all__ = [
    "ArtifactRow",
    "Catalog",
    "Channel",
    "FileState",
    "PublishRow",
    "SubdirState",
]
