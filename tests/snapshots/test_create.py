"""Snapshots through the channel's `Store`: the same behaviour in a local directory (hard links)
and in a bucket (server-side copies): every published file, shard and artifact copied; later
changes to the channel never reach a snapshot; a failed snapshot leaves nothing; leftovers of a
dead creator are swept; deletion; diffs between views."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from stockyard.catalog import Catalog, Channel, sqlite_url
from stockyard.catalog.coordination import on_local_publish
from stockyard.index.workspace import ChannelWorkspace
from stockyard.publish.shards import render_shard_index, shard_digest
from stockyard.snapshots import (
    create_snapshot,
    delete_snapshot,
    diff_views,
    prune,
    remove_leftovers,
    snapshot_store,
)
from stockyard.storage import Store
from stockyard.types.errors import NotFound

A1, A2, GONE = "a-1.0-0.conda", "a-2.0-0.tar.bz2", "gone-1.0-0.conda"


def _repodata(records: dict[str, dict[str, Any]]) -> bytes:
    conda = {k: v for k, v in records.items() if k.endswith(".conda")}
    bz2 = {k: v for k, v in records.items() if k.endswith(".tar.bz2")}
    document = {"info": {"subdir": "noarch"}, "packages": bz2, "packages.conda": conda}
    return json.dumps(document).encode()


def _publish(store: Store, records: dict[str, dict[str, Any]]) -> dict[str, str]:
    """A published noarch subdir: repodata (+.zst), artifacts, one attestation sidecar, a
    shard index naming one shard per name (plus a stale shard it does not name)."""
    store.put("noarch/repodata.json", _repodata(records))
    store.put("noarch/repodata.json.zst", b"zst of " + _repodata(records))
    for filename in records:
        store.put(f"noarch/{filename}", f"bytes of {filename}".encode())
    store.put(f"noarch/{A1}.v0.sigs", b"[]")
    shard = b"shard of a"
    digests = {"a": shard_digest(shard)}
    store.put(f"noarch/shards/{digests['a']}.msgpack.zst", shard)
    store.put(f"noarch/shards/{'0' * 64}.msgpack.zst", b"stale shard")
    store.put(
        "noarch/repodata_shards.msgpack.zst",
        render_shard_index("noarch", digests, base_url=None, level=3),
    )
    store.put("channeldata.json", b'{"packages": {}}')
    store.put("noarch/notes.txt", b"not published, not copied")
    return digests


@pytest.fixture
def channel(tmp_path: Path) -> tuple[Catalog, Channel, ChannelWorkspace]:
    catalog = Catalog.open(sqlite_url(tmp_path / "catalog.db"))
    found = catalog.create_channel("main")
    yield catalog, found, ChannelWorkspace(tmp_path / "work")  # type: ignore[misc]
    catalog.close()


def _keys(store: Store, prefix: str = "") -> set[str]:
    """Every visible key under `prefix`, recursively."""
    out = {info.key for info in store.list(prefix)}
    for name in store.list_dirs(prefix):
        out |= _keys(store, f"{prefix}/{name}" if prefix else name)
    return out


def test_a_snapshot_copies_what_is_published_and_keeps_it(
    store: Store, channel: tuple[Catalog, Channel, ChannelWorkspace]
) -> None:
    catalog, found, workspace = channel
    digests = _publish(store, {A1: {"depends": ["b"]}, A2: {}, GONE: {}})
    row = create_snapshot(catalog, found, workspace, store=store, description="T1")
    assert row.subdirs == ["noarch"] and row.record_count == 3
    assert [r.id for r in catalog.snapshots(found.id)] == [row.id]
    view = snapshot_store(store, row.id)
    assert _keys(view) == {
        "channeldata.json",
        "noarch/repodata.json",
        "noarch/repodata.json.zst",
        "noarch/repodata_shards.msgpack.zst",
        f"noarch/shards/{digests['a']}.msgpack.zst",
        f"noarch/{A1}",
        f"noarch/{A1}.v0.sigs",
        f"noarch/{A2}",
        f"noarch/{GONE}",
    }
    assert view.get(f"noarch/{A1}") == f"bytes of {A1}".encode()
    if (path := store.local_path(f"noarch/{A1}")) is not None:  # local: links, no bytes
        linked = view.local_path(f"noarch/{A1}")
        assert linked is not None and linked.stat().st_ino == path.stat().st_ino

    # The channel moves on (republished, an artifact removed): the snapshot does not.
    before = view.get("noarch/repodata.json")
    store.put("noarch/repodata.json", _repodata({A1: {"depends": ["b", "c"]}, A2: {}}))
    store.delete(f"noarch/{GONE}")
    assert view.get("noarch/repodata.json") == before
    assert view.get(f"noarch/{GONE}") == f"bytes of {GONE}".encode()

    (diff,) = diff_views(view, store)
    assert diff.subdir == "noarch" and diff.removed == [GONE] and diff.added == []
    assert diff.changed == {A1: {"depends": [["b"], ["b", "c"]]}}
    # nothing of the snapshots folder is taken for a subdir of the live view
    assert [d.subdir for d in diff_views(store, store)] == ["noarch"]


def test_deleting_and_pruning(
    store: Store, channel: tuple[Catalog, Channel, ChannelWorkspace]
) -> None:
    catalog, found, workspace = channel
    _publish(store, {A1: {}})
    ids = []
    for second in range(3):
        stamp = datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC)
        clock = lambda stamp=stamp: stamp  # noqa: E731
        ids.append(create_snapshot(catalog, found, workspace, store=store, clock=clock).id)
    heard: list[str] = []
    unsubscribe = on_local_publish(heard.append)
    try:
        delete_snapshot(catalog, found, workspace, ids[0], store=store)
    finally:
        unsubscribe()
    assert heard == ["main"]  # replicas drop their cached copies of its files
    assert _keys(snapshot_store(store, ids[0])) == set()
    assert _keys(snapshot_store(store, ids[1])) != set()
    with pytest.raises(NotFound):
        delete_snapshot(catalog, found, workspace, ids[0], store=store)
    assert prune(catalog, found, workspace, 1, store=store) == [ids[1]]
    assert [r.id for r in catalog.snapshots(found.id)] == [ids[2]]
    assert store.list_dirs("snapshots") == [ids[2]]


class _FailingCopies:
    """The channel's store, failing its `fail_at`-th copy (a crash or a bucket error halfway)."""

    def __init__(self, store: Store, fail_at: int) -> None:
        self._store, self._left, self.copied = store, fail_at, []

    def copy(self, source: str, target: str) -> None:
        self._left -= 1
        if self._left == 0:
            raise OSError("injected failure")
        self._store.copy(source, target)
        self.copied.append(source)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_failed_snapshot_leaves_nothing(
    store: Store, channel: tuple[Catalog, Channel, ChannelWorkspace]
) -> None:
    catalog, found, workspace = channel
    _publish(store, {A1: {}, A2: {}})
    failing = _FailingCopies(store, fail_at=6)
    with pytest.raises(OSError, match="injected"):
        create_snapshot(catalog, found, workspace, store=failing)  # type: ignore[arg-type]
    assert catalog.snapshots(found.id) == []
    assert _keys(store, "snapshots") == set()
    folder = store.local_path("snapshots")
    assert folder is None or not any(folder.glob("*"))  # no hidden build folder either


