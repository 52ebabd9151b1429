"""A channel's store for snapshot tests: a local directory, or a prefix of a bucket on moto's S3
server (a real HTTP server on 127.0.0.1, started once per session; tests/s3server.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockyard.storage import LocalStore, Store
from tests.s3server import S3Server, s3_server

BUCKET = "stockyard-snapshots"


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The channel's store; the channel's local working area is `tmp_path / "work"` either way
    (with a bucket, the two are apart, as in `stockyard serve` with `storage_url = s3://`)."""
    if request.param == "local":
        return LocalStore(tmp_path / "work", fsync=False)
    server: S3Server = request.getfixturevalue("s3")
    remote: Store = server.store(BUCKET, f"t-{secrets.token_hex(6)}")
    return remote
