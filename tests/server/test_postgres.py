"""The server on a PostgreSQL catalog (STOCKYARD_TEST_PG_URL; scripts/test.sh starts one)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from stockyard.config import Settings, load_settings
from stockyard.server.app import create_app
from stockyard.server.channels import bootstrap, create_channel
from tests.server.artifacts import make_artifact
from tests.server.conftest import TestClient
from tests.server.uploading import prefix_upload, quetz_upload

PG_URL = os.environ.get("STOCKYARD_TEST_PG_URL")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="STOCKYARD_TEST_PG_URL not set"),
]


@pytest.fixture
def pg_settings(tmp_path: Path) -> Iterator[Settings]:
    assert PG_URL is not None
    name = f"stockyard_serve_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield load_settings(
            env={},
            overrides={
                "data_dir": str(tmp_path / "data"),
                "db_url": f"{PG_URL.rsplit('/', 1)[0]}/{name}",
            },
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_serve_on_postgresql(pg_settings: Settings, tmp_path: Path) -> None:
    boot = bootstrap(pg_settings)
    assert boot.admin_token and not (pg_settings.data_path / "catalog.db").exists()
    app = create_app(pg_settings)
    catalog = app.state.stockyard.catalog
    with TestClient(app) as client:
        secret = create_channel(pg_settings, catalog, "secret", private=True)
        reader = catalog.create_token(scope="read", channel=secret)
        for i, version in enumerate(("1.9", "1.10")):
            path = make_artifact(tmp_path, "pkg", version, depends=["dep"])
            upload = quetz_upload if i else prefix_upload
            assert upload(client, "main", path, boot.admin_token).status_code == 201
            assert upload(client, "secret", path, boot.admin_token).status_code == 201
        repodata = client.get("/main/noarch/repodata.json").json()
        assert sorted(repodata["packages.conda"]) == ["pkg-1.10-0.conda", "pkg-1.9-0.conda"]
        detail = client.get("/api/channels/main/packages/pkg").json()
        assert [v["version"] for v in detail["versions"]] == ["1.10", "1.9"]
        found = client.get("/api/channels/main/packages", params={"q": "pk"}).json()
        assert found["total"] == 1 and found["packages"][0]["version"] == "1.10"
        assert client.get("/api/channels/main").json()["artifact_count"] == 2
        assert [c["name"] for c in client.get("/api/channels").json()] == ["main"]
        url = f"/t/{reader.token}/secret/noarch/repodata.json"
        assert client.get(url).status_code == 200
        catalog.revoke_token(reader.info.prefix)
        assert client.get(url).status_code == 404
        assert client.get("/health/ready").json()["catalog"] == "ok"
