"""Attestations and scan findings in a real browser (Debian's Chromium, headless, Playwright)
against a real `stockyard serve` with a local Sigstore trust root: an attested, vulnerable build
shows who published it (identity, issuer, repository, workflow) and its advisory linked to OSV;
the package page links to the channel's scan summary, which lists that build. No console
errors (the CSP holds)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.attest.local_sigstore import GITHUB_ISSUER, WORKFLOW, LocalSigstore, statement
from tests.integration.browser import ARTIFACTS_DIR, CHROMIUM, admin_token, browser_page
from tests.scan.builders import python_artifact
from tests.scan.conftest import OSV_FOLDER, zip_folder
from tests.server.artifacts import sha256_of
from tests.server.live import live_server, stockyard
from tests.server.uploading import prefix_upload

pytestmark = pytest.mark.integration

ADVISORY = "GHSA-q2q7-5pp4-w6pg"


def test_attestation_and_scan_in_a_browser(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    from playwright.sync_api import expect

    sigstore = LocalSigstore()
    root = tmp_path / "trusted_root.json"
    root.write_text(sigstore.trusted_root_json())
    data = tmp_path / "data"
    artifact = python_artifact(
        tmp_path / "pkgs",
        "requests",
        "2.30.0",
        dists=[("requests", "2.30.0"), ("urllib3", "1.26.4")],
    )
    env = {"STOCKYARD_ATTESTATION_TRUST_ROOT": str(root)}
    with live_server(data, env=env) as live:
        token = admin_token(live.banner)
        bundle = sigstore.bundle(statement(artifact.name, sha256_of(artifact), f"{live.url}/main"))
        with httpx.Client(base_url=live.url, timeout=60) as client:
            response = prefix_upload(
                client, "main", artifact, token, attestation=json.dumps(bundle)
            )
            assert response.status_code == 201, response.text
        osv = zip_folder(OSV_FOLDER, tmp_path / "all.zip")
        for args in (["scan", "db", "update", "--from", str(osv)], ["scan", "run", "main"]):
            done = stockyard(*args, "--data", str(data))
            assert done.returncode == 0, done.stderr
        with browser_page() as (page, problems):
            page.goto(f"{live.url}/ui/main/requests")
            build = page.get_by_role("article", name=artifact.name)
            attestation = build.locator("dl.attestation")
            expect(attestation).to_be_visible()
            expect(attestation).to_contain_text(WORKFLOW)
            expect(attestation).to_contain_text(GITHUB_ISSUER)
            expect(
                attestation.get_by_role("link", name="https://github.com/acme/widgets", exact=True)
            ).to_be_visible()
            scan = build.locator(".scan")
            expect(scan.locator(".severity").first).to_have_text("high")
            advisory = scan.get_by_role("link", name=ADVISORY)
            expect(advisory).to_have_attribute("href", f"https://osv.dev/vulnerability/{ADVISORY}")
            page.screenshot(path=str(ARTIFACTS_DIR / "ui-trust-package.png"), full_page=True)

            scan.get_by_role("link", name="Channel scan summary").click()
            expect(page).to_have_url(f"{live.url}/ui/main/-/scan")
            expect(page.get_by_role("heading", level=1)).to_contain_text("Scan of main")
            listed = page.get_by_role("article", name=f"noarch/{artifact.name}")
            expect(listed.get_by_role("link", name=ADVISORY)).to_be_visible()
            listed.get_by_role("link", name=f"noarch/{artifact.name}").click()
            expect(page).to_have_url(f"{live.url}/ui/main/requests")
            page.goto(f"{live.url}/ui/main/-/scan")
            page.screenshot(path=str(ARTIFACTS_DIR / "ui-trust-scan.png"), full_page=True)

            # The channel page links to the summary too.
            page.goto(f"{live.url}/t/{token}/ui/main")
            page.get_by_role("link", name="Security scan summary").click()
            expect(page).to_have_url(f"{live.url}/t/{token}/ui/main/-/scan")
            assert problems == []
