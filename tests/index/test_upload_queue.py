"""Group commit across replicas (stockyard.index.upload_queue): uploads queued by any replica
are committed by whichever one holds the channel's lock, in one batch (real PostgreSQL)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockyard.catalog import Catalog
from stockyard.catalog.coordination import PostgresChannelLocks
from stockyard.catalog.upload_queue import QueuedUpload
from stockyard.index import upload_queue
from stockyard.index.commit import ORPHAN_SECONDS, QUEUED, ChannelCommit
from stockyard.index.upload import UploadResult, ValidatedUpload, validate_upload
from stockyard.index.upload_queue import (
    SharedUploads,
    decode_metadata,
    decode_outcome,
    encode_metadata,
    encode_outcome,
)
from stockyard.index.workspace import ChannelWorkspace
from stockyard.package.metadata import ArtifactMetadata, PathFlags
from stockyard.package.read import read_artifact
from stockyard.storage import LocalStore
from stockyard.types.errors import Conflict, InvalidArtifact, LockTimeout, StockyardError
from stockyard.types.problems import Problem
from tests.catalog.conftest import fresh_pg_database

from .conftest import build_artifact

# --- the codecs (pure) ---------------------------------------------------------------------------


def test_metadata_survives_the_queue(tmp_path: Path) -> None:
    artifact = build_artifact(
        tmp_path, "linux-64", "pkg", run_exports={"weak": ["pkg >=1"]}, about={"home": "x"}
    )
    meta = read_artifact(artifact)
    assert decode_metadata(encode_metadata(meta)) == meta


def test_outcomes_survive_the_queue_with_their_class_status_and_hint() -> None:
    result = UploadResult(
        "main",
        "noarch",
        "a-1-0.conda",
        "0" * 64,
        12,
        True,
        0.5,
        [Problem("/x", "legacy", "warning")],
    )
    assert decode_outcome(encode_outcome(result)) == result
    conflict = decode_outcome(encode_outcome(Conflict("exists", hint="bump it")))
    assert type(conflict) is Conflict and conflict.http_status == 409
    assert (conflict.message, conflict.hint) == ("exists", "bump it")
    invalid = decode_outcome(encode_outcome(InvalidArtifact("a.conda", "bad", hint="h")))
    assert type(invalid) is InvalidArtifact and str(invalid) == "a.conda: bad"
    raw = json.dumps({"error": {"error": "NoSuchError", "message": "m", "hint": "h"}}).encode()
    unknown = decode_outcome(raw)
    assert type(unknown) is StockyardError and unknown.message == "m"


# --- replicas on one PostgreSQL ------------------------------------------------------------------


@dataclass
class Deployment:
    url: str
    root: Path  # the shared store (a bucket, here a directory)
    tmp: Path
    catalogs: list[Catalog]
    locks: list[PostgresChannelLocks]

    def replica(self, n: int, lock_timeout: float = 10) -> SharedUploads:
        catalog = Catalog.open(self.url)
        locks = PostgresChannelLocks(self.url)
        self.catalogs.append(catalog)
        self.locks.append(locks)
        workspace = ChannelWorkspace(self.tmp / f"replica{n}", locks, "main")
        channel = catalog.get_channel("main")
        assert channel is not None
        return SharedUploads(
            catalog, LocalStore(self.root), channel, workspace, lock_timeout=lock_timeout
        )

    def upload(self, name: str, payload: bytes = b"data\n") -> ValidatedUpload:
        built = build_artifact(self.tmp / "built" / name, "noarch", name, payload=payload)
        spooled = self.tmp / "spool" / f"{name}-{time.monotonic_ns()}.part"
        spooled.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, spooled)
        return validate_upload(built.name, spooled)

    def published(self) -> set[str]:
        repodata = json.loads((self.root / "noarch/repodata.json").read_bytes())
        return set(repodata["packages.conda"])

    def queue_states(self) -> list[str]:
        from sqlalchemy import select

        from stockyard.catalog.schema import upload_queue as table

        with self.catalogs[0].engine.connect() as conn:
            return [row[0] for row in conn.execute(select(table.c.state).order_by(table.c.id))]


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with fresh_pg_database() as url:
        first = Catalog.open(url)
        first.create_channel("main")
        found = Deployment(url, tmp_path / "store", tmp_path, [first], [])
        try:
            yield found
        finally:
            for catalog in found.catalogs:
                catalog.close()
            for locks in found.locks:
                locks.dispose()


class CountCommits:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[int] = []
        original = ChannelCommit.commit_or_report

        def counted(commit: ChannelCommit, changes):  # type: ignore[no-untyped-def]
            self.calls.append(sum(len(s.upserts) for s in changes.subdirs))
            return original(commit, changes)

        monkeypatch.setattr(ChannelCommit, "commit_or_report", counted)


def _in_thread(
    commit: SharedUploads, uploads: list[ValidatedUpload]
) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []

    def run() -> None:
        try:
            out.extend(commit(lambda: uploads))
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def _wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_uploads_waiting_on_two_replicas_are_committed_in_one_batch(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = CountCommits(monkeypatch)
    one, two = deployment.replica(1), deployment.replica(2)
    other_writer = PostgresChannelLocks(deployment.url)
    deployment.locks.append(other_writer)
    with other_writer.hold("main", timeout=5):  # e.g. an index run publishing meanwhile
        first = _in_thread(one, [deployment.upload("alpha"), deployment.upload("beta")])
        _wait_for(lambda: len(deployment.queue_states()) == 2)
        second = _in_thread(two, [deployment.upload("gamma")])
        _wait_for(lambda: len(deployment.queue_states()) == 3)
    for thread, _ in (first, second):
        thread.join(20)
    assert [type(o) for o in first[1]] == [UploadResult, UploadResult]
    assert [type(o) for o in second[1]] == [UploadResult]
    assert commits.calls == [3]  # one leader committed all three
    assert deployment.published() == {"alpha-1.0-0.conda", "beta-1.0-0.conda", "gamma-1.0-0.conda"}
    assert deployment.queue_states() == []  # every replica collected and forgot its rows
    assert not any((deployment.root / QUEUED).rglob("*.conda*"))  # every queued object moved


def test_uploads_another_replica_committed_are_answered_before_leading_again(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica whose uploads were committed by another gets the lock when that leader lets go;
    it answers them at once, not after committing what was queued since."""
    commits = CountCommits(monkeypatch)
    one, two = deployment.replica(1), deployment.replica(2)
    waiting = two.queue([deployment.upload("gamma")])
    assert isinstance(one(lambda: [deployment.upload("alpha")])[0], UploadResult)
    assert commits.calls == [2]  # alpha and gamma, led by replica one
    later = one.queue([deployment.upload("delta")])  # queued since; nobody leads yet
    answered = two.settle(lambda: [i for i in waiting])  # the lock is free: it comes at once
    assert [type(o) for o in answered.values()] == [UploadResult]
    assert commits.calls == [2]  # gamma answered without a commit of delta first
    assert deployment.queue_states() == ["waiting"]
    assert isinstance(one.settle(lambda: later)[later[0]], UploadResult)
    assert commits.calls == [2, 1]
    assert deployment.published() >= {"alpha-1.0-0.conda", "gamma-1.0-0.conda", "delta-1.0-0.conda"}


