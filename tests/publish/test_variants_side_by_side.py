"""repodata.json's `.gz` and `.bz2` are compressed on other threads while the `.zst` is made
(publish/subdir.py): the bytes are those of compressing one after the other, every variant is
in place before its document, and a failing compressor publishes neither the document nor a
`.gz` of other bytes."""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

import pytest

from stockyard.index.run import IndexOptions, index_channel
from stockyard.publish import subdir as subdir_module
from stockyard.publish.gz import gzip_bytes
from stockyard.storage import LocalStore
from stockyard.types.encoding import zstd_compress, zstd_decompress
from stockyard.types.policy import PublishOptions
from tests.index.conftest import build_artifact

ALL_VARIANTS = PublishOptions(bz2=True, current_repodata=True, gz=True)


class RecordingStore(LocalStore):
    """A local store that remembers the order in which keys were written."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.order: list[str] = []

    def put(self, key: str, data: bytes) -> None:
        super().put(key, data)
        self.order.append(key)

    def put_file(self, key: str, source: Path) -> None:
        super().put_file(key, source)
        self.order.append(key)


def _index(channel: Path, store: LocalStore) -> None:
    index_channel(channel, IndexOptions(publish=ALL_VARIANTS, workers=1), store=store)


def test_variants_equal_sequential_compression_and_come_first(tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    for number in range(3):
        build_artifact(channel, "linux-64", f"pkg{number}", depends=["python >=3.8"])
    store = RecordingStore(channel)
    _index(channel, store)
    build_artifact(channel, "linux-64", "pkg-new")
    store.order.clear()
    _index(channel, store)

    document = store.get("linux-64/repodata.json")
    assert store.get("linux-64/repodata.json.zst") == zstd_compress(document)
    assert zstd_decompress(store.get("linux-64/repodata.json.zst"), len(document)) == document
    assert store.get("linux-64/repodata.json.gz") == gzip_bytes(document)
    assert gzip.decompress(store.get("linux-64/repodata.json.gz")) == document
    assert store.get("linux-64/repodata.json.bz2") == bz2.compress(document, 9)
    for name in ("repodata.json", "current_repodata.json"):
        key = f"linux-64/{name}"
        variants = [key + suffix for suffix in (".zst", ".gz", ".bz2")]
        written = [variant for variant in variants if variant in store.order]
        assert written, key
        assert all(store.order.index(v) < store.order.index(key) for v in written), store.order


def test_a_failing_compressor_publishes_nothing_of_the_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = tmp_path / "channel"
    build_artifact(channel, "linux-64", "first")
    store = LocalStore(channel)
    _index(channel, store)
    published = store.get("linux-64/repodata.json")
    build_artifact(channel, "linux-64", "second")

    def broken(source: Path, target: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(subdir_module, "gzip_file", broken)
    with pytest.raises(OSError, match="disk full"):
        _index(channel, store)
    assert store.get("linux-64/repodata.json") == published
    assert gzip.decompress(store.get("linux-64/repodata.json.gz")) == published
    monkeypatch.undo()
    _index(channel, store)  # the next run publishes the new record
    assert b"second-1.0-0.conda" in store.get("linux-64/repodata.json")
