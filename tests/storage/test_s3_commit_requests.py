"""What a commit asks of a bucket (moto's S3 server): no listing of staging and trash on every
commit, yet a crash's orphans are still swept; artifacts in place before the repodata that
lists them; a move is a copy and a delete, nothing more."""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stockyard.catalog import Catalog, sqlite_url
from stockyard.index import commit as commit_module
from stockyard.index.commit import STAGING, TRASH
from stockyard.index.manage import ChannelHandle, remove_package
from stockyard.index.upload import ingest_uploads, validate_upload
from stockyard.index.workspace import ChannelWorkspace

from ..index.conftest import build_artifact
from ..publish.test_background_writes import RecordingStore
from ..s3server import S3Server
from .conftest import BUCKET


class Operations:
    """The S3 operations a client sends (botocore's own event: the requests really go out)."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        self._guard = threading.Lock()
        client.meta.events.register("before-call.s3", self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        with self._guard:
            self.names.append(model.name)

    def take(self) -> list[str]:
        with self._guard:
            names, self.names = self.names, []
        return names


@pytest.fixture
def s3_store(s3: S3Server) -> Any:
    """A fresh prefix with S3Store's default thresholds (a move is then one CopyObject)."""
    return s3.store(BUCKET, f"t-{secrets.token_hex(6)}")


@pytest.fixture
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a process that has not committed to any channel yet."""
    monkeypatch.setattr(commit_module, "_last_sweep", {})


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    catalog = Catalog.open(sqlite_url(tmp_path / "catalog.db"))
    catalog.create_channel("main")
    yield catalog
    catalog.close()


def _upload(tmp: Path, catalog: Catalog, store: Any, name: str, version: str = "1.0") -> None:
    artifact = build_artifact(tmp / "built", "linux-64", name, version)
    spooled = tmp / "spool" / artifact.name
    spooled.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(artifact, spooled)
    outcomes = ingest_uploads(
        catalog,
        store,
        catalog.require_channel("main"),
        [validate_upload(artifact.name, spooled)],
        workspace=ChannelWorkspace(tmp / "workspace"),
    )
    assert type(outcomes[0]).__name__ == "UploadResult", outcomes


def test_a_commit_lists_staging_only_when_a_sweep_is_due(
    s3_store: Any, catalog: Catalog, tmp_path: Path, fresh_process: None
) -> None:
    operations = Operations(s3_store.client)
    _upload(tmp_path, catalog, s3_store, "first")
    assert "ListObjectsV2" in operations.take()  # the process's first commit sweeps
    _upload(tmp_path, catalog, s3_store, "second")
    sent = operations.take()
    assert "ListObjectsV2" not in sent
    # The staged upload: one PUT, then moved by a copy and a delete (no HEAD before either:
    # the row's mtime comes from CopyObject's answer).
    assert sent[:3] == ["PutObject", "CopyObject", "DeleteObject"]
    assert sent.count("CopyObject") == sent.count("DeleteObject") == 1


def test_an_uploaded_artifact_is_unchanged_for_the_next_index_run(
    s3_store: Any, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row records the moved object's mtime (S3 gives a copy a LastModified of its own,
    which can be a second later than the staged object's): the next scan reads nothing."""
    from stockyard.index.scan import scan_subdir

    real_copy = s3_store._copy_object

    def copy_a_second_later(src: str, dst: str) -> int | None:
        # S3 stamps whole seconds: cross a second between staging and moving, every time.
        time.sleep(1.0 - (time.time() % 1.0) + 0.01)
        return real_copy(src, dst)

    monkeypatch.setattr(s3_store, "_copy_object", copy_a_second_later)
    _upload(tmp_path, catalog, s3_store, "fresh")
    channel = catalog.require_channel("main")
    listed = s3_store.file_sizes("linux-64")["fresh-1.0-0.conda"]
    state = catalog.file_states(channel.id, "linux-64")["fresh-1.0-0.conda"]
    assert (state.size, state.mtime_ns) == listed
    scan = scan_subdir(catalog, s3_store, channel.id, "linux-64", None)
    assert scan.to_read == []


