"""Scanning a served channel end to end: uploads over HTTP, `stockyard scan` commands on the
server's data directory, results in the JSON API with the channel's read rights."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from stockyard.cli import sbom_cmd, scan_cmd
from stockyard.config import Settings, load_settings
from stockyard.server import scan_api
from stockyard.server.app import create_app
from stockyard.server.channels import bootstrap, create_channel
from tests.scan.builders import python_artifact
from tests.scan.conftest import OSV_FOLDER, zip_folder
from tests.server.uploading import quetz_upload

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


def _cli() -> typer.Typer:
    app = typer.Typer()
    scan_cmd.register(app)
    sbom_cmd.register(app)
    return app


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env={}, overrides={"data_dir": str(tmp_path / "data")})


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    boot = bootstrap(settings)
    app = create_app(settings)
    if not any(getattr(r, "path", "") == "/api/channels/{channel}/scan" for r in app.routes):
        # Until app.py includes the router: placed before the app's catch-all routes.
        count = len(app.router.routes)
        app.include_router(scan_api.router)
        added = app.router.routes[count:]
        del app.router.routes[count:]
        app.router.routes[0:0] = added
    with TestClient(app) as client:
        catalog = app.state.stockyard.catalog
        create_channel(settings, catalog, "secret", private=True)
        admin = boot.admin_token
        assert admin is not None
        for channel in ("main", "secret"):
            for path in (
                python_artifact(
                    tmp_path / "a",
                    "requests",
                    "2.30.0",
                    dists=[("requests", "2.30.0"), ("urllib3", "1.26.4")],
                ),
                python_artifact(
                    tmp_path / "a",
                    "requests",
                    "2.31.0",
                    fmt="tar.bz2",
                    dists=[("requests", "2.31.0"), ("urllib3", "2.0.7")],
                ),
            ):
                assert quetz_upload(client, channel, path, admin).status_code == 201
        yield client, admin


def test_scan_served_channel_and_read_results_over_the_api(
    served: tuple[TestClient, str], settings: Settings, tmp_path: Path
) -> None:
    client, admin = served
    data = ["--data", settings.data_dir]
    runner = CliRunner()
    missing = client.get("/api/channels/main/scan")
    assert missing.status_code == 404  # no scan database yet
    result = runner.invoke(_cli(), ["scan", "run", "main", *data, "--json"])
    assert result.exit_code == 0, result.output
    assert '"scanned":2' in result.output
    osv = zip_folder(OSV_FOLDER, tmp_path / "all.zip", {"notes.txt": b"not json"})
    result = runner.invoke(_cli(), ["scan", "db", "update", "--from", str(osv), *data])
    assert result.exit_code == 0, result.output
    assert "4 findings after re-matching" in result.output  # GHSA + PYSEC of requests
    result = runner.invoke(_cli(), ["scan", "report", "main", *data])
    assert "GHSA-q2q7-5pp4-w6pg" in result.output and "fixed in 1.26.5" in result.output

    response = client.get("/api/channels/main/scan")
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["artifacts"], report["vulnerable"]) == (2, 1)
    assert report["by_severity"]["high"] == 1
    one = client.get("/api/channels/main/packages/noarch/requests-2.30.0-py_0.conda/scan").json()
    assert one["status"] == "vulnerable" and one["max_severity"] == "high"
    assert {c["purl"] for c in one["components"]} == {
        "pkg:pypi/requests@2.30.0",
        "pkg:pypi/urllib3@1.26.4",
    }
    clean = client.get("/api/channels/main/packages/noarch/requests-2.31.0-py_0.tar.bz2/scan")
    assert clean.json()["status"] == "clean"
    assert client.get("/api/channels/main/packages/noarch/nope-1-0.conda/scan").status_code == 404

    # Read rights are the channel's: a private channel is invisible without a token.
    assert client.get("/api/channels/secret/scan").status_code == 404
    private = client.get("/api/channels/secret/scan", headers={"X-API-Key": admin}).json()
    assert private["not_scanned"] == 0  # same sha256s as main: scanned once, for both


def test_scan_policy_refuses_vulnerable_uploads(settings: Settings, tmp_path: Path) -> None:
    """`stockyard scan policy CH --mode refuse`: an upload embedding a component with a known
    high advisory gets 400 with the advisory and the fixed version; nothing is stored; a clean
    upload passes; `--mode flag` lets it in."""
    bootstrap(settings)
    runner = CliRunner()
    data = ["--data", settings.data_dir]
    osv = zip_folder(OSV_FOLDER, tmp_path / "all.zip", {})
    assert runner.invoke(_cli(), ["scan", "db", "update", "--from", str(osv), *data]).exit_code == 0
    from stockyard.cli import main as cli_main

    assert cli_main.main(["scan", "policy", "main", "--mode", "refuse", *data]) == 0
    assert cli_main.main(["scan", "policy", "main", "--mode", "sometimes", *data]) == 1
    vulnerable = python_artifact(
        tmp_path / "v", "requests", "2.30.0", dists=[("requests", "2.30.0"), ("urllib3", "1.26.4")]
    )
    clean = python_artifact(
        tmp_path / "c", "requests", "2.31.0", dists=[("requests", "2.31.0"), ("urllib3", "2.0.7")]
    )
    with TestClient(create_app(settings)) as client:
        admin = client.app.state.stockyard.catalog.create_token(scope="admin").token  # type: ignore[attr-defined]
        refused = quetz_upload(client, "main", vulnerable, admin)
        assert refused.status_code == 400, refused.text
        body = refused.json()
        assert body["error"] == "VulnerableUpload" and "GHSA-q2q7-5pp4-w6pg" in body["message"]
        assert "1.26.5" in body["message"]
        listed = client.get("/main/noarch/repodata.json").json()["packages.conda"]
        assert vulnerable.name not in listed
        assert quetz_upload(client, "main", clean, admin).status_code == 201
        assert cli_main.main(["scan", "policy", "main", "--mode", "flag", *data]) == 0
        assert quetz_upload(client, "main", vulnerable, admin).status_code == 201