def test_refusals_reach_the_replica_that_queued_them(deployment: Deployment) -> None:
    one, two = deployment.replica(1), deployment.replica(2)
    assert isinstance(one(lambda: [deployment.upload("alpha")])[0], UploadResult)
    # the same file again through the other replica: a Conflict with its hint
    (again,) = two(lambda: [deployment.upload("alpha")])
    assert isinstance(again, Conflict) and "same content" in again.message
    assert deployment.queue_states() == []
    assert not any((deployment.root / QUEUED).rglob("*.conda*"))  # the refused object is gone


def test_a_replica_whose_wait_runs_out_withdraws_its_uploads(deployment: Deployment) -> None:
    patient = deployment.replica(1, lock_timeout=0.4)
    holder = PostgresChannelLocks(deployment.url)
    deployment.locks.append(holder)
    with holder.hold("main", timeout=5):
        outcomes = patient(lambda: [deployment.upload("alpha"), deployment.upload("beta")])
    assert [type(o) for o in outcomes] == [LockTimeout, LockTimeout]
    assert "another replica is publishing" in str(outcomes[0])
    assert deployment.queue_states() == []
    assert not any((deployment.root / QUEUED).rglob("*.conda*"))
    # nothing was published and the next upload commits normally
    assert isinstance(patient(lambda: [deployment.upload("gamma")])[0], UploadResult)
    assert deployment.published() == {"gamma-1.0-0.conda"}


