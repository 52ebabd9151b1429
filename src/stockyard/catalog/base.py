"""What every part of the catalog shares: the engine, chunked statements, the clock."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Table, delete
from sqlalchemy.sql import Select

#: Rows per statement for bulk writes and IN lists (SQLite allows 32766 variables).
BATCH = 500


def now_ms() -> int:
    return int(time.time() * 1000)


def chunks(items: list[Any], size: int = BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rows_in(
    conn: Connection, query: Select[Any], column: Any, values: Iterable[Any]
) -> Iterator[Any]:
    """Rows of `query` restricted to `column IN values`, in chunks the database accepts."""
    for chunk in chunks(sorted(set(values))):
        yield from conn.execute(query.where(column.in_(chunk)))


def replace_by_key(
    conn: Connection,
    table: Table,
    scope: dict[str, Any],
    key: str,
    updates: Mapping[str, dict[str, Any] | None],
) -> None:
    """Replace the rows of `table` within `scope` whose `key` is in `updates` (column values
    for the new row, or None to delete it), in chunks the database accepts."""
    if not updates:
        return
    where = [table.c[column] == value for column, value in scope.items()]
    for chunk in chunks(list(updates)):
        conn.execute(delete(table).where(*where, table.c[key].in_(chunk)))
    values = [{**scope, key: k, **v} for k, v in updates.items() if v is not None]
    for chunk in chunks(values):
        conn.execute(table.insert(), chunk)


def insert_ignore(dialect: str, table: Table) -> Insert:
    """INSERT that does nothing when the primary key exists (SQLite and PostgreSQL)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


class CatalogPart:
    """Base of the catalog's parts: each holds one concern's queries over the shared engine."""

    engine: Engine
    #: For reads (`with self.reader.connect()`): on PostgreSQL the same pool in autocommit, so
    #: a read is one round trip instead of three (BEGIN, the query, ROLLBACK on return to the
    #: pool). Under READ COMMITTED, PostgreSQL's default, every statement takes its own
    #: snapshot inside a transaction too, so reads see the same; writes use `engine.begin()`,
    #: and a server-side cursor (`_raw_batches`) needs a transaction. SQLite: the engine.
    reader: Engine
