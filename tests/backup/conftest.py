"""A small served deployment built in-process: two channels (one private), artifacts in two
subdirs, a label, tokens; and helpers to compare two deployments' catalogs and files."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from stockyard.backup.tables import backed_up_tables
from stockyard.config import Settings, load_settings
from stockyard.labels.operations import relabel
from stockyard.server.channels import (
    ServedChannels,
    bootstrap,
    create_channel,
    open_catalog,
    publish_channel,
)
from tests.catalog.conftest import fresh_pg_database
from tests.server.artifacts import make_artifact


def deployment_settings(root: Path, db_url: str | None = None, **extra: Any) -> Settings:
    return load_settings(env={}, overrides={"data_dir": str(root), "db_url": db_url, **extra})


@dataclass
class Deployment:
    settings: Settings
    admin_token: str
    read_token: str

    def channel_dir(self, name: str) -> Path:
        return self.settings.data_path.resolve() / "channels" / name


def add_artifact(
    settings: Settings, channel: str, name: str, version: str = "1.0", **kw: Any
) -> Path:
    """Put an artifact in a served channel's directory and publish the channel."""
    subdir = kw.get("subdir", "noarch")
    directory = settings.data_path.resolve() / "channels" / channel / subdir
    path = make_artifact(directory, name, version, **kw)
    publish_channel(settings, channel)
    return path


def build_deployment(root: Path, db_url: str | None = None) -> Deployment:
    settings = deployment_settings(root, db_url)
    boot = bootstrap(settings)
    assert boot.admin_token is not None
    catalog = open_catalog(settings)
    try:
        team = create_channel(settings, catalog, "team", private=True)
        read_token = catalog.create_token(scope="read", channel=team).token
    finally:
        catalog.close()
    add_artifact(settings, "main", "dep", "1.0")
    add_artifact(settings, "main", "top", "2.0", depends=["dep"])
    add_artifact(settings, "main", "native", "0.5", subdir="linux-64")
    add_artifact(settings, "team", "secret", "3.0")
    catalog = open_catalog(settings)
    try:
        relabel(
            catalog,
            ServedChannels(settings, catalog),
            "main",
            "noarch",
            "top-2.0-0.conda",
            add=["rc"],
        )
    finally:
        catalog.close()
    return Deployment(settings, boot.admin_token, read_token)


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return build_deployment(tmp_path_factory.mktemp("template") / "data")


@pytest.fixture
def source(_template: Deployment, tmp_path: Path) -> Deployment:
    """A copy of one deployment built per session (mtimes kept, so the catalog's change
    detection sees the copied artifacts unchanged)."""
    root = tmp_path / "source"
    shutil.copytree(_template.settings.data_path, root, symlinks=True)
    return Deployment(deployment_settings(root), _template.admin_token, _template.read_token)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_pg_database() as url:
        yield url


def catalog_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a backup carries over, ordered by primary key."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                    for row in conn.execute(select(table).order_by(*table.primary_key.columns))
                ]
                for table in backed_up_tables()
            }
    finally:
        engine.dispose()


def published_tree(channels_dir: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every visible file under a deployment's channels."""
    found = {}
    for path in sorted(channels_dir.rglob("*")):
        relative = path.relative_to(channels_dir)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            found[relative.as_posix()] = path.read_bytes()
    return found
