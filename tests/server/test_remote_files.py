"""The per-replica copies of bucket files (server/remote_files.py), against moto's S3 server."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from stockyard.server.channel_files import client_is_ahead
from stockyard.server.http_files import OpenFile, etag_for, http_date
from stockyard.server.remote_files import RemoteFiles
from tests.s3server import S3Server, s3_server

SHARD = "noarch/shards/" + "ab" * 32 + ".msgpack.zst"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        server.create_bucket("remote-files")
        yield server


@pytest.fixture
def store(s3: S3Server, request: pytest.FixtureRequest) -> Any:
    return s3.store("remote-files", request.node.name.replace("[", "-").replace("]", ""))


def _read(opened: OpenFile | None) -> bytes:
    assert opened is not None
    try:
        return os.pread(opened.fd, opened.size, 0)
    finally:
        opened.close()


def test_a_trusted_copy_is_served_until_its_channel_is_published(
    store: Any, tmp_path: Path
) -> None:
    files = RemoteFiles(tmp_path / "cache")
    files.listening = lambda: True  # notifications arrive: copies are trusted
    store.put("noarch/repodata.json", b'{"v": 1}')
    assert _read(files.open("main", store, "noarch/repodata.json")) == b'{"v": 1}'
    time.sleep(1.1)  # a new LastModified second
    store.put("noarch/repodata.json", b'{"v": 2}')
    # no notification yet: the copy is still trusted ...
    assert _read(files.open("main", store, "noarch/repodata.json")) == b'{"v": 1}'
    # ... unless the caller asks for a check (a client that is ahead)
    assert _read(files.open("main", store, "noarch/repodata.json", check=True)) == b'{"v": 2}'
    store.put("noarch/repodata.json", b'{"v": 3}!')
    files.invalidate("other")  # another channel's publish changes nothing here
    assert _read(files.open("main", store, "noarch/repodata.json")) == b'{"v": 2}'
    files.invalidate("main")
    assert _read(files.open("main", store, "noarch/repodata.json")) == b'{"v": 3}!'


def test_open_fresh_serves_only_trusted_copies_without_the_bucket(
    store: Any, tmp_path: Path
) -> None:
    files = RemoteFiles(tmp_path / "cache")
    files.listening = lambda: True
    assert files.open_fresh("main", "noarch/repodata.json") is None  # never fetched
    store.put("noarch/repodata.json", b"one")
    assert _read(files.open("main", store, "noarch/repodata.json")) == b"one"
    store.delete("noarch/repodata.json")  # the bucket is not asked: the trusted copy serves
    assert _read(files.open_fresh("main", "noarch/repodata.json")) == b"one"
    files.invalidate("main")  # a publish: no longer trusted, the caller must ask the bucket
    assert files.open_fresh("main", "noarch/repodata.json") is None


def test_without_notifications_copies_are_checked_after_a_second(
    store: Any, tmp_path: Path
) -> None:
    files = RemoteFiles(tmp_path / "cache")
    store.put("noarch/repodata.json", b"old")
    assert _read(files.open("main", store, "noarch/repodata.json")) == b"old"
    time.sleep(1.1)
    store.put("noarch/repodata.json", b"newer")
    assert _read(files.open("main", store, "noarch/repodata.json")) == b"newer"


def test_immutable_files_are_never_checked_and_missing_ones_are_none(
    store: Any, tmp_path: Path
) -> None:
    files = RemoteFiles(tmp_path / "cache")
    store.put(SHARD, b"shard")
    assert _read(files.open("main", store, SHARD)) == b"shard"
    store.delete(SHARD)
    files.invalidate_all()
    assert _read(files.open("main", store, SHARD)) == b"shard"  # content-addressed: kept
    assert files.open("main", store, "noarch/missing.json") is None


def test_the_cache_is_bounded_and_keeps_serving_open_copies(store: Any, tmp_path: Path) -> None:
    files = RemoteFiles(tmp_path / "cache", max_bytes=1500)
    for index in range(4):
        store.put(f"noarch/f{index}.json", bytes([65 + index]) * 1000)
    held = files.open("main", store, "noarch/f0.json")
    for index in range(1, 4):
        _read(files.open("main", store, f"noarch/f{index}.json"))
    assert files.cached_bytes <= 1500
    assert _read(held) == b"A" * 1000  # evicted from the cache, still readable when open
    stored = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in stored) <= 1500


def _request(**headers: str) -> Request:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


def test_a_client_with_other_validators_is_ahead(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    mtime = 1_700_000_000 * 10**9
    opened = OpenFile(-1, 1, mtime, path)
    key = "noarch/repodata.json"
    etag = etag_for(key, 1, mtime)
    assert not client_is_ahead(_request().headers, key, opened)
    assert not client_is_ahead(_request(if_none_match=etag).headers, key, opened)
    assert not client_is_ahead(_request(if_none_match=etag[:-1] + '-gzip"').headers, key, opened)
    assert client_is_ahead(_request(if_none_match='"other"').headers, key, opened)
    assert not client_is_ahead(_request(if_modified_since=http_date(mtime)).headers, key, opened)
    later = http_date(mtime + 5 * 10**9)
    assert client_is_ahead(_request(if_modified_since=later).headers, key, opened)
    assert not client_is_ahead(_request(if_none_match='"other"').headers, SHARD, opened)


def test_a_publish_fetches_again_what_readers_got_lately(
    store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = RemoteFiles(tmp_path / "cache")
    files.listening = lambda: True
    store.put("noarch/repodata.json", b'{"v": 1}')
    store.put("linux-64/repodata.json", b'{"w": 1}')
    store.put(SHARD, b"shard")
    for key in ("noarch/repodata.json", "linux-64/repodata.json", SHARD):
        files.open("main", store, key).close()  # type: ignore[union-attr]
    assert files.refresh("other") == 0  # nothing of it was ever served here
    time.sleep(1.1)  # a new LastModified second
    store.put("noarch/repodata.json", b'{"v": 2}')
    files.invalidate("main")
    assert files.open_fresh("main", "noarch/repodata.json") is None  # stale until checked
    # both mutable copies are looked at again (the shard never changes), newest first
    assert files.refresh("main") == 2
    assert _read(files.open_fresh("main", "noarch/repodata.json")) == b'{"v": 2}'
    assert _read(files.open_fresh("main", "linux-64/repodata.json")) == b'{"w": 1}'
    # copies nobody read lately are left for the next reader
    monkeypatch.setattr("stockyard.server.remote_files.HOT_SECONDS", 0.0)
    time.sleep(0.01)
    files.invalidate("main")
    assert files.refresh("main") == 0
