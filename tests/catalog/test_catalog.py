"""The catalog on SQLite and PostgreSQL: channels, change sets, ordering, shards."""

from __future__ import annotations

import pytest

from stockyard.catalog import ArtifactRow, Catalog
from stockyard.types.encoding import encode_json
from stockyard.types.errors import Conflict, InvalidIdentifier


def _row(filename: str, *, sha: str = "a", stamp: int = 0, subdir: str = "linux-64") -> ArtifactRow:
    name, version, build = filename.rsplit(".", 1)[0].removesuffix(".tar").rsplit("-", 2)
    record = {"name": name, "version": version, "build": build, "build_number": 0}
    return ArtifactRow(
        subdir=subdir,
        filename=filename,
        name=name,
        version=version,
        build=build,
        size=10,
        mtime_ns=1,
        sha256=sha * 64,
        md5=sha * 32,
        record=encode_json(record),
        indexed_timestamp=stamp,
    )


def test_channels(catalog: Catalog) -> None:
    created = catalog.create_channel("main")
    assert catalog.get_channel("main") == created
    with pytest.raises(Conflict):
        catalog.create_channel("main")
    with pytest.raises(InvalidIdentifier):
        catalog.create_channel("../evil")
    catalog.create_channel("private-one", private=True)
    assert [c.name for c in catalog.list_channels()] == ["main", "private-one"]
    assert catalog.ensure_channel("main").id == created.id


def test_apply_changes_and_state(catalog: Catalog) -> None:
    ch = catalog.create_channel("c")
    catalog.apply_changes(ch.id, "linux-64", upserts=[_row("b-1-0.conda"), _row("a-1-0.tar.bz2")])
    states = catalog.file_states(ch.id, "linux-64")
    assert set(states) == {"a-1-0.tar.bz2", "b-1-0.conda"}
    assert states["a-1-0.tar.bz2"].indexed_timestamp > 0
    # Replacing keeps the timestamp the caller passes (the indexer keeps the first one).
    first = states["b-1-0.conda"].indexed_timestamp
    catalog.apply_changes(ch.id, "linux-64", upserts=[_row("b-1-0.conda", sha="b", stamp=first)])
    again = catalog.file_states(ch.id, "linux-64")["b-1-0.conda"]
    assert again.sha256 == "b" * 64 and again.indexed_timestamp == first
    catalog.apply_changes(ch.id, "linux-64", removed=["a-1-0.tar.bz2"])
    assert catalog.repodata_removed(ch.id, "linux-64") == ["a-1-0.tar.bz2"]
    assert set(catalog.file_states(ch.id, "linux-64")) == {"b-1-0.conda"}
    # Re-adding takes it off `removed`.
    catalog.apply_changes(ch.id, "linux-64", upserts=[_row("a-1-0.tar.bz2")])
    assert catalog.repodata_removed(ch.id, "linux-64") == []
    state = catalog.subdir_state(ch.id, "linux-64")
    assert state is not None and state.dirty
    catalog.mark_published(ch.id, "linux-64", "p", "o")
    state = catalog.subdir_state(ch.id, "linux-64")
    assert state is not None and not state.dirty and state.patch_fingerprint == "p"


def test_publish_rows_are_in_python_string_order(catalog: Catalog) -> None:
    ch = catalog.create_channel("c")
    names = ["z-1-0.conda", "a_b-1-0.conda", "a-b-1-0.conda", "a.b-1-0.conda", "ab-1-0.conda"]
    catalog.apply_changes(ch.id, "noarch", upserts=[_row(n, subdir="noarch") for n in names])
    got = [r.filename for r in catalog.iter_publish_rows(ch.id, "noarch", ".conda")]
    assert got == sorted(names)
    assert list(catalog.iter_publish_rows(ch.id, "noarch", ".tar.bz2")) == []


@pytest.mark.parametrize("count", [0, 3, 4, 5, 9])
def test_publish_batches_end_after_a_short_batch_and_lose_no_row(
    catalog: Catalog, count: int
) -> None:
    ch = catalog.create_channel("c")
    names = [f"p{i}-1-0.conda" for i in range(count)]
    catalog.apply_changes(ch.id, "noarch", upserts=[_row(n, subdir="noarch") for n in names])
    query = catalog._publish_query(ch.id, "noarch")
    batches = list(catalog._raw_batches(query, size=4))
    assert [row[0] for batch in batches for row in batch] == sorted(names)
    assert all(batches) and all(len(b) == 4 for b in batches[:-1])


def test_a_publish_read_stopped_early_leaves_the_catalog_usable(catalog: Catalog) -> None:
    """A render that fails after the first batch closes the read (on PostgreSQL the batch read
    ahead on its thread is waited for first); the next reads work."""
    ch = catalog.create_channel("c")
    names = [f"p{i}-1-0.conda" for i in range(9)]
    catalog.apply_changes(ch.id, "noarch", upserts=[_row(n, subdir="noarch") for n in names])
    query = catalog._publish_query(ch.id, "noarch")
    for _ in range(3):
        batches = catalog._raw_batches(query, size=4)
        assert [row[0] for row in next(batches)] == sorted(names)[:4]
        batches.close()
    assert [row.filename for row in catalog.iter_publish_rows(ch.id, "noarch")] == sorted(names)