def test_orphans_of_a_crash_are_swept_at_first_and_then_periodically(
    s3_store: Any,
    catalog: Catalog,
    tmp_path: Path,
    fresh_process: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What a process killed mid-commit leaves: a staged file whose commit never happened, and
    # a removed artifact moved to the trash but not deleted.
    orphan = f"{STAGING}/linux-64/dead-1.0-0.conda.0a1b2c3d"
    trashed = f"{TRASH}/linux-64/old-1.0-0.conda.4e5f6a7b"
    s3_store.put(orphan, b"staged by a dead upload")
    s3_store.put(trashed, b"removed and committed")
    _upload(tmp_path, catalog, s3_store, "first")  # a restarted process: swept at once
    assert s3_store.stat(orphan) is None and s3_store.stat(trashed) is None
    s3_store.put(orphan, b"another crash, on another replica")
    _upload(tmp_path, catalog, s3_store, "second")  # not due yet: only costs space
    assert s3_store.stat(orphan) is not None
    monkeypatch.setattr(commit_module, "SWEEP_SECONDS", 0.0)
    _upload(tmp_path, catalog, s3_store, "third")  # due: swept
    assert s3_store.stat(orphan) is None
    assert s3_store.list_dirs(STAGING) == []
    published = s3_store.get("linux-64/repodata.json")
    for name in ("first", "second", "third"):
        assert f"{name}-1.0-0.conda".encode() in published
        assert s3_store.stat(f"linux-64/{name}-1.0-0.conda") is not None


def test_a_removal_deletes_its_trash_without_listing_it(
    s3_store: Any, catalog: Catalog, tmp_path: Path, fresh_process: None
) -> None:
    _upload(tmp_path, catalog, s3_store, "kept")
    _upload(tmp_path, catalog, s3_store, "gone")
    operations = Operations(s3_store.client)
    handle = ChannelHandle(
        catalog.require_channel("main"), s3_store, ChannelWorkspace(tmp_path / "workspace")
    )
    remove_package(catalog, handle, "linux-64", "gone-1.0-0.conda")
    assert "ListObjectsV2" not in operations.take()
    assert s3_store.list_dirs(TRASH) == []  # moved to the trash, then deleted
    assert s3_store.stat("linux-64/gone-1.0-0.conda") is None
    assert s3_store.stat("linux-64/kept-1.0-0.conda") is not None


def test_the_artifact_is_in_place_before_the_repodata_that_lists_it(
    s3_store: Any, catalog: Catalog, tmp_path: Path
) -> None:
    store = RecordingStore(s3_store, slow=("shards/",))
    moved: list[str] = []

    def move(source: str, target: str) -> int | None:
        mtime_ns = s3_store.move(source, target)
        store._note("end", target)
        moved.append(target)
        return mtime_ns

    store.move = move  # type: ignore[method-assign]
    _upload(tmp_path, catalog, store, "listed")
    artifact = "linux-64/listed-1.0-0.conda"
    assert moved == [artifact]
    arrived = store.position("end", artifact)
    for key in ("linux-64/repodata.json", "linux-64/repodata_shards.msgpack.zst"):
        assert arrived < store.position("start", key)
    shards = [k for e, k in store.events if e == "end" and "/shards/" in k]
    index = store.position("start", "linux-64/repodata_shards.msgpack.zst")
    assert shards and all(store.position("end", k) < index for k in shards)
    assert b"listed-1.0-0.conda" in s3_store.get("linux-64/repodata.json")


def test_the_cdn_ledger_read_ahead_keeps_every_entry(
    s3_store: Any, catalog: Catalog, tmp_path: Path
) -> None:
    from stockyard.cdn.ledger import read_ledger

    _upload(tmp_path, catalog, s3_store, "one")
    _upload(tmp_path, catalog, s3_store, "two")
    ledger = read_ledger(s3_store)
    assert len(ledger.entries) == 2
    assert ledger.entries[0].revision < ledger.entries[1].revision
    assert "linux-64/two-1.0-0.conda" in ledger.entries[1].keys
    assert "linux-64/repodata.json" in ledger.entries[1].keys


def test_a_move_without_a_head_still_reports_a_missing_source(s3_store: Any) -> None:
    operations = Operations(s3_store.client)
    with pytest.raises(FileNotFoundError):
        s3_store.move("staged/missing.conda", "linux-64/missing.conda")
    with pytest.raises(FileNotFoundError):
        s3_store.copy("staged/missing.conda", "linux-64/missing.conda")
    s3_store.put("staged/x.conda", b"bytes")
    operations.take()
    s3_store.move("staged/x.conda", "linux-64/x.conda")
    assert operations.take() == ["CopyObject", "DeleteObject"]
    assert s3_store.get("linux-64/x.conda") == b"bytes"
    assert s3_store.stat("staged/x.conda") is None
    s3_store.move("linux-64/x.conda", "linux-64/x.conda")  # onto itself: nothing to do
    assert s3_store.get("linux-64/x.conda") == b"bytes"


class KeyedOperations(Operations):
    """The operations with the key each one names."""

    def _seen(self, model: Any, params: dict[str, Any] | None = None, **_: Any) -> None:
        with self._guard:
            # `params` is the serialized request here: its URL path names bucket and key.
            self.names.append(f"{model.name} {(params or {}).get('url_path', '')}")


def test_a_changed_shard_is_sent_without_asking_first(
    s3_store: Any, catalog: Catalog, tmp_path: Path
) -> None:
    def shard_requests(kind: str) -> list[str]:
        return [s.split(" ", 1)[1] for s in sent if s.startswith(kind) and "/shards/" in s]

    operations = KeyedOperations(s3_store.client)
    # Nothing recorded for the subdir yet (a first publish, a restore): shards are looked for.
    _upload(tmp_path, catalog, s3_store, "grows", "1.0")
    sent = operations.take()
    assert shard_requests("HeadObject") == shard_requests("PutObject")
    # A changed shard and a new name's shard are sent at once: only the same bytes can be
    # there already, and sending them again is harmless.
    _upload(tmp_path, catalog, s3_store, "grows", "2.0")
    _upload(tmp_path, catalog, s3_store, "newcomer", "1.0")
    sent = operations.take()
    puts = shard_requests("PutObject")
    assert len(puts) == 2
    assert shard_requests("HeadObject") == []
    for path in puts:
        assert s3_store.get("linux-64/shards/" + path.rsplit("/", 1)[1])