def test_uploads_claimed_by_a_leader_that_died_are_judged_by_the_next(
    deployment: Deployment,
) -> None:
    catalog = deployment.catalogs[0]
    channel = catalog.get_channel("main")
    assert channel is not None
    store = LocalStore(deployment.root)
    orphan = deployment.upload("orphan")
    key = f"{QUEUED}/noarch/{orphan.filename}.dead"
    store.put_file(key, orphan.temp_path)
    queued = QueuedUpload("noarch", orphan.filename, key, False, encode_metadata(orphan.meta))
    (orphan_id,) = catalog.queue_uploads(channel.id, [queued])
    catalog.claim_uploads(channel.id)  # a leader claimed it, then died before storing
    assert deployment.queue_states() == ["claimed"]
    (mine,) = deployment.replica(1)(lambda: [deployment.upload("mine")])
    assert isinstance(mine, UploadResult)
    assert deployment.published() == {"orphan-1.0-0.conda", "mine-1.0-0.conda"}
    outcome = catalog.upload_outcomes([orphan_id])[orphan_id]
    assert outcome is not None and isinstance(decode_outcome(outcome), UploadResult)


def test_uploads_stored_by_a_leader_that_died_are_answered_after_the_next_publish(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    leader = deployment.replica(1)
    original = Catalog.finish_uploads

    def die(self: Catalog, outcomes: dict[int, bytes]) -> None:
        raise KeyboardInterrupt  # the leader's process ends after its catalog commit

    monkeypatch.setattr(Catalog, "finish_uploads", die)
    with pytest.raises(KeyboardInterrupt):
        leader(lambda: [deployment.upload("alpha")])
    monkeypatch.setattr(Catalog, "finish_uploads", original)
    assert deployment.queue_states() == []  # forgot its own row on the way out
    # a follower's stored row (queued by replica 2 while replica 1 led) survives a dead leader
    catalog = deployment.catalogs[0]
    channel = catalog.get_channel("main")
    assert channel is not None
    follower = deployment.upload("beta")
    store = LocalStore(deployment.root)
    key = f"{QUEUED}/noarch/{follower.filename}.x"
    store.put_file(key, follower.temp_path)
    (row,) = catalog.queue_uploads(
        channel.id,
        [QueuedUpload("noarch", follower.filename, key, False, encode_metadata(follower.meta))],
    )
    monkeypatch.setattr(Catalog, "finish_uploads", die)
    with pytest.raises(KeyboardInterrupt):
        leader(lambda: [deployment.upload("gamma")])
    monkeypatch.setattr(Catalog, "finish_uploads", original)
    assert deployment.queue_states() == ["stored"]
    deployment.replica(2)(lambda: [deployment.upload("delta")])
    outcome = catalog.upload_outcomes([row])[row]
    assert outcome is not None and isinstance(decode_outcome(outcome), UploadResult)
    assert {"alpha-1.0-0.conda", "beta-1.0-0.conda", "delta-1.0-0.conda"} <= deployment.published()


def test_queued_orphans_are_swept_only_when_old_and_unnamed(deployment: Deployment) -> None:
    catalog = deployment.catalogs[0]
    channel = catalog.get_channel("main")
    assert channel is not None
    store = LocalStore(deployment.root)
    keys = {name: f"{QUEUED}/noarch/{name}.conda.x" for name in ("old", "young", "named")}
    for key in keys.values():
        store.put(key, b"artifact")
    ancient = time.time() - ORPHAN_SECONDS - 60
    for name in ("old", "named"):
        os.utime(deployment.root / keys[name], (ancient, ancient))
    catalog.queue_uploads(
        channel.id, [QueuedUpload("noarch", "named.conda", keys["named"], False, b"{}")]
    )
    workspace = ChannelWorkspace(deployment.tmp / "replica1")
    ChannelCommit.open(catalog, store, channel, workspace).discard_orphans(set())
    left = {p.name for p in (deployment.root / QUEUED / "noarch").iterdir()}
    assert left == {"young.conda.x", "named.conda.x"}


def test_the_leader_purges_rows_nobody_collected(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = deployment.catalogs[0]
    channel = catalog.get_channel("main")
    assert channel is not None
    (stale,) = catalog.queue_uploads(
        channel.id, [QueuedUpload("noarch", "x.conda", f"{QUEUED}/noarch/x", False, b"{}")]
    )
    catalog.finish_uploads({stale: b""})
    monkeypatch.setattr(
        upload_queue, "now_ms", lambda: int(time.time() * 1000) + 2 * ORPHAN_SECONDS * 1000
    )
    upload_queue._last_purge.clear()
    deployment.replica(1)(lambda: [deployment.upload("alpha")])
    assert deployment.queue_states() == []


def test_a_queued_upload_that_cannot_be_read_is_refused_alone(deployment: Deployment) -> None:
    catalog = deployment.catalogs[0]
    channel = catalog.get_channel("main")
    assert channel is not None
    store = LocalStore(deployment.root)
    key = f"{QUEUED}/noarch/bad-1.0-0.conda.x"
    store.put(key, b"artifact")
    bad = QueuedUpload("noarch", "bad-1.0-0.conda", key, False, b'{"filename": 3}')
    (bad_id,) = catalog.queue_uploads(channel.id, [bad])
    (mine,) = deployment.replica(1)(lambda: [deployment.upload("mine")])
    assert isinstance(mine, UploadResult)  # the bad row did not fail the batch
    raw = catalog.upload_outcomes([bad_id])[bad_id]
    assert raw is not None
    refused = decode_outcome(raw)
    assert isinstance(refused, InvalidArtifact) and "queued metadata" in str(refused)
    assert not (deployment.root / key).exists()
    assert deployment.published() == {"mine-1.0-0.conda"}


# --- property: whatever validation read crosses the queue unchanged -----------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # also beyond 64 bits: msgspec reads and writes them
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    index=st.dictionaries(st.text(max_size=12), _json_values, max_size=8),
    icon=st.none() | st.binary(max_size=64),
    recipe=st.dictionaries(st.text(min_size=1, max_size=12), st.binary(max_size=32), max_size=2),
    flags=st.lists(st.booleans(), min_size=7, max_size=7),
)
def test_any_metadata_crosses_the_queue_unchanged(
    index: dict[str, object], icon: bytes | None, recipe: dict[str, bytes], flags: list[bool]
) -> None:
    meta = ArtifactMetadata(
        "pkg-1.0-0.conda",
        "conda",
        123,
        "0" * 32,
        "1" * 64,
        index,
        {"home": "https://example.org"},
        {"weak": ["pkg >=1"]},
        None,
        PathFlags(*flags),
        icon,
        recipe,
    )
    assert decode_metadata(encode_metadata(meta)) == meta
