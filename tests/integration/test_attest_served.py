"""A real `stockyard serve` with a local Sigstore trust root: an upload's attestation is
verified, kept, served at `<filename>.v0.sigs` over HTTP and verifies again from there (as a
client would check it: the downloaded artifact against the downloaded bundles)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import httpx
import pytest

from stockyard.attest.verify import verify_attestation
from tests.attest.local_sigstore import GITHUB_ISSUER, WORKFLOW, LocalSigstore, statement
from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import live_server
from tests.server.uploading import prefix_upload

pytestmark = pytest.mark.integration


def test_served_attestations_verify_over_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ls = LocalSigstore()
    trust_root = tmp_path / "trusted_root.json"
    trust_root.write_text(ls.trusted_root_json())
    monkeypatch.setenv("STOCKYARD_ATTESTATION_TRUST_ROOT", str(trust_root))
    data = tmp_path / "data"
    with live_server(data) as live:
        token = re.search(r"\b(sy-[A-Za-z0-9]{40})\b", live.banner)
        assert token
        channel_url = f"{live.url}/main"
        artifact = make_artifact(tmp_path / "pkgs", "widgets")
        bundle = ls.bundle(statement(artifact.name, sha256_of(artifact), channel_url))
        forged = ls.bundle(statement(artifact.name, sha256_of(artifact), "https://x.test/main"))
        with httpx.Client(base_url=live.url, timeout=60) as client:
            refused = prefix_upload(
                client, "main", artifact, token.group(1), attestation=json.dumps(forged)
            )
            assert refused.status_code == 400 and refused.json()["check"] == "targetChannel"
            accepted = prefix_upload(
                client, "main", artifact, token.group(1), attestation=json.dumps(bundle)
            )
            assert accepted.status_code == 201, accepted.text
            downloaded = client.get(f"/main/noarch/{artifact.name}").content
            sigs = client.get(f"/main/noarch/{artifact.name}.v0.sigs")
            listed = client.get(f"/api/channels/main/packages/noarch/{artifact.name}/attestations")
    assert sigs.status_code == 200 and sigs.json() == [bundle]
    assert listed.json()["attestations"][0]["signer"]["identity"] == WORKFLOW
    (served,) = sigs.json()
    verified = verify_attestation(
        json.dumps(served).encode(),
        filename=artifact.name,
        sha256=hashlib.sha256(downloaded).hexdigest(),
        channel_url=channel_url,
        trust_root=str(trust_root),
    )
    assert verified.signer.issuer == GITHUB_ISSUER
