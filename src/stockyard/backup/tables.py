"""The catalog as portable files, and back.

Every table of `stockyard.catalog.schema.metadata` (enumerated, never listed by hand: a table
added tomorrow is in the next backup) is written as JSON Lines, one row a line as a JSON array in
the manifest's column order (binary columns base64), zstd-compressed: readable with
`zstdcat | jq` and by any engine. All tables are read in ONE read transaction (`read_snapshot`),
so the backup is the catalog at one instant even while uploads commit.

Restore inserts the rows with their ids into an empty catalog of the current schema (SQLite or
PostgreSQL, whichever the backup came from), in one transaction, then moves PostgreSQL's id
sequences past the restored ids.

This module reads and writes the catalog's tables generically through the metadata, outside the
`catalog` package: a deliberate exception to "no SQL outside catalog" (docs/architecture.md),
since a dump is about every table at once rather than one concern's queries.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import zstandard
from sqlalchemy import Connection, Engine, Table, create_engine, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from stockyard.backup.errors import BackupError, BackupInvalid, TargetNotFresh
from stockyard.backup.manifest import CATALOG_DIR, TableEntry, sha256_file
from stockyard.backup.progress import Progress
from stockyard.catalog.schema import catalog_info, metadata

#: Rows fetched per round trip (a server-side cursor on PostgreSQL) and inserted per statement.
BATCH = 1000
SUFFIX = ".jsonl.zst"
#: zstd level of the dumps: fast, and JSON of records compresses about 5x.
ZSTD_LEVEL = 3
#: catalog_info keys restore does not copy: the target's own schema version stands.
_OWN_INFO = frozenset({"schema_version"})


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """One read transaction over the whole catalog. PostgreSQL: REPEATABLE READ, READ ONLY (every
    statement sees the snapshot of the first; concurrent commits are invisible and not blocked).
    SQLite: an explicit BEGIN (the driver would otherwise run each SELECT on its own), pinned by
    a first read; in WAL mode a reader keeps its snapshot until it ends, writers go on."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            pinned = conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            with pinned.begin():
                pinned.execute(select(catalog_info.c.key).limit(1)).all()
                yield pinned
            return
        conn.exec_driver_sql("BEGIN")
        try:
            conn.execute(select(catalog_info.c.key).limit(1)).all()
            yield conn
        finally:
            conn.rollback()


def _encode_hook(value: Any) -> Any:
    if isinstance(value, memoryview):  # some drivers return binary columns as buffers
        return bytes(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def backed_up_tables() -> list[Table]:
    """Every table of the catalog, parents first, except transient ones (the upload queue:
    its rows name staged objects a backup does not copy, and last seconds)."""
    return [t for t in metadata.sorted_tables if not t.info.get("transient")]


def dump_catalog(conn: Connection, directory: Path, progress: Progress) -> list[TableEntry]:
    """Write every table (rows ordered by primary key, so equal catalogs give equal files)."""
    target = directory / CATALOG_DIR
    target.mkdir(parents=True, exist_ok=True)
    tables = backed_up_tables()
    counts = {
        t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables
    }
    progress.phase("catalog rows", sum(counts.values()))
    return [_dump_table(conn, table, target, progress) for table in tables]


def _dump_table(conn: Connection, table: Table, directory: Path, progress: Progress) -> TableEntry:
    path = directory / f"{table.name}{SUFFIX}"
    encoder = msgspec.json.Encoder(enc_hook=_encode_hook)
    query = select(table).order_by(*table.primary_key.columns)
    rows = 0
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    with open(path, "wb") as raw, compressor.stream_writer(raw, closefd=False) as out:
        result = conn.execute(query.execution_options(yield_per=BATCH))
        for batch in result.partitions():
            buffer = bytearray()
            for row in batch:
                encoder.encode_into(tuple(row), buffer, -1)
                buffer += b"\n"
            out.write(buffer)
            rows += len(batch)
            progress.advance(len(batch))
    relative = f"{CATALOG_DIR}/{path.name}"
    # str(): SQLAlchemy's names are `quoted_name`, a str subclass msgspec does not encode.
    columns = [str(column.name) for column in table.columns]
    return TableEntry(
        str(table.name), relative, rows, columns, sha256_file(path), path.stat().st_size
    )


def _column_type(table: Table, name: str) -> Any:
    column = table.c[name]
    kind: Any = column.type.python_type
    return kind | None if column.nullable else kind


def iter_rows(
    path: Path, table: Table, columns: Sequence[str], wanted: Sequence[str] | None = None
) -> Iterator[tuple[Any, ...]]:
    """The rows of a dump as tuples of `wanted` columns (all, in `columns` order, by default),
    each value checked against the column's type (base64 back to bytes)."""
    wanted = list(columns) if wanted is None else list(wanted)
    types = [_column_type(table, c) if c in wanted else msgspec.Raw for c in columns]
    decode = msgspec.json.Decoder(tuple[tuple(types)]).decode  # type: ignore[misc]
    positions = [columns.index(c) for c in wanted]
    with open(path, "rb") as raw:
        reader = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw), 1 << 20)
        for number, line in enumerate(reader, 1):
            try:
                values = decode(line)
            except msgspec.ValidationError as exc:
                raise BackupInvalid(f"{path.name}, row {number}: {exc}") from None
            except msgspec.DecodeError as exc:
                raise BackupInvalid(f"{path.name}, row {number} is not valid: {exc}") from None
            yield tuple(values[i] for i in positions)