def test_published_files_are_copied_after_artifacts_and_repodata_json_last(
    store: Store, channel: tuple[Catalog, Channel, ChannelWorkspace]
) -> None:
    """In a bucket there is no rename into place: what clients read first comes last."""
    catalog, found, workspace = channel
    _publish(store, {A1: {}, A2: {}})
    recording = _FailingCopies(store, fail_at=-1)
    create_snapshot(catalog, found, workspace, store=recording)  # type: ignore[arg-type]
    order = recording.copied
    assert order[-1] == "channeldata.json"
    assert order[-2] == "noarch/repodata.json"
    assert max(order.index(f"noarch/{a}") for a in (A1, A2)) < order.index(
        "noarch/repodata_shards.msgpack.zst"
    )


def test_leftovers_of_a_dead_creator_are_swept_by_the_next_snapshot(
    store: Store, channel: tuple[Catalog, Channel, ChannelWorkspace]
) -> None:
    catalog, found, workspace = channel
    _publish(store, {A1: {}})
    kept = create_snapshot(catalog, found, workspace, store=store)
    store.put("snapshots/20250101T000000Z-abcdef/noarch/repodata.json", b"{}")  # never listed
    store.put("snapshots/by-hand/noarch/repodata.json", b"{}")  # not a snapshot name: kept
    assert remove_leftovers(catalog, found, store) == ["20250101T000000Z-abcdef"]
    store.put("snapshots/20250101T000000Z-abcdef/noarch/repodata.json", b"{}")
    newer = create_snapshot(catalog, found, workspace, store=store)
    assert set(store.list_dirs("snapshots")) == {kept.id, newer.id, "by-hand"}


def test_a_channel_with_nothing_published_has_no_snapshot(
    store: Store, channel: tuple[Catalog, Channel, ChannelWorkspace]
) -> None:
    catalog, found, workspace = channel
    store.put("noarch/a-1.0-0.conda", b"not published yet")
    with pytest.raises(NotFound, match=r"no published repodata\.json"):
        create_snapshot(catalog, found, workspace, store=store)
    assert catalog.snapshots(found.id) == []
