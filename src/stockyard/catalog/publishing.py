"""What publishing reads and records: subdir state, the rows of a subdir, patch results."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, select, update
from sqlalchemy.sql import Select

from stockyard.catalog.base import CatalogPart, chunks, now_ms, rows_in
from stockyard.catalog.rows import PublishRow, SubdirState
from stockyard.catalog.schema import artifacts, channel_state, channels, subdirs

#: What publishing reads of an artifact, in `PublishRow` field order.
_PUBLISH_COLUMNS = tuple(artifacts.c[name] for name in PublishRow._fields)

_STATE_COLUMNS = (
    subdirs.c.dirty,
    subdirs.c.patch_fingerprint,
    subdirs.c.options_fingerprint,
    subdirs.c.scan_signature,
)


def _state(row: Any) -> SubdirState:
    return SubdirState(bool(row[0]), row[1], row[2], row[3])


def _is_patched() -> ColumnElement[bool]:
    return (artifacts.c.patched.is_not(None)) | (artifacts.c.patch_removed.is_(True))


class PublishingPart(CatalogPart):
    # --- subdir state -------------------------------------------------------------------------

    def subdir_state(self, channel_id: int, subdir: str) -> SubdirState | None:
        return self.subdir_states(channel_id).get(subdir)

    def subdir_states(self, channel_id: int) -> dict[str, SubdirState]:
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(subdirs.c.subdir, *_STATE_COLUMNS).where(subdirs.c.channel_id == channel_id)
            ).all()
        return {r[0]: _state(r[1:]) for r in rows}

    def channels_owing_publish(self) -> list[str]:
        """Names of channels with a publish owed (a dirty subdir or dirty channel files): what a
        crash or a failed publish left; the next commit or server start repairs them."""
        dirty_subdirs = select(subdirs.c.channel_id).where(subdirs.c.dirty.is_(True))
        dirty_files = select(channel_state.c.channel_id).where(
            channel_state.c.files_dirty.is_(True)
        )
        query = (
            select(channels.c.name)
            .where(channels.c.id.in_(dirty_subdirs.union(dirty_files).scalar_subquery()))
            .order_by(channels.c.name)
        )
        with self.reader.connect() as conn:
            return [row[0] for row in conn.execute(query)]

    def set_scan_signature(self, channel_id: int, subdir: str, signature: str | None) -> None:
        self._update_subdir(channel_id, subdir, scan_signature=signature)

    def mark_published(
        self, channel_id: int, subdir: str, patch_fingerprint: str, options_fingerprint: str
    ) -> None:
        self._update_subdir(
            channel_id,
            subdir,
            dirty=False,
            patch_fingerprint=patch_fingerprint,
            options_fingerprint=options_fingerprint,
            published_at=now_ms(),
        )

    def mark_dirty(self, channel_id: int, subdir: str) -> None:
        """Owe a full publish of `subdir` (what a crash mid-commit leaves behind)."""
        self._update_subdir(channel_id, subdir, dirty=True)

    def _update_subdir(self, channel_id: int, subdir: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(subdirs)
                .where(subdirs.c.channel_id == channel_id, subdirs.c.subdir == subdir)
                .values(**values)
            )

    # --- rows ---------------------------------------------------------------------------------

    def _ordered_filename(self) -> Any:
        # Published maps are sorted by Python string order; PostgreSQL must not use a locale.
        col = artifacts.c.filename
        return col.collate("C") if self.engine.dialect.name == "postgresql" else col

    def _publish_query(self, channel_id: int, subdir: str) -> Select[Any]:
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

    def _raw_batches(self, query: Select[Any], size: int = 5000) -> Iterator[list[Any]]:
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
            args: Any = params
            if compiled.positiontup is not None:
                args = tuple(params[key] for key in compiled.positiontup)
            raw: Any = conn.connection.dbapi_connection
            postgres = conn.dialect.name == "postgresql"
            # Binary results on PostgreSQL: the records are bytea, which the text format sends
            # hex-encoded (twice the bytes, decoded here); 400,000 rows read in 0.89 s instead
            # of 1.43 s (BENCHMARKS.md). The values are the same Python types either way.
            cursor = (
                raw.cursor(name=f"publish_{id(query):x}", binary=True) if postgres else raw.cursor()
            )
            try:
                cursor.execute(str(compiled), args)
                fetch = functools.partial(cursor.fetchmany, size)
                # On PostgreSQL the next batch is read while this one is rendered; sqlite3 holds
                # the GIL for most of a fetch, so there a second thread only adds switches
                # (400,000 rows rendered: 1.80 -> 1.66 s on PostgreSQL, 1.57 -> 1.75 s SQLite).
                yield from _read_ahead(fetch, size) if postgres else _batches(fetch, size)
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
        with self.reader.connect() as conn:
            for row in rows_in(conn, query, artifacts.c.name, names):
                publish_row = PublishRow._make(row)
                out.setdefault(publish_row.name, []).append(publish_row)
        for rows in out.values():
            rows.sort(key=lambda row: row.filename)
        return out

    def listing(self, channel_id: int, subdir: str) -> list[tuple[str, int, int, str]]:
        """(filename, size, indexed_timestamp, sha256) of every artifact, by filename."""
        query = (
            select(
                artifacts.c.filename,
                artifacts.c.size,
                artifacts.c.indexed_timestamp,
                artifacts.c.sha256,
            )
            .where(artifacts.c.channel_id == channel_id, artifacts.c.subdir == subdir)
            .order_by(self._ordered_filename())
        )
        with self.reader.connect() as conn:
            return [(f, s, t, h) for f, s, t, h in conn.execute(query)]

    # --- patch results ------------------------------------------------------------------------

    def set_patched(
        self, channel_id: int, subdir: str, updates: Iterable[tuple[str, bytes | None, bool]]
    ) -> None:
        """Store patch results: (filename, patched bytes or None if unchanged, removed?)."""
        items = list(updates)
        if not items:
            return
        stmt = (
            update(artifacts)
            .where(
                artifacts.c.channel_id == channel_id,
                artifacts.c.subdir == subdir,
                artifacts.c.filename == bindparam("b_filename"),
            )
            .values(patched=bindparam("b_patched"), patch_removed=bindparam("b_removed"))
        )
        with self.engine.begin() as conn:
            for chunk in chunks(items, 2000):
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
                    _is_patched(),
                )
                .values(patched=None, patch_removed=False)
            )

    def has_patch_results(self, channel_id: int, subdir: str) -> bool:
        """Whether any record of the subdir is patched or removed by patches."""
        query = (
            select(artifacts.c.id)
            .where(and_(artifacts.c.channel_id == channel_id, artifacts.c.subdir == subdir))
            .where(_is_patched())
            .limit(1)
        )
        with self.reader.connect() as conn:
            return conn.execute(query).first() is not None


def _batches(fetch: Callable[[], list[Any]], size: int) -> Iterator[list[Any]]:
    """The batches `fetch` returns until a short one (exhausted: no extra round trip to learn
    it)."""
    while True:
        batch = fetch()
        if batch:
            yield batch
        if len(batch) < size:
            return


def _read_ahead(fetch: Callable[[], list[Any]], size: int) -> Iterator[list[Any]]:
    """`_batches`, each next one fetched on a thread while the caller renders this one (the
    driver waits for PostgreSQL's answer without the GIL). The cursor is used by one thread at
    a time, and the thread is done before the caller closes it (also when the caller stops
    early)."""
    with ThreadPoolExecutor(1, thread_name_prefix="publish-read-ahead") as pool:
        pending = pool.submit(fetch)

        def fetched() -> list[Any]:
            nonlocal pending
            batch = pending.result()
            if len(batch) == size:  # more may follow: ask for it now
                pending = pool.submit(fetch)
            return batch

        yield from _batches(fetched, size)