def table_of(entry: TableEntry) -> Table:
    """The current schema's table for a dumped one; the backup's columns must all exist and
    every column it lacks must have a default (a backup of an older schema)."""
    table = metadata.tables.get(entry.name)
    if table is None:
        raise BackupInvalid(f"the backup has a table {entry.name!r} this Stockyard does not know")
    unknown = [c for c in entry.columns if c not in table.c]
    if unknown:
        raise BackupInvalid(f"table {entry.name!r} of the backup has unknown columns {unknown}")
    for column in table.columns:
        required = not column.nullable and column.default is None
        if column.name not in entry.columns and required and column.server_default is None:
            raise BackupInvalid(
                f"table {entry.name!r} of the backup lacks the column {column.name!r}",
                hint="Restore it with the Stockyard version that made it, then upgrade.",
            )
    return table


#: Called for every row to restore (column -> value); returns the row to insert, or None to
#: leave it out.
RowTransform = Callable[[str, dict[str, Any]], dict[str, Any] | None]


def load_catalog(
    conn: Connection,
    directory: Path,
    entries: Sequence[TableEntry],
    transform: RowTransform,
    progress: Progress,
) -> dict[str, int]:
    """Insert every dumped table (parents first) inside the caller's transaction; rows
    inserted per table."""
    order = {table.name: index for index, table in enumerate(metadata.sorted_tables)}
    progress.phase("restore catalog rows", sum(e.rows for e in entries))
    inserted: dict[str, int] = {}
    for entry in sorted(entries, key=lambda e: order.get(e.name, len(order))):
        table = table_of(entry)
        count = 0
        batch: list[dict[str, Any]] = []
        for values in iter_rows(directory / entry.path, table, entry.columns):
            row = _restorable(entry.name, dict(zip(entry.columns, values, strict=True)))
            row = transform(entry.name, row) if row is not None else None
            if row is not None:
                batch.append(row)
            if len(batch) >= BATCH:
                count += _insert(conn, table, batch)
            progress.advance(1)
        count += _insert(conn, table, batch)
        inserted[entry.name] = count
    if conn.dialect.name == "postgresql":
        reset_sequences(conn)
    return inserted


def _restorable(table: str, row: dict[str, Any]) -> dict[str, Any] | None:
    if table == catalog_info.name and row.get("key") in _OWN_INFO:
        return None
    return row


def _insert(conn: Connection, table: Table, batch: list[dict[str, Any]]) -> int:
    if not batch:
        return 0
    try:
        conn.execute(table.insert(), batch)
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        raise BackupError(
            f"restoring table {table.name!r} failed: {orig}",
            hint="Nothing of the catalog was restored (one transaction); fix the cause and run "
            "the restore again.",
        ) from None
    count = len(batch)
    batch.clear()
    return count


def reset_sequences(conn: Connection) -> None:
    """Move each id sequence past the largest restored id (inserts with explicit ids leave
    PostgreSQL's sequences at their start, so the next new row would collide)."""
    for table in metadata.sorted_tables:
        column = table.autoincrement_column
        if column is None:
            continue
        largest = select(func.max(column)).scalar_subquery()
        conn.execute(
            select(
                func.setval(
                    func.pg_get_serial_sequence(table.name, column.name),
                    func.coalesce(largest, 1),
                    largest.is_not(None),
                )
            )
        )


def nonempty_tables(conn: Connection) -> dict[str, int]:
    """Row counts of the catalog's tables that hold rows (catalog_info aside)."""
    names = set(inspect(conn).get_table_names())
    counts: dict[str, int] = {}
    for table in metadata.sorted_tables:
        if table.name == catalog_info.name or table.name not in names:
            continue
        count = conn.execute(select(func.count()).select_from(table)).scalar_one()
        if count:
            counts[table.name] = int(count)
    return counts


def check_fresh(conn: Connection, where: str) -> None:
    """TargetNotFresh unless the catalog holds no channel and no other row."""
    counts = nonempty_tables(conn)
    if "channels" in counts:
        raise TargetNotFresh(
            f"the catalog at {where} already has {counts['channels']} channel(s); restore only "
            "into a fresh deployment"
        )
    if counts:
        listed = ", ".join(f"{name} ({rows})" for name, rows in sorted(counts.items()))
        raise TargetNotFresh(f"the catalog at {where} is not empty: {listed}")


def precheck_fresh(url: str) -> None:
    """`check_fresh` without creating anything (the backup is verified before the target is
    touched): an existing catalog is only read; a missing one is fresh."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if not path or path == ":memory:" or not Path(path).exists():
            return
    elif url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # as catalog.db does
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            check_fresh(conn, engine.url.render_as_string(hide_password=True))
    except SQLAlchemyError:
        return  # cannot tell yet; opening the catalog will say what is wrong
    finally:
        engine.dispose()
