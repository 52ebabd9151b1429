"""Stores for the contract tests: a local directory, and a prefix of a bucket on moto's S3
server (a real HTTP server on 127.0.0.1, started once per session; tests/s3server.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stockyard.storage import LocalStore, Store

from ..s3server import S3Server, s3_server

BUCKET = "stockyard-tests"
#: Small multipart settings so the tests upload and copy in parts without gigabytes: S3's
#: (and moto's) minimum part is 5 MiB, so an 11 MiB object is three parts.
SMALL_PARTS = {"multipart_threshold": 6 << 20, "part_size": 5 << 20, "copy_threshold": 6 << 20}


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture
def s3_store(s3: S3Server) -> Any:
    """A fresh prefix per test: tests share the server and bucket, never their keys."""
    return s3.store(BUCKET, f"t-{secrets.token_hex(6)}", **SMALL_PARTS)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return LocalStore(tmp_path / "store", fsync=False)
    s3_store: Store = request.getfixturevalue("s3_store")
    return s3_store
