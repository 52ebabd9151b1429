"""The catalog dump: one read transaction on both engines, every table, typed rows back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stockyard.backup.errors import BackupInvalid
from stockyard.backup.progress import NO_PROGRESS
from stockyard.backup.tables import dump_catalog, iter_rows, read_snapshot, table_of
from stockyard.catalog import Catalog, sqlite_url
from stockyard.catalog.schema import channels, metadata
from tests.catalog.conftest import fresh_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    if request.param == "sqlite":
        opened = Catalog.open(sqlite_url(tmp_path / "catalog.db"))
        yield opened
        opened.close()
        return
    with fresh_pg_database() as url:
        opened = Catalog.open(url)
        yield opened
        opened.close()


def test_the_dump_does_not_see_commits_made_while_it_runs(catalog: Catalog, tmp_path: Path) -> None:
    catalog.create_channel("before")
    with read_snapshot(catalog.engine) as conn:
        catalog.create_channel("during")  # another writer commits; it is not blocked
        catalog.create_token(scope="admin")
        entries = dump_catalog(conn, tmp_path, NO_PROGRESS)
    counts = {entry.name: entry.rows for entry in entries}
    assert counts["channels"] == 1 and counts["tokens"] == 0
    assert set(counts) == set(metadata.tables) - {"upload_queue"}  # transient
    entry = next(e for e in entries if e.name == "channels")
    rows = list(iter_rows(tmp_path / entry.path, channels, entry.columns))
    assert [(row[1], row[2]) for row in rows] == [("before", False)]
    assert len(catalog.list_channels()) == 2


def test_rows_of_the_wrong_type_are_refused(tmp_path: Path) -> None:
    import zstandard

    path = tmp_path / "channels.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(b'["one","main",false,null,1]\n'))
    columns = ["id", "name", "private", "description", "created_at"]
    with pytest.raises(BackupInvalid, match=r"row 1: Expected `int`"):
        list(iter_rows(path, channels, columns))


def test_unknown_tables_and_columns_are_refused() -> None:
    from stockyard.backup.manifest import TableEntry

    with pytest.raises(BackupInvalid, match="does not know"):
        table_of(TableEntry("secrets", "catalog/secrets.jsonl.zst", 0, [], "0" * 64, 0))
    with pytest.raises(BackupInvalid, match="unknown columns"):
        table_of(TableEntry("channels", "catalog/c.jsonl.zst", 0, ["id", "evil"], "0" * 64, 0))
