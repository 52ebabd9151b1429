"""Opening a catalog: SQLite by default (inside the channel), PostgreSQL for scale."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.exc import (
    ArgumentError,
    DisconnectionError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
)

from stockyard.catalog.schema import (
    MIGRATIONS,
    POSTGRESQL_MIGRATIONS,
    SCHEMA_VERSION,
    catalog_info,
    metadata,
)
from stockyard.types.errors import ConfigError, StockyardError


class CatalogError(StockyardError):
    """The catalog database cannot be opened or has an unexpected layout."""

    default_hint = "Check --db-url; a SQLite catalog can be rebuilt by deleting it and reindexing."


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def _configure_sqlite(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers (the server) proceed while the indexer writes; NORMAL sync is durable in WAL
    # mode across process crashes (only an OS crash can lose the last transaction).
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


#: A pooled PostgreSQL connection idle at least this long is checked (`SELECT 1`) when taken
#: from the pool, and replaced if the server dropped it (a restart, a failover, an idle
#: timeout). Checking every checkout (`pool_pre_ping`) costs a round trip per catalog method,
#: about 30 per commit, for connections that were in use a moment ago.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_idle_connections(engine: Engine) -> None:
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # new, or in use a moment ago
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as exc:
            # The pool discards this connection and checks out another (SQLAlchemy's rule).
            raise DisconnectionError(f"a pooled catalog connection is gone: {exc}") from exc


def create_catalog_engine(url: str) -> Engine:
    """An engine for `url`, with the tables created and the schema version checked."""
    try:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, future=True)
            event.listen(engine, "connect", _configure_sqlite)
        else:
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                # Default to psycopg 3, the driver we install, rather than psycopg2.
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            engine = create_engine(url, future=True)
            _ping_idle_connections(engine)
    except (ArgumentError, NoSuchModuleError) as exc:
        shown = redact_db_url(url)
        raise ConfigError(
            f"invalid database URL {shown!r}: {str(exc).replace(url, shown)}",
            hint="Use sqlite:///PATH or postgresql://USER@HOST:PORT/DB",
        ) from exc
    try:
        if not _is_current(engine):
            metadata.create_all(engine)
            _check_version(engine)
    except OperationalError as exc:
        raise CatalogError(f"cannot open catalog {engine.url!r}: {exc.orig}") from exc
    return engine


def _is_current(engine: Engine) -> bool:
    """Whether the catalog exists at this schema version (then opening costs one query, not the
    table-by-table inspection of `create_all`: the indexer opens it on every run)."""
    try:
        with engine.connect() as conn:
            row = conn.execute(
                select(catalog_info.c.value).where(catalog_info.c.key == "schema_version")
            ).first()
    except (OperationalError, ProgrammingError):
        return False  # a new database: no catalog_info table yet
    return row is not None and row[0] == str(SCHEMA_VERSION)


def _check_version(engine: Engine) -> None:
    """Record the schema version of a new catalog; upgrade an older one in place."""
    with engine.begin() as conn:
        row = conn.execute(
            select(catalog_info.c.value).where(catalog_info.c.key == "schema_version")
        ).first()
        if row is None:
            conn.execute(
                catalog_info.insert().values(key="schema_version", value=str(SCHEMA_VERSION))
            )
            return
        found = int(row[0])
        if found > SCHEMA_VERSION:
            raise CatalogError(
                f"the catalog was written by a newer Stockyard (schema {found}, this one "
                f"knows {SCHEMA_VERSION})",
                hint="Upgrade Stockyard.",
            )
        postgres = conn.dialect.name == "postgresql"
        for version in range(found + 1, SCHEMA_VERSION + 1):
            statements = MIGRATIONS.get(version, ())
            if postgres:
                statements += POSTGRESQL_MIGRATIONS.get(version, ())
            for statement in statements:
                conn.exec_driver_sql(statement)
        if found != SCHEMA_VERSION:
            conn.execute(
                catalog_info.update()
                .where(catalog_info.c.key == "schema_version")
                .values(value=str(SCHEMA_VERSION))
            )


def redact_db_url(url: str) -> str:
    """`url` with its password masked, for messages and logs (also when it does not parse)."""
    return re.sub(r"(://[^:/@]*:)[^/]*@", r"\1***@", url)
