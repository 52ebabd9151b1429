"""`stockyard serve` from an empty directory: the banner, the first token, restarts, workers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import admin_token, live_server, stockyard

pytestmark = pytest.mark.integration


def test_zero_config_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with live_server(data) as server:
        banner = server.banner
        token = admin_token(banner)
        assert f"{server.url}/main" in banner
        assert f"conda install -c {server.url}/main" in banner
        assert f"pixi workspace channel add {server.url}/main" in banner
        assert (
            f"rattler-build upload prefix --url {server.url} --channel main --api-key {token}"
            in banner
        )
        assert httpx.get(f"{server.url}/main/noarch/repodata.json").json()["packages"] == {}
        artifact = make_artifact(tmp_path / "art", "first")
        response = httpx.post(
            f"{server.url}/api/channels/main/upload/{artifact.name}",
            params={"sha256": sha256_of(artifact)},
            content=artifact.read_bytes(),
            headers={"X-API-Key": token},
        )
        assert response.status_code == 201, response.text
        repodata = httpx.get(f"{server.url}/main/noarch/repodata.json").json()
        assert artifact.name in repodata["packages.conda"]
        assert token not in server.log_path.read_text()
    assert (data / "catalog.db").exists()
    assert (data / "channels" / "main" / "noarch" / artifact.name).exists()

    # A restart keeps everything and prints no new token.
    with live_server(data) as again:
        assert "Admin token" not in again.banner
        repodata = httpx.get(f"{again.url}/main/noarch/repodata.json").json()
        assert artifact.name in repodata["packages.conda"]
        listed = stockyard("token", "list", "--data", str(data), "--json")
        assert listed.returncode == 0 and token not in listed.stdout


def test_several_workers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with live_server(data, workers=2) as server:
        token = admin_token(server.banner)
        for i in range(4):
            artifact = make_artifact(tmp_path / "art", f"pkg{i}")
            response = httpx.post(
                f"{server.url}/api/channels/main/upload/{artifact.name}",
                content=artifact.read_bytes(),
                headers={"X-API-Key": token},
            )
            assert response.status_code == 201, response.text
        repodata = httpx.get(f"{server.url}/main/noarch/repodata.json").json()
        assert len(repodata["packages.conda"]) == 4
        assert httpx.get(f"{server.url}/api/channels/main").json()["artifact_count"] == 4


def test_invalid_settings_fail_fast(tmp_path: Path) -> None:
    result = stockyard("serve", "--data", str(tmp_path), env={"STOCKYARD_PORT": "eighty"})
    assert result.returncode == 1
    assert "STOCKYARD_PORT" in result.stderr
