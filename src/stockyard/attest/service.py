"""What a channel does with attestations: the policy decision on upload, attaching one to an
artifact already in the channel, and the list of who published an artifact (for /api and the UI).
Blocking (file and crypto work); the server calls these in worker threads."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from stockyard.attest.identity import signer_of
from stockyard.attest.store import attested_sha256, keep_attestation, read_bundles
from stockyard.attest.verify import (
    AttestationRefused,
    VerifiedAttestation,
    log_facts,
    verify_attestation,
)
from stockyard.index.workspace import ChannelWorkspace
from stockyard.storage import Store
from stockyard.types.policy import AttestationPolicy


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """An artifact of a channel: where the channel's files are (`store`) and its writers lock
    (`workspace`), what it is, and its URL."""

    store: Store
    workspace: ChannelWorkspace
    channel_url: str
    subdir: str
    filename: str
    sha256: str
    #: Called after the artifact's sidecar changed (a server drops its cached copies).
    changed: Callable[[], None] | None = None


def check_upload(
    policy: AttestationPolicy | None,
    data: bytes | None,
    artifact: ArtifactRef,
    trust_root: str | None,
) -> VerifiedAttestation | None:
    """The attestation sent with an upload, verified (whether or not the channel has a policy:
    an attestation kept and served must never be one nobody checked); None when none was sent
    and the channel does not require one."""
    if data is None:
        if policy is not None and policy.require:
            raise AttestationRefused(
                "required",
                f"channel {artifact.channel_url} requires a CEP 27 attestation with every upload",
                hint="Send the Sigstore bundle as the `attestation` part (rattler-build upload "
                "prefix --attestation FILE).",
            )
        return None
    return verify_attestation(
        data,
        filename=artifact.filename,
        sha256=artifact.sha256,
        channel_url=artifact.channel_url,
        publishers=policy.publishers if policy is not None else (),
        trust_root=trust_root,
    )


def keep(artifact: ArtifactRef, verified: VerifiedAttestation | None) -> int:
    """After the artifact's commit: its sidecar holds what still attests its bytes, plus
    `verified`. Returns the number of bundles kept."""
    bundle = verified.bundle if verified is not None else None
    return keep_attestation(
        artifact.store,
        artifact.workspace,
        artifact.subdir,
        artifact.filename,
        artifact.sha256,
        bundle,
        changed=artifact.changed,
    )


def attach(
    policy: AttestationPolicy | None,
    data: bytes,
    artifact: ArtifactRef,
    trust_root: str | None,
) -> tuple[VerifiedAttestation, int]:
    """Verify an attestation for an artifact already in the channel and keep it."""
    verified = verify_attestation(
        data,
        filename=artifact.filename,
        sha256=artifact.sha256,
        channel_url=artifact.channel_url,
        publishers=policy.publishers if policy is not None else (),
        trust_root=trust_root,
    )
    return verified, keep(artifact, verified)


def _certificate_der(bundle: dict[str, Any]) -> bytes | None:
    material = bundle.get("verificationMaterial") or {}
    certificate = material.get("certificate") or {}
    raw = certificate.get("rawBytes")
    if raw is None:  # bundles before v0.3 carry a chain, leaf first
        chain = (material.get("x509CertificateChain") or {}).get("certificates") or [{}]
        raw = chain[0].get("rawBytes")
    return base64.b64decode(raw) if isinstance(raw, str) else None


def describe(bundle: dict[str, Any]) -> dict[str, Any]:
    """Who published, from a kept bundle's certificate, and where the log has it."""
    der = _certificate_der(bundle)
    signer = signer_of(x509.load_der_x509_certificate(der)).to_dict() if der else None
    return {"signer": signer, "sha256": attested_sha256(bundle), **log_facts(bundle)}


def attestations_of(artifact: ArtifactRef) -> list[dict[str, Any]]:
    """Every kept attestation of an artifact, described."""
    return [describe(b) for b in read_bundles(artifact.store, artifact.subdir, artifact.filename)]
