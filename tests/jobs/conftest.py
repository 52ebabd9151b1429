"""A bootstrapped deployment (data directory, channel `main`) on SQLite and, when available,
PostgreSQL, and an in-process runner with a quick retry policy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from stockyard.catalog import Catalog
from stockyard.config import Settings, load_settings
from stockyard.jobs import InProcessRunner, RetryPolicy
from stockyard.server.channels import bootstrap, open_catalog
from tests.catalog.conftest import fresh_pg_database

#: Retries follow each other quickly in tests (the backoff itself is unit-tested).
QUICK = RetryPolicy(base_delay=0.05, max_delay=0.2)


def deployment_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values = {"data_dir": str(tmp_path / "data"), "lock_timeout": 0.3, **overrides}
    settings = load_settings(env={}, overrides=values)
    bootstrap(settings)
    return settings


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":
        yield deployment_settings(tmp_path)
        return
    with fresh_pg_database() as url:
        yield deployment_settings(tmp_path, db_url=url)


@pytest.fixture
def catalog(settings: Settings) -> Iterator[Catalog]:
    with closing(open_catalog(settings)) as cat:
        yield cat


@pytest.fixture
def runner(settings: Settings, catalog: Catalog) -> Iterator[InProcessRunner]:
    jobs = InProcessRunner(settings, catalog, QUICK)
    try:
        yield jobs
    finally:
        jobs.close()
