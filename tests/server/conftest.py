"""Server fixtures: a bootstrapped data directory, the app, a TestClient and tokens."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockyard.catalog import Catalog, Channel
from stockyard.config import Settings, load_settings
from stockyard.server.channels import BootstrapResult, bootstrap, create_channel

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx vs httpx2
    from fastapi.testclient import TestClient

from stockyard.server.app import create_app

#: Small enough that tests can exceed it cheaply.
UPLOAD_LIMIT = 2_000_000


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        env={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "max_upload_bytes": UPLOAD_LIMIT,
            "repodata_max_age": 30,
            "log_format": "json",
        },
    )


@pytest.fixture
def boot(settings: Settings) -> BootstrapResult:
    return bootstrap(settings)


@pytest.fixture
def app(settings: Settings, boot: BootstrapResult):  # type: ignore[no-untyped-def]
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def catalog(app) -> Catalog:  # type: ignore[no-untyped-def]
    return app.state.stockyard.catalog


@pytest.fixture
def admin_token(boot: BootstrapResult) -> str:
    assert boot.admin_token is not None
    return boot.admin_token


@pytest.fixture
def main_channel(catalog: Catalog) -> Channel:
    return catalog.require_channel("main")


@pytest.fixture
def write_token(catalog: Catalog, main_channel: Channel) -> str:
    return catalog.create_token(scope="write", channel=main_channel).token


@pytest.fixture
def private_channel(settings: Settings, catalog: Catalog) -> Channel:
    return create_channel(settings, catalog, "secret", private=True)


@pytest.fixture
def private_read_token(catalog: Catalog, private_channel: Channel) -> str:
    return catalog.create_token(scope="read", channel=private_channel).token


@pytest.fixture
def private_write_token(catalog: Catalog, private_channel: Channel) -> str:
    return catalog.create_token(scope="write", channel=private_channel).token


def channel_dir(settings: Settings, name: str) -> Path:
    return settings.data_path.resolve() / "channels" / name


@pytest.fixture
def filled(client, settings, write_token, tmp_path: Path) -> list[Path]:  # type: ignore[no-untyped-def]
    """main with a few packages, so repodata.json is big enough to be compressed."""
    from tests.server.artifacts import make_artifact
    from tests.server.uploading import quetz_upload

    paths = [make_artifact(tmp_path / "art", f"pkg{i}", depends=[f"dep{i} >=1"]) for i in range(6)]
    paths.append(make_artifact(tmp_path / "art", "native", build="h0_0", subdir="linux-64"))
    for path in paths:
        assert quetz_upload(client, "main", path, write_token).status_code == 201
    return paths
