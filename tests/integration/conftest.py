"""Fixtures the integration tests share: a fresh PostgreSQL database and moto's S3 server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.catalog.conftest import fresh_pg_database
from tests.s3server import S3Server, s3_server


@pytest.fixture
def database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database (skips without PostgreSQL)."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
def s3(request: pytest.FixtureRequest) -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1, with the test module's `BUCKET` created."""
    with s3_server() as server:
        server.create_bucket(request.module.BUCKET)
        yield server
