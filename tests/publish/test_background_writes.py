"""The `Publisher` on a bucket overlaps its writes but keeps the orders readers rely on
(publish/writer.py, "barriers"): shards before the shard index that names them, variants before
their document, everything in place before the catalog records hashes; a local store writes in
the caller's order, one at a time."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stockyard.catalog import Catalog, sqlite_url
from stockyard.publish.writer import Publisher
from stockyard.storage import LocalStore


class RecordingStore:
    """A real store that records when each write starts and ends (and can hold some writes
    back a little, so that a write issued too early would visibly start before them)."""

    def __init__(self, inner: Any, slow: tuple[str, ...] = (), fail: str | None = None) -> None:
        self.inner = inner
        self.slow = slow
        self.fail = fail
        self.events: list[tuple[str, str]] = []
        self._guard = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _note(self, event: str, key: str) -> None:
        with self._guard:
            self.events.append((event, key))

    def _write(self, key: str, action: Any) -> None:
        self._note("start", key)
        if any(part in key for part in self.slow):
            time.sleep(0.2)  # held back: what must wait for it would otherwise overtake it
        if self.fail is not None and self.fail in key:
            raise OSError(f"refused {key}")
        action()
        self._note("end", key)

    def put(self, key: str, data: bytes) -> None:
        self._write(key, lambda: self.inner.put(key, data))

    def put_file(self, key: str, source: Path) -> None:
        self._write(key, lambda: self.inner.put_file(key, source))

    def copy(self, source: str, target: str) -> None:
        self._write(target, lambda: self.inner.copy(source, target))

    def position(self, event: str, key: str) -> int:
        return self.events.index((event, key))


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    catalog = Catalog.open(sqlite_url(tmp_path / "catalog.db"))
    catalog.create_channel("main")
    yield catalog
    catalog.close()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_shards_land_before_the_index_that_names_them(s3_store: Any, catalog: Catalog) -> None:
    store = RecordingStore(s3_store, slow=("shards/",))
    publisher = Publisher(catalog, store, catalog.require_channel("main").id)  # type: ignore[arg-type]
    assert publisher.background
    shards = [f"linux-64/shards/{i:064x}.msgpack.zst" for i in range(3)]
    for key in shards:
        assert publisher.write_if_absent(key, key.encode(), _digest(key.encode()))
    publisher.write("linux-64/repodata_shards.msgpack.zst", b"index")
    publisher.write("linux-64/index.html", b"<html>")
    publisher.commit()
    index_start = store.position("start", "linux-64/repodata_shards.msgpack.zst")
    assert all(store.position("end", key) < index_start for key in shards)
    # Files that name no shard wait for them too (rule 1 is simple); everything is in place
    # and recorded once commit() returns.
    assert {s3_store.get(key) for key in shards} == {key.encode() for key in shards}
    assert s3_store.get("linux-64/repodata_shards.msgpack.zst") == b"index"
    recorded = catalog.published_hashes(catalog.require_channel("main").id)
    assert recorded["linux-64/repodata_shards.msgpack.zst"] == _digest(b"index")
    assert sorted(publisher.changed_keys()) == sorted(
        [*shards, "linux-64/repodata_shards.msgpack.zst", "linux-64/index.html"]
    )


def test_a_document_waits_for_its_variants_and_others_overlap(
    s3_store: Any, catalog: Catalog
) -> None:
    store = RecordingStore(s3_store, slow=(".zst", ".gz"))
    publisher = Publisher(catalog, store, catalog.require_channel("main").id)  # type: ignore[arg-type]
    publisher.write("linux-64/repodata.json.zst", b"zst")
    publisher.write("linux-64/repodata.json.gz", b"gz")
    publisher.write("linux-64/repodata.json", b"{}")
    publisher.write("linux-64/index.html", b"<html>")  # no variant: not held back
    publisher.commit()
    document = store.position("start", "linux-64/repodata.json")
    assert store.position("end", "linux-64/repodata.json.zst") < document
    assert store.position("end", "linux-64/repodata.json.gz") < document
    # Overlapped: index.html started before the slow variants finished.
    assert store.position("start", "linux-64/index.html") < store.position(
        "end", "linux-64/repodata.json.zst"
    )


def test_an_unchanged_file_is_checked_and_repaired_in_the_background(
    s3_store: Any, catalog: Catalog
) -> None:
    channel_id = catalog.require_channel("main").id
    first = Publisher(catalog, s3_store, channel_id)
    first.write("noarch/index.html", b"<html>")
    first.write("noarch/repodata.json", b"{}")
    first.commit()
    s3_store.delete("noarch/index.html")  # by hand, behind the catalog's back
    again = Publisher(catalog, s3_store, channel_id)
    assert not again.write("noarch/repodata.json", b"{}")  # recorded: checked, not sent
    again.write("noarch/index.html", b"<html>")
    again.commit()
    assert s3_store.get("noarch/index.html") == b"<html>"
    assert again.changed_keys() == ["noarch/index.html"] and again.unchanged == 1


def test_a_failed_write_fails_the_commit_and_records_nothing(
    s3_store: Any, catalog: Catalog
) -> None:
    channel_id = catalog.require_channel("main").id
    store = RecordingStore(s3_store, slow=(".zst",), fail="repodata.json.zst")
    publisher = Publisher(catalog, store, channel_id)  # type: ignore[arg-type]
    publisher.write("linux-64/repodata.json.zst", b"zst")
    publisher.write("linux-64/repodata.json", b"{}")
    publisher.write("linux-64/index.html", b"<html>")
    with pytest.raises(OSError, match="refused"):
        publisher.commit()
    # The document never went out without its variant; what did go out is not recorded, so
    # the next publish writes it again.
    assert ("start", "linux-64/repodata.json") not in store.events
    assert s3_store.stat("linux-64/repodata.json") is None
    assert catalog.published_hashes(channel_id) == {}
    publisher.settle()  # nothing left running


def test_a_large_copy_is_made_server_side_after_its_original(
    s3_store: Any, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockyard.publish import writer

    monkeypatch.setattr(writer, "SERVER_COPY_MIN", 1)
    store = RecordingStore(s3_store, slow=("repodata_from_packages.json",))
    publisher = Publisher(catalog, store, catalog.require_channel("main").id)  # type: ignore[arg-type]
    with publisher.scratch_file(tmp_path / "scratch") as raw:
        raw.write(b'{"packages":{}}')
        publisher.copy_file("linux-64/repodata.json", raw)
        publisher.publish_file("linux-64/repodata_from_packages.json", raw)
    publisher.commit()
    assert s3_store.get("linux-64/repodata.json") == b'{"packages":{}}'
    assert store.position("end", "linux-64/repodata_from_packages.json") < store.position(
        "start", "linux-64/repodata.json"
    )
    assert not list((tmp_path / "scratch").iterdir())  # every scratch name handed over


def test_a_local_store_writes_in_order_in_the_callers_thread(
    tmp_path: Path, catalog: Catalog
) -> None:
    store = RecordingStore(LocalStore(tmp_path / "channel", fsync=False))
    publisher = Publisher(catalog, store, catalog.require_channel("main").id)  # type: ignore[arg-type]
    assert not publisher.background
    caller = threading.current_thread()
    seen: list[threading.Thread] = []
    original = store._note

    def note(event: str, key: str) -> None:
        seen.append(threading.current_thread())
        original(event, key)

    store._note = note  # type: ignore[method-assign]
    publisher.write_if_absent("noarch/shards/a.msgpack.zst", b"a", _digest(b"a"))
    publisher.write("noarch/repodata.json.zst", b"zst")
    publisher.write("noarch/repodata.json", b"{}")
    publisher.commit()
    assert set(seen) == {caller}
    assert [key for event, key in store.events if event == "start"] == [
        "noarch/shards/a.msgpack.zst",
        "noarch/repodata.json.zst",
        "noarch/repodata.json",
    ]
