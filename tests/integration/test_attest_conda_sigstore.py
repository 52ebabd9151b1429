"""Interoperability with conda-sigstore (PyPI), over HTTP from a real `stockyard serve`, against
a local Sigstore instance (tests/attest/local_sigstore.py) given to both as their trust root.

- What we serve, it verifies: an upload's `.v0.sigs` fetched over HTTP passes conda-sigstore's
  `verify_artifact` (Sigstore verification, CEP 27 binding, targetChannel, expected signer).
- What it creates, we accept: the CEP 27 statement conda-sigstore builds (`PublishStatement`),
  signed by the local instance, is accepted on upload. conda-sigstore's own signing
  (`create_attestation`) is not exercised: it signs only through a Fulcio and a Rekor service
  and an OIDC credential (sigstore-python's `SigningContext`), which the local instance does
  not run; the bundle format it writes is sigstore-python's, the one we verify.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.attest.local_sigstore import GITHUB_ISSUER, WORKFLOW, LocalSigstore, statement
from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import live_server, stockyard
from tests.server.uploading import prefix_upload

pytestmark = pytest.mark.integration

# conda-sigstore 0.1.5 imports conda itself (conda.gateways.disk.read, conda.exceptions,
# conda.common.url, conda.plugins) in the modules used here; conda is not installable from PyPI
# (only from conda channels), so outside a conda installation this test cannot run.
pytest.importorskip(
    "conda", reason="conda-sigstore needs the conda package, which PyPI does not provide"
)
pytest.importorskip("conda_sigstore", reason="conda-sigstore is not installed")


def _client_trust_config(ls: LocalSigstore, path: Path) -> Path:
    """conda-sigstore takes a ClientTrustConfig (trusted root plus a signing config)."""
    config = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": ls.trusted_root(),
        "signingConfig": {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [],
            "oidcUrls": [],
            "rekorTlogUrls": [],
            "tsaUrls": [],
        },
    }
    path.write_text(json.dumps(config))
    return path


def test_conda_sigstore_and_stockyard_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conda_sigstore.evidence import SignerIdentity, VerificationStatus
    from conda_sigstore.statements import PublishStatement
    from conda_sigstore.transport import SidecarTransport
    from conda_sigstore.verification import SigstoreVerifier, verify_artifact

    ls = LocalSigstore()
    trust = _client_trust_config(ls, tmp_path / "trust.json")
    monkeypatch.setenv("STOCKYARD_ATTESTATION_TRUST_ROOT", str(trust))
    data = tmp_path / "data"
    assert stockyard("channel", "create", "team", "--data", str(data)).returncode == 0
    with live_server(data) as live:
        token = re.search(r"\b(sy-[A-Za-z0-9]{40})\b", live.banner)
        assert token
        channel_url = f"{live.url}/team"
        ours = make_artifact(tmp_path / "a", "widgets")
        theirs = make_artifact(tmp_path / "b", "gadgets")
        # Theirs: the statement conda-sigstore builds, signed by the local instance.
        payload = PublishStatement(
            theirs.name, sha256_of(theirs), target_channel=channel_url
        ).payload()
        their_bundle = json.dumps(ls.bundle(json.loads(payload)))
        ours_bundle = json.dumps(ls.bundle(statement(ours.name, sha256_of(ours), channel_url)))
        with httpx.Client(base_url=live.url, timeout=60) as client:
            for path, bundle in ((ours, ours_bundle), (theirs, their_bundle)):
                response = prefix_upload(client, "team", path, token.group(1), attestation=bundle)
                assert response.status_code == 201, response.text
            bodies = {
                path: client.get(f"/team/noarch/{path.name}.v0.sigs").content
                for path in (ours, theirs)
            }
    verifier = SigstoreVerifier(offline=True, trust_config=trust)
    for path, body in bodies.items():
        sidecar = SidecarTransport.parse(body, prefix_sidecar=True)
        result = verify_artifact(
            path,
            sidecar,
            verifier=verifier,
            channel=channel_url,
            expected_signer=SignerIdentity(WORKFLOW, GITHUB_ISSUER),
        )
        assert result.status == VerificationStatus.VERIFIED, result.to_dict()
    # And conda-sigstore refuses what it should: the sidecar of one artifact for the other.
    wrong = verify_artifact(
        theirs, SidecarTransport.parse(bodies[ours]), verifier=verifier, channel=channel_url
    )
    assert wrong.status != VerificationStatus.VERIFIED
