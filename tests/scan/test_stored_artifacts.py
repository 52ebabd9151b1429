"""Scanning a served channel's artifacts through its store: read in place from a local
directory; from a bucket (moto's real S3 server) fetched to scratch a few at a time and deleted
after each batch; a missing object is reported unreadable, the others are scanned."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockyard.scan import service
from stockyard.scan.service import scan_artifacts, stored_artifact
from stockyard.scan.store import ScanStore
from stockyard.storage import LocalStore, Store
from tests.s3server import S3Server, s3_server
from tests.scan.builders import python_artifact
from tests.server.artifacts import sha256_of

BUCKET = "stockyard-scans"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return LocalStore(tmp_path / "channel", fsync=False)
    server: S3Server = request.getfixturevalue("s3")
    remote: Store = server.store(BUCKET, f"t-{secrets.token_hex(6)}")
    return remote


def test_stored_artifacts_are_scanned_in_bounded_batches(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "REMOTE_BATCH", 2)
    made = [
        python_artifact(tmp_path / "pkgs", "requests", f"2.{minor}.0", dists=[("urllib3", "2.0.7")])
        for minor in range(3)
    ]
    refs = []
    for path in made:
        store.put(f"noarch/{path.name}", path.read_bytes())
        refs.append(stored_artifact(store, "noarch", path.name, sha256_of(path)))
    refs.append(stored_artifact(store, "noarch", "gone-1.0-0.conda", "ab" * 32))
    local = store.local_path("noarch") is not None
    assert all((ref.path is not None) == local for ref in refs)

    scratch = tmp_path / "scratch"
    batches: list[int] = []

    def progress(count: int) -> None:
        batches.append(count)
        assert not scratch.exists() or not any(scratch.iterdir())  # deleted after each batch

    db = ScanStore(tmp_path / "scan.db")
    try:
        summary = scan_artifacts(db, refs, progress=progress, scratch=scratch)
        assert summary.scanned == 3
        assert [path for path, _ in summary.errors] == ["noarch/gone-1.0-0.conda"]
        assert batches == ([4] if local else [2, 2])  # local files need no fetching
        assert db.scanned(sha256_of(p) for p in made) == {sha256_of(p) for p in made}
    finally:
        db.close()
