"""Many content-addressed files on a local store: written without an fsync each, made durable
by one file system flush before anything else is written (so before the index naming them)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockyard.catalog import Catalog, sqlite_url
from stockyard.publish.writer import FSYNC_EACH_UP_TO, Publisher
from stockyard.storage import LocalStore
from stockyard.storage.local import sync_file_system


class CountingStore(LocalStore):
    """A real local store that logs which kind of write each call was."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.calls: list[tuple[str, str]] = []

    def put(self, key: str, data: bytes) -> None:
        self.calls.append(("put", key))
        super().put(key, data)

    def put_deferred(self, key: str, data: bytes) -> None:
        self.calls.append(("deferred", key))
        super().put_deferred(key, data)

    def sync(self) -> None:
        self.calls.append(("sync", ""))
        super().sync()


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    catalog = Catalog.open(sqlite_url(tmp_path / "catalog.db"))
    yield catalog
    catalog.close()


def _shard(publisher: Publisher, number: int) -> str:
    data = f"shard {number}".encode()
    digest = hashlib.sha256(data).hexdigest()
    key = f"linux-64/shards/{digest}.msgpack.zst"
    publisher.write_if_absent(key, data, digest)
    return key


def test_many_shards_are_flushed_once_before_the_index(catalog: Catalog, tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "channel")
    channel = catalog.ensure_channel("main")
    publisher = Publisher(catalog, store, channel.id)
    keys = [_shard(publisher, n) for n in range(FSYNC_EACH_UP_TO + 12)]
    publisher.write("linux-64/repodata_shards.msgpack.zst", b"the index")
    publisher.commit()
    kinds = [kind for kind, _ in store.calls]
    # The first few (one publish's changed names) as before, the rest deferred, one flush,
    # then the index; nothing left to flush at commit.
    assert kinds == ["put"] * FSYNC_EACH_UP_TO + ["deferred"] * 12 + ["sync", "put"]
    assert all(store.get(key) for key in keys)


def test_a_publish_ending_with_deferred_writes_flushes_them(
    catalog: Catalog, tmp_path: Path
) -> None:
    store = CountingStore(tmp_path / "channel")
    publisher = Publisher(catalog, store, catalog.ensure_channel("main").id)
    for n in range(FSYNC_EACH_UP_TO + 1):
        _shard(publisher, n)
    publisher.settle()  # also what a failed publish runs before the lock is released
    assert store.calls[-1] == ("sync", "")
    publisher.commit()
    assert [kind for kind, _ in store.calls].count("sync") == 1


def test_a_few_shards_are_fsynced_each_and_need_no_flush(catalog: Catalog, tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "channel")
    publisher = Publisher(catalog, store, catalog.ensure_channel("main").id)
    _shard(publisher, 1)
    publisher.write("linux-64/repodata_shards.msgpack.zst", b"the index")
    publisher.commit()
    assert [kind for kind, _ in store.calls] == ["put", "put"]


def test_sync_file_system_flushes_a_directory(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_deferred("a/b.json", b"{}")
    sync_file_system(tmp_path)  # syncfs(2) on Linux: returns once flushed, raises on error
    store.sync()
    assert (tmp_path / "a" / "b.json").read_bytes() == b"{}"
