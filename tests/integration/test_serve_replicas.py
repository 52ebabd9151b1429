"""Several `stockyard serve` replicas sharing one PostgreSQL catalog and one S3 bucket.

Each replica has its own data directory (spools and caches only). An upload accepted by one is
listed and installable through the other as soon as its 201 arrives (PostgreSQL LISTEN/NOTIFY
drops the other replica's cached repodata); concurrent uploads through both replicas are
serialized by PostgreSQL advisory locks and none is lost; a replica killed with `kill -9`
releases its lock with its session, and the survivor keeps publishing.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from stockyard.catalog.coordination import PostgresChannelLocks
from tests.s3server import S3Server
from tests.server.artifacts import make_artifact
from tests.server.live import LiveServer, admin_token, live_server
from tests.server.rattler_client import solve_and_install
from tests.server.uploading import quetz_upload

pytestmark = pytest.mark.integration

BUCKET = "stockyard-replicas"


def _env(s3: S3Server, database: str) -> dict[str, str]:
    return {
        **s3.environment(),
        "STOCKYARD_DB_URL": database,
        "STOCKYARD_STORAGE_URL": f"s3://{BUCKET}/channels",
    }


def _eventually(condition: Callable[[], bool], bound: float = 15.0) -> bool:
    """Whether `condition` holds within `bound` seconds (a bound for a hung replica, not a
    timing requirement)."""
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _names(server: LiveServer) -> set[str]:
    response = httpx.get(f"{server.url}/main/noarch/repodata.json", timeout=30)
    assert response.status_code == 200
    return {record["name"] for record in response.json()["packages.conda"].values()}


def test_an_upload_to_one_replica_is_served_by_the_other_at_once(
    s3: S3Server, database: str, tmp_path: Path
) -> None:
    env = _env(s3, database)
    with ExitStack() as stack:
        first = stack.enter_context(live_server(tmp_path / "a", env=env))
        token = admin_token(first.banner)
        second = stack.enter_context(live_server(tmp_path / "b", env=env))
        assert _names(second) == set()  # cached by the second replica now
        pkgs = tmp_path / "pkgs"
        for index in range(3):
            artifact = make_artifact(pkgs, f"rep{index}", "1.0")
            with httpx.Client(base_url=first.url, timeout=60) as client:
                assert quetz_upload(client, "main", artifact, token).status_code == 201
            # the 201 came after the publish and its NOTIFY; the other replica drops its copy
            # when the notification arrives (milliseconds; benchmarks/scale.py measures it)
            assert _eventually(lambda n=index: f"rep{n}" in _names(second))
        installed = solve_and_install(f"{second.url}/main", "rep2", tmp_path / "env")
        assert installed == {"rep2": "1.0"}


def test_concurrent_uploads_through_both_replicas_are_all_published(
    s3: S3Server, database: str, tmp_path: Path
) -> None:
    env = _env(s3, database)
    with ExitStack() as stack:
        first = stack.enter_context(live_server(tmp_path / "a", env=env))
        token = admin_token(first.banner)
        second = stack.enter_context(live_server(tmp_path / "b", env=env))
        pkgs = tmp_path / "pkgs"
        artifacts = [make_artifact(pkgs, f"conc{index}", "1.0") for index in range(16)]

        def upload(job: tuple[int, Path]) -> int:
            index, artifact = job
            server = (first, second)[index % 2]
            with httpx.Client(base_url=server.url, timeout=120) as client:
                return int(quetz_upload(client, "main", artifact, token).status_code)

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(upload, enumerate(artifacts)))
        assert statuses == [201] * len(artifacts)
        expected = {f"conc{index}" for index in range(16)}
        assert _names(first) == expected
        assert _names(second) == expected


def test_a_replica_killed_mid_work_leaves_the_channel_writable(
    s3: S3Server, database: str, tmp_path: Path
) -> None:
    env = _env(s3, database)
    with ExitStack() as stack:
        first = stack.enter_context(live_server(tmp_path / "a", env=env))
        token = admin_token(first.banner)
        second = stack.enter_context(live_server(tmp_path / "b", env=env))
        pkgs = tmp_path / "pkgs"
        big = [make_artifact(pkgs, f"kill{index}", "1.0") for index in range(6)]

        def upload(artifact: Path) -> int | None:
            try:
                with httpx.Client(base_url=first.url, timeout=60) as client:
                    return int(quetz_upload(client, "main", artifact, token).status_code)
            except httpx.TransportError:
                return None  # the replica died under this request

        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(upload, artifact) for artifact in big]
            os.kill(first.process.pid, signal.SIGKILL)
            results = [future.result() for future in futures]
        first.process.wait(timeout=30)
        acknowledged = {f"kill{i}" for i, status in enumerate(results) if status == 201}
        # the survivor can take the lock at once (the dead session released it) ...
        survivor = make_artifact(pkgs, "survivor", "1.0")
        with httpx.Client(base_url=second.url, timeout=60) as client:
            assert quetz_upload(client, "main", survivor, token).status_code == 201
        names = _names(second)
        # ... and nothing acknowledged by the dead replica is lost
        assert acknowledged <= names
        assert "survivor" in names
        for name in names:
            filename = f"{name}-1.0-0.conda"
            assert httpx.get(f"{second.url}/main/noarch/{filename}").status_code == 200


def _metric(server: LiveServer, sample: str) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_uploads_waiting_on_both_replicas_are_published_by_one_commit(
    s3: S3Server, database: str, tmp_path: Path
) -> None:
    """Group commit across replicas: while another writer holds the channel's lock, uploads to
    either replica queue in PostgreSQL; the replica that gets the lock next commits all of them
    in one batch, and each replica answers its own clients."""
    env = _env(s3, database)
    with ExitStack() as stack:
        first = stack.enter_context(live_server(tmp_path / "a", env=env))
        token = admin_token(first.banner)
        second = stack.enter_context(live_server(tmp_path / "b", env=env))
        artifacts = [make_artifact(tmp_path / "pkgs", f"grp{index}", "1.0") for index in range(6)]
        engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
        locks = PostgresChannelLocks(database)
        stack.callback(engine.dispose)
        stack.callback(locks.dispose)

        def queued() -> int:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM upload_queue")).scalar_one())

        def upload(job: tuple[int, Path]) -> int:
            index, artifact = job
            server = (first, second)[index % 2]
            with httpx.Client(base_url=server.url, timeout=120) as client:
                return int(quetz_upload(client, "main", artifact, token).status_code)

        with ThreadPoolExecutor(6) as pool:
            with locks.hold("main", timeout=30):  # e.g. an index run publishing meanwhile
                statuses = pool.map(upload, enumerate(artifacts))
                assert _eventually(lambda: queued() == len(artifacts))
            assert list(statuses) == [201] * len(artifacts)
        publishes = 'stockyard_publish_seconds_count{channel="main"}'
        commits = [_metric(s, publishes) for s in (first, second)]
        sizes = [_metric(s, "stockyard_upload_batch_size_sum") for s in (first, second)]
        assert sum(commits) == 1 and sum(sizes) == len(artifacts)  # one leader, every upload
        assert _eventually(lambda: queued() == 0)  # every replica collected its outcomes
        expected = {f"grp{index}" for index in range(6)}
        assert _names(first) == expected and _names(second) == expected
