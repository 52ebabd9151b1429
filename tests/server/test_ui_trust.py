"""The web UI shows each build's CEP 27 attestation and scan findings, and a channel scan summary,
with the channel's read rights (server-side rendering, real uploads and `stockyard scan`)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockyard.catalog import Catalog
from stockyard.cli.main import main as cli_main
from stockyard.config import Settings, load_settings
from stockyard.server.app import create_app
from stockyard.server.channels import BootstrapResult, bootstrap, create_channel
from tests.attest.local_sigstore import GITHUB_ISSUER, WORKFLOW, LocalSigstore, statement
from tests.scan.builders import python_artifact
from tests.scan.conftest import OSV_FOLDER, zip_folder
from tests.server.artifacts import sha256_of
from tests.server.test_ui import _Page, _section
from tests.server.uploading import prefix_upload, quetz_upload

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BASE = "http://127.0.0.1:8000"
VULNERABLE = "requests-2.30.0-py_0.conda"
CLEAN = "requests-2.31.0-py_0.conda"


@pytest.fixture(scope="module")
def sigstore() -> LocalSigstore:
    return LocalSigstore()


@pytest.fixture
def settings(tmp_path: Path, sigstore: LocalSigstore) -> Settings:
    root = tmp_path / "trusted_root.json"
    root.write_text(sigstore.trusted_root_json())
    return load_settings(
        env={},
        overrides={"data_dir": str(tmp_path / "data"), "attestation_trust_root": str(root)},
    )


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[TestClient, BootstrapResult]]:
    boot = bootstrap(settings)
    with TestClient(create_app(settings)) as client:
        yield client, boot


def _upload_both(client: TestClient, channel: str, token: str, sigstore: LocalSigstore, tmp: Path):  # type: ignore[no-untyped-def]
    """A vulnerable build with an attestation and a clean one without."""
    vulnerable = python_artifact(
        tmp / channel, "requests", "2.30.0", dists=[("requests", "2.30.0"), ("urllib3", "1.26.4")]
    )
    clean = python_artifact(
        tmp / channel, "requests", "2.31.0", dists=[("requests", "2.31.0"), ("urllib3", "2.0.7")]
    )
    bundle = sigstore.bundle(statement(vulnerable.name, sha256_of(vulnerable), f"{BASE}/{channel}"))
    response = prefix_upload(client, channel, vulnerable, token, attestation=json.dumps(bundle))
    assert response.status_code == 201, response.text
    assert quetz_upload(client, channel, clean, token).status_code == 201


def _scan(settings: Settings, tmp: Path, *channels: str) -> None:
    data = ["--data", settings.data_dir]
    osv = zip_folder(OSV_FOLDER, tmp / "all.zip")
    assert cli_main(["scan", "db", "update", "--from", str(osv), *data]) == 0
    for channel in channels:
        assert cli_main(["scan", "run", channel, *data]) == 0


def _build(html: str, filename: str) -> str:
    """The visible text of one build's article on the package page."""
    start = html.index(f'aria-label="{filename}"')
    return _Page(html[start : html.index("</article>", start)]).visible


def test_package_page_shows_attestation_and_findings(
    served: tuple[TestClient, BootstrapResult],
    settings: Settings,
    sigstore: LocalSigstore,
    tmp_path: Path,
) -> None:
    client, boot = served
    assert boot.admin_token is not None
    _upload_both(client, "main", boot.admin_token, sigstore, tmp_path)

    # Before any scan: the attestation is shown, the scan part says there are no results.
    before = client.get("/ui/main/requests")
    assert before.status_code == 200
    text = _build(before.text, VULNERABLE)
    assert f"Published by {WORKFLOW}" in text
    assert f"OIDC issuer {GITHUB_ISSUER}" in text
    assert "Repository https://github.com/acme/widgets" in text
    assert "This server has no scan results." in text
    assert "No attestation." in _build(before.text, CLEAN)
    page = _Page(before.text)
    assert "https://github.com/acme/widgets" in page.hrefs

    _scan(settings, tmp_path, "main")
    after = client.get("/ui/main/requests")
    vulnerable = _build(after.text, VULNERABLE)
    assert "highest high" in vulnerable
    assert "GHSA-q2q7-5pp4-w6pg in pkg:pypi/urllib3@1.26.4" in vulnerable
    assert "fixed in 1.26.5" in vulnerable
    assert "https://osv.dev/vulnerability/GHSA-q2q7-5pp4-w6pg" in _Page(after.text).hrefs
    assert "No known vulnerability." in _build(after.text, CLEAN)
    assert "/ui/main/-/scan" in _Page(after.text).hrefs


def test_channel_scan_summary(
    served: tuple[TestClient, BootstrapResult],
    settings: Settings,
    sigstore: LocalSigstore,
    tmp_path: Path,
) -> None:
    client, boot = served
    assert boot.admin_token is not None
    _upload_both(client, "main", boot.admin_token, sigstore, tmp_path)
    assert "/ui/main/-/scan" in _Page(client.get("/ui/main").text).hrefs
    unscanned = client.get("/ui/main/-/scan")
    assert unscanned.status_code == 200
    assert "This channel has not been scanned" in _Page(unscanned.text).visible

    _scan(settings, tmp_path, "main")
    response = client.get("/ui/main/-/scan")
    assert response.status_code == 200
    page = _Page(response.text)
    assert "Files 2 Scanned 2 Not scanned 0 Vulnerable 1 Unreadable 0" in page.visible
    listed = _section(response.text, "vulnerable-heading")
    assert f"noarch/{VULNERABLE} high" in listed.visible
    assert CLEAN not in listed.visible
    assert "/ui/main/requests" in page.hrefs
    assert "https://osv.dev/vulnerability/GHSA-q2q7-5pp4-w6pg" in page.hrefs


def test_private_channel_scan_and_attestations_need_read_rights(
    served: tuple[TestClient, BootstrapResult],
    settings: Settings,
    sigstore: LocalSigstore,
    tmp_path: Path,
) -> None:
    client, boot = served
    catalog: Catalog = client.app.state.stockyard.catalog  # type: ignore[attr-defined]
    secret = create_channel(settings, catalog, "secret", private=True)
    assert boot.admin_token is not None
    _upload_both(client, "secret", boot.admin_token, sigstore, tmp_path)
    _scan(settings, tmp_path, "secret")
    for path in ("/ui/secret/-/scan", "/ui/secret/requests"):
        hidden = client.get(path)
        assert hidden.status_code == 404
        assert "urllib3" not in hidden.text and WORKFLOW not in hidden.text
    reader = catalog.create_token(scope="read", channel=secret).token
    shown = client.get(f"/t/{reader}/ui/secret/-/scan")
    assert shown.status_code == 200 and "GHSA-q2q7-5pp4-w6pg" in shown.text
    # The page's links keep the URL token (as every page's do), never showing it as text.
    assert f"/t/{reader}/ui/secret/requests" in _Page(shown.text).hrefs
    assert reader not in _Page(shown.text).visible
    package = client.get("/ui/secret/requests", headers={"X-API-Key": reader})
    assert package.status_code == 200 and WORKFLOW in package.text
