"""Who signed an attestation, read from its Fulcio certificate, and the trusted-publisher check.

Fulcio writes the OIDC claims of the signer into X.509 extensions (OIDs under
1.3.6.1.4.1.57264.1, https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md): the issuer
(1.1 as raw bytes, 1.8 as a DER UTF8String), and for CI identities the workflow, repository, ref
and run. The identity itself is the certificate's SAN (a workflow URI or an email).
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass
from typing import Any, Final

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from stockyard.types.policy import TrustedPublisher

_FULCIO: Final = "1.3.6.1.4.1.57264.1."
_ISSUER_V1: Final = ObjectIdentifier(_FULCIO + "1")
_ISSUER_V2: Final = ObjectIdentifier(_FULCIO + "8")
#: Claims shown with a publisher (v2 extensions, DER UTF8String values).
_CLAIMS: Final = {
    "workflow": _FULCIO + "9",  # build signer URI: the workflow file at its ref
    "repository": _FULCIO + "12",  # source repository URI
    "ref": _FULCIO + "14",  # source repository ref
    "commit": _FULCIO + "13",  # source repository digest
    "trigger": _FULCIO + "20",  # build trigger (push, release, workflow_dispatch...)
    "run": _FULCIO + "21",  # run invocation URI
}


class IdentityRefused(Exception):
    """The signer is not a trusted publisher of this package (raised inside sigstore's
    verification, which turns it into a refusal naming the identity check)."""


@dataclass(frozen=True, slots=True)
class Signer:
    """The signer of an attestation, as its certificate says (every value is verified only as
    far as the certificate chain to the trust root is)."""

    issuer: str | None
    identities: tuple[str, ...]
    workflow: str | None = None
    repository: str | None = None
    ref: str | None = None
    commit: str | None = None
    trigger: str | None = None
    run: str | None = None

    @property
    def identity(self) -> str | None:
        return self.identities[0] if self.identities else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["identity"] = self.identity
        return data


def _utf8_value(der: bytes) -> str | None:
    """The text of a DER UTF8String (tag 12), or None if `der` is something else."""
    if len(der) < 2 or der[0] != 0x0C:
        return None
    length, offset = der[1], 2
    if length & 0x80:  # long form: the next (length & 0x7f) bytes hold the length
        count = length & 0x7F
        length, offset = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    body = der[offset : offset + length]
    return body.decode("utf-8", "replace") if len(body) == length else None


def _extension(cert: x509.Certificate, oid: ObjectIdentifier) -> bytes | None:
    try:
        value = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    return value.value if isinstance(value, x509.UnrecognizedExtension) else None


def _identities(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    found = [*san.get_values_for_type(x509.UniformResourceIdentifier)]
    found += san.get_values_for_type(x509.RFC822Name)
    return tuple(found)


def signer_of(cert: x509.Certificate) -> Signer:
    """The signer's issuer, identities and CI claims from a Fulcio certificate."""
    v2 = _extension(cert, _ISSUER_V2)
    issuer = _utf8_value(v2) if v2 is not None else None
    if issuer is None:
        v1 = _extension(cert, _ISSUER_V1)
        issuer = v1.decode("utf-8", "replace") if v1 is not None else None
    claims: dict[str, str | None] = {}
    for name, oid in _CLAIMS.items():
        raw = _extension(cert, ObjectIdentifier(oid))
        claims[name] = _utf8_value(raw) if raw is not None else None
    return Signer(issuer=issuer, identities=_identities(cert), **claims)


def publishers_for(
    package: str, publishers: tuple[TrustedPublisher, ...]
) -> list[TrustedPublisher]:
    """The trusted publishers whose name globs cover `package`."""
    return [p for p in publishers if any(fnmatch.fnmatchcase(package, g) for g in p.names)]


def matches(signer: Signer, publisher: TrustedPublisher) -> bool:
    """Issuer equal, and one of the certificate's identities equal to (or matching the `*` glob
    of) the publisher's identity."""
    if signer.issuer != publisher.issuer:
        return False
    return any(fnmatch.fnmatchcase(identity, publisher.identity) for identity in signer.identities)


@dataclass(frozen=True, slots=True)
class PublisherPolicy:
    """A sigstore `VerificationPolicy`: the certificate's signer must be one of the trusted
    publishers of `package` (no publishers configured at all: anyone the trust root certifies)."""

    package: str
    publishers: tuple[TrustedPublisher, ...]

    def verify(self, cert: x509.Certificate) -> None:
        if not self.publishers:
            return
        signer = signer_of(cert)
        allowed = publishers_for(self.package, self.publishers)
        if not allowed:
            raise IdentityRefused(f"no trusted publisher may publish package {self.package!r}")
        if not any(matches(signer, publisher) for publisher in allowed):
            who = ", ".join(signer.identities) or "no identity"
            raise IdentityRefused(
                f"the signer ({who}, issuer {signer.issuer or 'unknown'}) is not a trusted "
                f"publisher of {self.package!r}"
            )
