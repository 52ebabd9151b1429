"""`verify_attestation` against a local Sigstore instance: a real bundle is accepted; each forged
or mismatched part is refused by the check that catches it, with a message saying so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stockyard.attest.identity import signer_of
from stockyard.attest.verify import AttestationRefused, VerifiedAttestation, verify_attestation
from stockyard.types.errors import ConfigError
from stockyard.types.policy import TrustedPublisher
from tests.attest.local_sigstore import (
    GITHUB_ISSUER,
    WORKFLOW,
    Forgery,
    LeafOptions,
    LocalSigstore,
    statement,
)

FILENAME = "widgets-1.0-h123_0.conda"
SHA = "ab" * 32
CHANNEL = "https://conda.example.com/main"
WIDGETS = TrustedPublisher(GITHUB_ISSUER, WORKFLOW, ("widgets",))


def _bundle(ls: LocalSigstore, **kwargs: Any) -> bytes:
    leaf, forge = kwargs.pop("leaf", None), kwargs.pop("forge", None)
    args = {"filename": FILENAME, "sha256": SHA, "target_channel": CHANNEL, **kwargs}
    stmt = statement(args.pop("filename"), args.pop("sha256"), args.pop("target_channel"), **args)
    return json.dumps(ls.bundle(stmt, leaf, forge)).encode()


def _verify(data: bytes, trust_root: Path, **kwargs: Any) -> VerifiedAttestation:
    options: dict[str, Any] = {
        "filename": FILENAME,
        "sha256": SHA,
        "channel_url": CHANNEL,
        "publishers": (WIDGETS,),
        "trust_root": str(trust_root),
        **kwargs,
    }
    return verify_attestation(data, **options)


def _refused(data: bytes, trust_root: Path, **kwargs: Any) -> AttestationRefused:
    with pytest.raises(AttestationRefused) as caught:
        _verify(data, trust_root, **kwargs)
    return caught.value


def test_a_good_bundle_is_accepted(sigstore_local: LocalSigstore, trust_root: Path) -> None:
    verified = _verify(_bundle(sigstore_local), trust_root)
    assert verified.statement.filename == FILENAME and verified.statement.sha256 == SHA
    assert verified.signer.identity == WORKFLOW
    assert verified.signer.issuer == GITHUB_ISSUER
    assert verified.signer.repository == "https://github.com/acme/widgets"
    assert verified.signer.ref == "refs/tags/v1.0"
    assert verified.signer.workflow == WORKFLOW
    assert verified.log["log_index"] == "0"


def test_trailing_slash_and_identity_globs(sigstore_local: LocalSigstore, trust_root: Path) -> None:
    glob = TrustedPublisher(GITHUB_ISSUER, WORKFLOW.split("@")[0] + "@*", ("widg*",))
    data = _bundle(sigstore_local, target_channel=CHANNEL + "/")
    assert _verify(data, trust_root, publishers=(glob,)).signer.identity == WORKFLOW


def test_no_publishers_accepts_any_certified_identity(
    sigstore_local: LocalSigstore, trust_root: Path
) -> None:
    leaf = LeafOptions(identity="someone@example.com", issuer="https://accounts.example.com")
    verified = _verify(_bundle(sigstore_local, leaf=leaf), trust_root, publishers=())
    assert verified.signer.identity == "someone@example.com"


@pytest.mark.parametrize(
    ("forge", "check", "words"),
    [
        (Forgery(signature=True), "signature", "DSSE: invalid signature"),
        (Forgery(foreign_ca=True), "certificate", "certificate chain"),
        (Forgery(sct=True), "certificate-transparency", "SCT"),
        (Forgery(checkpoint=True), "transparency-log", "checkpoint"),
    ],
)
def test_forged_parts_are_refused(
    sigstore_local: LocalSigstore, trust_root: Path, forge: Forgery, check: str, words: str
) -> None:
    refused = _refused(_bundle(sigstore_local, forge=forge), trust_root)
    assert refused.check == check
    assert words in refused.message
    assert refused.to_dict()["check"] == check


def test_an_expired_certificate_is_refused(sigstore_local: LocalSigstore, trust_root: Path) -> None:
    """The log integrated the entry after the 10-minute certificate had expired."""
    late = Forgery(integrated_time=sigstore_local.now + 3600)
    refused = _refused(_bundle(sigstore_local, forge=late), trust_root)
    assert refused.check == "certificate"
    assert "not valid when the log integrated the entry" in refused.message


def test_a_certificate_issued_after_the_log_entry_is_refused(
    sigstore_local: LocalSigstore, trust_root: Path
) -> None:
    early = Forgery(integrated_time=sigstore_local.now - 7200)
    assert _refused(_bundle(sigstore_local, forge=early), trust_root).check == "certificate"


@pytest.mark.parametrize(
    ("kwargs", "check", "words"),
    [
        ({"sha256": "cd" * 32}, "digest", "is not the artifact's"),
        ({"filename": "widgets-1.0-h123_1.conda"}, "subject", "attestation is for"),
        ({"target_channel": "https://other.example.com/main"}, "targetChannel", "not this"),
        ({"target_channel": None}, "targetChannel", "names no targetChannel"),
        ({"predicate_type": "https://slsa.dev/provenance/v1"}, "predicateType", "slsa"),
        (
            {"predicate_type": "https://schemas.conda.org/attestations/publish/v1"},
            "predicateType",
            "not 'https://schemas.conda.org/attestations-publish-1.schema.json'",
        ),
    ],
)
def test_statement_mismatches_are_refused(
    sigstore_local: LocalSigstore, trust_root: Path, kwargs: dict[str, Any], check: str, words: str
) -> None:
    refused = _refused(_bundle(sigstore_local, **kwargs), trust_root)
    assert (refused.check, words in refused.message) == (check, True), refused.message


def test_a_bundle_for_another_artifact_is_refused(
    sigstore_local: LocalSigstore, trust_root: Path
) -> None:
    """A valid bundle, replayed for another artifact of the same package."""
    data = _bundle(sigstore_local)
    refused = _refused(data, trust_root, filename="widgets-2.0-h123_0.conda", sha256="ef" * 32)
    assert refused.check == "subject"


def test_identities_outside_the_publisher_table_are_refused(
    sigstore_local: LocalSigstore, trust_root: Path
) -> None:
    stranger = LeafOptions(identity="https://github.com/evil/widgets/.github/workflows/x.yml@main")
    refused = _refused(_bundle(sigstore_local, leaf=stranger), trust_root)
    assert refused.check == "identity"
    assert "evil/widgets" in refused.message and "not a trusted publisher" in refused.message
    other_issuer = LeafOptions(issuer="https://gitlab.com")
    assert _refused(_bundle(sigstore_local, leaf=other_issuer), trust_root).check == "identity"


def test_a_package_no_publisher_covers_is_refused(
    sigstore_local: LocalSigstore, trust_root: Path
) -> None:
    gadgets = TrustedPublisher(GITHUB_ISSUER, WORKFLOW, ("gadgets",))
    refused = _refused(_bundle(sigstore_local), trust_root, publishers=(gadgets,))
    assert refused.check == "identity"
    assert "no trusted publisher may publish package 'widgets'" in refused.message


def test_another_sigstore_instance_is_not_trusted(trust_root: Path) -> None:
    """A complete, valid bundle from a different instance (its own CA, CT log and Rekor)."""
    refused = _refused(_bundle(LocalSigstore()), trust_root)
    assert refused.check == "certificate"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"not json", "not JSON"),
        (b"", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}', "Sigstore bundle"),
        (b'{"mediaType": "text/plain"}', "Sigstore bundle"),
        (b"x" * (2 << 20), "larger than"),
    ],
)
def test_malformed_bundles_are_refused(trust_root: Path, data: bytes, words: str) -> None:
    refused = _refused(data, trust_root)
    assert refused.check == "bundle" and words in refused.message


def test_a_tampered_payload_is_refused(sigstore_local: LocalSigstore, trust_root: Path) -> None:
    """The envelope's payload swapped for another statement after signing."""
    bundle = json.loads(_bundle(sigstore_local))
    other = json.loads(_bundle(sigstore_local, sha256="cd" * 32))
    bundle["dsseEnvelope"]["payload"] = other["dsseEnvelope"]["payload"]
    refused = _refused(json.dumps(bundle).encode(), trust_root, sha256="cd" * 32)
    assert refused.check == "signature"


def test_the_trust_root_may_be_a_client_trust_config(
    sigstore_local: LocalSigstore, tmp_path: Path
) -> None:
    config = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": sigstore_local.trusted_root(),
        "signingConfig": {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [],
            "oidcUrls": [],
            "rekorTlogUrls": [],
            "tsaUrls": [],
        },
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert _verify(_bundle(sigstore_local), path).signer.identity == WORKFLOW


def test_a_missing_or_bad_trust_root_is_a_config_error(
    sigstore_local: LocalSigstore, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="trust root"):
        _verify(_bundle(sigstore_local), tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"mediaType": "nonsense"}')
    with pytest.raises(ConfigError, match="cannot load"):
        _verify(_bundle(sigstore_local), bad)


def test_signer_of_reads_the_fulcio_extensions(sigstore_local: LocalSigstore) -> None:
    from base64 import b64decode

    from cryptography import x509

    bundle = json.loads(_bundle(sigstore_local))
    der = b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"])
    signer = signer_of(x509.load_der_x509_certificate(der)).to_dict()
    assert signer["identity"] == WORKFLOW
    assert signer["run"] == "https://github.com/acme/widgets/actions/runs/1/attempts/1"
