"""Verify a CEP 27 attestation (a Sigstore bundle) for one artifact in one channel.

Everything cryptographic is sigstore-python's `Verifier.verify_dsse` against the configured
trust root (Sigstore's public-good instance unless `attestation_trust_root` names a
`trusted_root.json`): the signing certificate chains to the root's Fulcio CA and was valid at
the time the transparency log integrated the entry, its embedded SCT is signed by a CT log of
the root, its signer is a trusted publisher of the package (our `PublisherPolicy`), the log
entry's inclusion proof leads to a checkpoint signed by a log of the root (and its signed entry
timestamp verifies), the DSSE signature over the statement verifies with the certificate's key,
and the log entry matches the envelope. Then the statement is checked against the artifact and
the channel (`statement.py`). Any failure is an `AttestationRefused` naming the check.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from stockyard.attest.identity import IdentityRefused, PublisherPolicy, Signer, signer_of
from stockyard.attest.statement import (
    PublishStatement,
    StatementMismatch,
    check_statement,
    read_statement,
)
from stockyard.types.errors import ConfigError, StockyardError
from stockyard.types.identifiers import parse_artifact_filename
from stockyard.types.policy import TrustedPublisher

_log = logging.getLogger(__name__)

#: Bundles are a few KiB; anything much larger is refused before parsing.
MAX_BUNDLE_BYTES: Final = 1 << 20

#: sigstore-python's error messages start with these; each names one of our checks.
_SIGSTORE_CHECKS: Final = (
    ("DSSE", "signature"),
    ("failed to build timestamp certificate chain", "certificate"),
    ("invalid signing cert", "certificate"),
    ("Key usage", "certificate"),
    ("Extended usage", "certificate"),
    ("failed to verify SCT", "certificate-transparency"),
    ("invalid log entry", "transparency-log"),
    ("not enough sources of verified time", "transparency-log"),
    ("transparency log entry", "transparency-log"),
    ("log entry", "transparency-log"),
)


class AttestationRefused(StockyardError):
    """An attestation that does not verify; `check` names the check that failed."""

    default_hint = (
        "Send the Sigstore bundle made for exactly this artifact and channel, signed by one of "
        "the channel's trusted publishers (see docs/attestations.md)."
    )

    def __init__(self, check: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"attestation refused ({check}): {message}", hint)
        self.check = check

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "check": self.check}


@dataclass(frozen=True, slots=True)
class VerifiedAttestation:
    """An attestation that passed every check: the bundle as sent, and what it says."""

    bundle: dict[str, Any]
    signer: Signer
    statement: PublishStatement
    log: dict[str, Any] = field(default_factory=dict)


def _file_key(path: str | None) -> tuple[str | None, int]:
    if path is None:
        return None, 0
    try:
        return path, os.stat(path).st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"attestation trust root {path}: {exc.strerror}") from None


@functools.lru_cache(maxsize=4)
def _verifier(path: str | None, _mtime: int) -> Any:
    """A sigstore Verifier for the trust root file (reloaded when the file changes)."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.verify import Verifier

    try:
        return Verifier(trusted_root=_trusted_root(path))
    except (SigstoreError, ValueError, OSError) as exc:
        raise ConfigError(
            f"cannot load the attestation trust root {path or '(Sigstore public-good)'}: {exc}",
            hint="attestation_trust_root names a trusted_root.json (protobuf-specs JSON).",
        ) from None


def _trusted_root(path: str | None) -> Any:
    from sigstore.models import ClientTrustConfig, TrustedRoot

    if path is None:
        try:
            return ClientTrustConfig.production().trusted_root
        except Exception as exc:  # no network: the root sigstore-python ships, or its cache
            _log.warning("Sigstore TUF refresh failed (%s); using the cached trust root", exc)
            return ClientTrustConfig.production(offline=True).trusted_root
    with open(path, "rb") as handle:
        document = msgspec.json.decode(handle.read())
    if isinstance(document, dict) and "trustedRoot" in document:  # a ClientTrustConfig
        return ClientTrustConfig.from_json(msgspec.json.encode(document).decode()).trusted_root
    return TrustedRoot.from_file(path)


def verifier_for(trust_root: str | None) -> Any:
    """The (cached) sigstore Verifier of a trust root file; None: Sigstore's public-good."""
    return _verifier(*_file_key(trust_root))


def parse_bundle(data: bytes) -> tuple[dict[str, Any], Any]:
    """The bundle as a JSON object and as a sigstore `Bundle` (refused if it is neither)."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle

    if len(data) > MAX_BUNDLE_BYTES:
        raise AttestationRefused("bundle", f"the bundle is larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        document = msgspec.json.decode(data)
    except msgspec.DecodeError:
        raise AttestationRefused("bundle", "the attestation is not JSON") from None
    if not isinstance(document, dict):
        raise AttestationRefused("bundle", "the attestation is not a JSON object (one bundle)")
    try:
        return document, Bundle.from_json(data)
    except (SigstoreError, ValueError, TypeError, KeyError) as exc:
        raise AttestationRefused("bundle", f"not a Sigstore bundle: {exc}") from None


def _sigstore_check(message: str) -> str:
    return next((check for prefix, check in _SIGSTORE_CHECKS if prefix in message), "sigstore")


def _explain(check: str, message: str) -> str:
    if "not valid at validation time" in message or "expired at time of signing" in message:
        return "the signing certificate was not valid when the log integrated the entry " + (
            f"(expired or not yet valid): {message}"
        )
    return message


def _verify_sigstore(verifier: Any, bundle: Any, policy: PublisherPolicy) -> tuple[str, bytes]:
    from sigstore.errors import Error as SigstoreError

    try:
        payload_type, payload = verifier.verify_dsse(bundle, policy)
    except IdentityRefused as exc:
        raise AttestationRefused("identity", str(exc)) from None
    except (SigstoreError, ValueError) as exc:
        message = str(exc)
        check = _sigstore_check(message)
        raise AttestationRefused(check, _explain(check, message)) from None
    return str(payload_type), bytes(payload)


def log_facts(document: dict[str, Any]) -> dict[str, Any]:
    """Where the transparency log put the entry (shown, not trusted beyond the verification)."""
    entries = document.get("verificationMaterial", {}).get("tlogEntries") or [{}]
    entry = entries[0] if isinstance(entries[0], dict) else {}
    return {"log_index": entry.get("logIndex"), "integrated_time": entry.get("integratedTime")}


def verify_attestation(
    data: bytes,
    *,
    filename: str,
    sha256: str,
    channel_url: str | None,
    publishers: tuple[TrustedPublisher, ...] = (),
    trust_root: str | None = None,
) -> VerifiedAttestation:
    """Verify `data` (one Sigstore bundle, JSON) as the CEP 27 attestation of the artifact
    `filename` with `sha256`, published to `channel_url` (None: any channel) by one of
    `publishers` (empty: anyone the trust root certifies). Raises AttestationRefused."""
    package = parse_artifact_filename(filename).name
    document, bundle = parse_bundle(data)
    verifier = verifier_for(trust_root)
    payload_type, payload = _verify_sigstore(verifier, bundle, PublisherPolicy(package, publishers))
    try:
        statement = read_statement(payload_type, payload)
        check_statement(statement, filename=filename, sha256=sha256, channel_url=channel_url)
    except StatementMismatch as exc:
        raise AttestationRefused(exc.check, exc.message) from None
    signer = signer_of(bundle.signing_certificate)
    return VerifiedAttestation(document, signer, statement, log_facts(document))
