"""Pooled PostgreSQL connections: checked only after being idle (not on every checkout, which
costs a round trip per catalog method), and replaced when the server dropped them."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from stockyard.catalog import Catalog, db

from .conftest import PG_URL, fresh_pg_database


def _terminate_others(url: str) -> int:
    """Drop every connection to `url`'s database but this one (as a restart would)."""
    assert PG_URL is not None
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            name = url.rsplit("/", 1)[1]
            rows = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            ).all()
            return len(rows)
    finally:
        admin.dispose()


def test_a_dropped_idle_connection_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    with fresh_pg_database() as url:
        catalog = Catalog.open(url)
        try:
            channel = catalog.create_channel("main")
            assert _terminate_others(url) >= 1  # the pooled connection is gone
            monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
            assert catalog.require_channel("main").id == channel.id  # checked, replaced
        finally:
            catalog.close()


def test_a_connection_in_use_a_moment_ago_is_not_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with fresh_pg_database() as url:
        catalog = Catalog.open(url)
        try:
            catalog.create_channel("main")
            pings: list[object] = []
            monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
            monkeypatch.setattr(catalog.engine.dialect, "do_ping", pings.append)
            for _ in range(3):
                catalog.require_channel("main")
            assert pings == []
            monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
            catalog.require_channel("main")
            assert len(pings) == 1
        finally:
            catalog.close()


def test_publishing_reads_rows_in_order_from_the_c_collation_index() -> None:
    """PostgreSQL serves `ORDER BY filename COLLATE "C"` from `ix_artifacts_filename_c` (no
    sort of the whole subdir), also in a catalog upgraded from schema 9."""
    with fresh_pg_database() as url:
        Catalog.open(url).close()
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_artifacts_filename_c"))
            conn.execute(text("UPDATE catalog_info SET value='9' WHERE key='schema_version'"))
        catalog = Catalog.open(url)  # upgraded: the index is back
        try:
            query = catalog._publish_query(1, "linux-64")
            compiled = query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
            with engine.begin() as conn:
                conn.execute(text("SET LOCAL enable_seqscan = off"))  # an empty table
                plan = conn.exec_driver_sql(f"EXPLAIN {compiled}").all()
            text_plan = "\n".join(row[0] for row in plan)
            assert "ix_artifacts_filename_c" in text_plan and "Sort" not in text_plan
        finally:
            catalog.close()
            engine.dispose()