def test_publish_batches_hold_the_same_python_values_on_both_databases(
    catalog: Catalog,
) -> None:
    """The monolithic render joins these values as they come (PostgreSQL sends them in binary):
    records as bytes, names as str, numbers as int, on SQLite and PostgreSQL alike."""
    ch = catalog.create_channel("c")
    rows = [_row("a-1-0.conda", subdir="noarch", stamp=7), _row("b-1-0.conda", subdir="noarch")]
    rows[0].run_exports = b'{"weak":["a"]}'
    catalog.apply_changes(ch.id, "noarch", upserts=rows)
    catalog.set_patched(ch.id, "noarch", [("a-1-0.conda", b'{"x":1}', False)])
    (batch,) = catalog.iter_publish_batches(ch.id, "noarch", ".conda")
    first, second = batch
    assert first[:4] == ("a-1-0.conda", "a", rows[0].record, b'{"x":1}')
    assert first[5:] == (b'{"weak":["a"]}', 10, "a" * 64, 7)
    assert not first[4] and second[3] is None and second[5] is None
    assert [type(value) for value in first if not isinstance(value, bool | int)] == [
        str,
        str,
        bytes,
        bytes,
        bytes,
        str,
    ]
    assert type(first[6]) is int and type(first[8]) is int


def test_patches_shards_published(catalog: Catalog) -> None:
    ch = catalog.create_channel("c")
    catalog.apply_changes(ch.id, "noarch", upserts=[_row("a-1-0.conda", subdir="noarch")])
    catalog.set_patched(ch.id, "noarch", [("a-1-0.conda", b'{"x":1}', False)])
    (row,) = catalog.iter_publish_rows(ch.id, "noarch")
    assert row.published == b'{"x":1}'
    catalog.reset_patches(ch.id, "noarch")
    (row,) = catalog.iter_publish_rows(ch.id, "noarch")
    assert row.patched is None and not row.patch_removed
    catalog.set_shard_hashes(ch.id, "noarch", {"a": "f" * 64, "gone": None})
    assert catalog.shard_hashes(ch.id, "noarch") == {"a": "f" * 64}
    catalog.record_published(ch.id, [("noarch/repodata.json", "e" * 64, 5)])
    assert catalog.published_hashes(ch.id) == {"noarch/repodata.json": "e" * 64}
    assert catalog.names_in_subdir(ch.id, "noarch") == {"a"}
    assert catalog.listing(ch.id, "noarch")[0][0] == "a-1-0.conda"


def test_old_catalog_is_upgraded_in_place(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    from stockyard.catalog import sqlite_url

    path = tmp_path / "old.db"
    Catalog.open(sqlite_url(path)).close()
    # Make it look like a version-1 catalog: no scan_signature or yanked column, version 1.
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE subdirs DROP COLUMN scan_signature")
    conn.execute("DROP INDEX ix_artifacts_yanked")
    conn.execute("ALTER TABLE artifacts DROP COLUMN yanked")
    conn.execute("UPDATE catalog_info SET value='1' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    catalog = Catalog.open(sqlite_url(path))
    ch = catalog.create_channel("c")
    catalog.apply_changes(ch.id, "noarch", upserts=[_row("a-1-0.conda", subdir="noarch")])
    catalog.set_scan_signature(ch.id, "noarch", "s" * 64)
    assert catalog.subdir_states(ch.id)["noarch"].scan_signature == "s" * 64
    catalog.close()


def test_forgetting_moves_records_the_moved_artifacts_mtimes(catalog: Catalog) -> None:
    from stockyard.catalog import Move, SubdirChanges

    ch = catalog.create_channel("c")
    moves = [
        Move(".stockyard/staged/linux-64/a-1-0.conda.1", "linux-64/a-1-0.conda"),
        Move(".stockyard/staged/linux-64/b-1-0.conda.2", "linux-64/b-1-0.conda"),
        Move("linux-64/old-1-0.conda", ".stockyard/trash/linux-64/old-1-0.conda.3"),
    ]
    rows = [_row("a-1-0.conda"), _row("b-1-0.conda")]
    catalog.commit_changes(ch.id, [SubdirChanges("linux-64", upserts=rows)], moves)
    assert catalog.pending_moves(ch.id) == sorted(moves, key=lambda m: m.source)
    # b's mtime is unknown (e.g. a multipart copy): its provisional value stays.
    catalog.forget_moves(ch.id, moves, {"linux-64/a-1-0.conda": 7_000_000_000, moves[2].target: 9})
    assert catalog.pending_moves(ch.id) == []
    states = catalog.file_states(ch.id, "linux-64")
    assert states["a-1-0.conda"].mtime_ns == 7_000_000_000
    assert states["b-1-0.conda"].mtime_ns == 1
