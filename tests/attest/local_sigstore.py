"""A Sigstore instance of our own, offline: a Fulcio-like CA (root and intermediate) issuing
short-lived leaf certificates with the Fulcio OIDC extensions and an embedded SCT from a local CT
log key, a one-entry "Rekor" log (inclusion proof, signed checkpoint, signed entry timestamp),
and the `trusted_root.json` (protobuf-specs JSON) naming them.

Bundles made here are real Sigstore bundles (v0.3, a DSSE envelope over an in-toto statement,
signed by the leaf key); sigstore-python verifies them against `trusted_root_json()` exactly as
it verifies public-good bundles against Sigstore's root. Knobs let tests forge each part.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
from dataclasses import dataclass, field
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

PREDICATE_TYPE = "https://schemas.conda.org/attestations-publish-1.schema.json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/acme/widgets/.github/workflows/release.yml@refs/tags/v1.0"

_SCT_OID = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_BUILD_SIGNER_URI = ObjectIdentifier("1.3.6.1.4.1.57264.1.9")
_SOURCE_REPO_URI = ObjectIdentifier("1.3.6.1.4.1.57264.1.12")
_SOURCE_REPO_REF = ObjectIdentifier("1.3.6.1.4.1.57264.1.14")
_RUN_INVOCATION_URI = ObjectIdentifier("1.3.6.1.4.1.57264.1.21")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    return hashlib.sha256(_spki(key)).digest()


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


@dataclass
class LeafOptions:
    """What the leaf certificate says and when it is valid (seconds since the epoch)."""

    identity: str = WORKFLOW
    issuer: str = GITHUB_ISSUER
    not_before: float | None = None
    lifetime: float = 600.0
    repository: str = "https://github.com/acme/widgets"
    ref: str = "refs/tags/v1.0"
    run: str = "https://github.com/acme/widgets/actions/runs/1/attempts/1"


@dataclass
class Forgery:
    """Which part of a bundle to spoil (each stays well-formed JSON)."""

    signature: bool = False  # the DSSE signature is over other bytes
    checkpoint: bool = False  # the checkpoint is signed by a key the root does not know
    sct: bool = False  # the SCT is signed by a key the root does not know
    foreign_ca: bool = False  # the leaf is issued by a CA the root does not know
    integrated_time: float | None = None  # the log says the entry was integrated then


@dataclass
class LocalSigstore:
    """Keys and certificates of one local Sigstore instance (new ones per instance)."""

    now: float = field(default_factory=lambda: dt.datetime.now(dt.UTC).timestamp())
    root_key: ec.EllipticCurvePrivateKey = field(default_factory=_new_key)
    inter_key: ec.EllipticCurvePrivateKey = field(default_factory=_new_key)
    rekor_key: ec.EllipticCurvePrivateKey = field(default_factory=_new_key)
    ct_key: ec.EllipticCurvePrivateKey = field(default_factory=_new_key)

    def __post_init__(self) -> None:
        start = _utc(self.now - 86400)
        end = _utc(self.now + 365 * 86400)
        root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stockyard-test-root")])
        inter_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stockyard-test-inter")])
        self.root_cert = _ca_cert(root_name, root_name, self.root_key, self.root_key, start, end)
        self.inter_cert = _ca_cert(
            inter_name, root_name, self.inter_key, self.root_key, start, end, path_length=0
        )

    # -- the trust root ------------------------------------------------------------------------
    def trusted_root(self) -> dict[str, Any]:
        start = _utc(self.now - 86400).strftime("%Y-%m-%dT%H:%M:%SZ")

        def log(key: ec.EllipticCurvePrivateKey, url: str) -> dict[str, Any]:
            public = key.public_key()
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": _b64(_spki(public)),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": start},
                },
                "logId": {"keyId": _b64(_key_id(public))},
            }

        chain = [self.inter_cert, self.root_cert]
        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(self.rekor_key, "http://127.0.0.1:1/rekor")],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "stockyard-test", "commonName": "fulcio"},
                    "uri": "http://127.0.0.1:1/fulcio",
                    "certChain": {
                        "certificates": [
                            {"rawBytes": _b64(c.public_bytes(serialization.Encoding.DER))}
                            for c in chain
                        ]
                    },
                    "validFor": {"start": start},
                }
            ],
            "ctlogs": [log(self.ct_key, "http://127.0.0.1:1/ct")],
            "timestampAuthorities": [],
        }

    def trusted_root_json(self) -> str:
        return json.dumps(self.trusted_root(), indent=2)

    # -- bundles -------------------------------------------------------------------------------
    def bundle(
        self,
        statement: dict[str, Any],
        leaf: LeafOptions | None = None,
        forge: Forgery | None = None,
    ) -> dict[str, Any]:
        """A Sigstore bundle (v0.3) attesting `statement`."""
        leaf = leaf or LeafOptions()
        forge = forge or Forgery()
        key = _new_key()
        cert = self._leaf_cert(key, leaf, forge)
        payload = json.dumps(statement).encode()
        payload_type = "application/vnd.in-toto+json"
        signed = b"tampered" + payload if forge.signature else payload
        signature = key.sign(_pae(payload_type, signed), ec.ECDSA(hashes.SHA256()))
        not_before = leaf.not_before if leaf.not_before is not None else self.now - 60
        integrated = forge.integrated_time if forge.integrated_time else not_before + 30
        entry = self._log_entry(cert, payload, signature, int(integrated), forge)
        return {
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": _b64(cert.public_bytes(serialization.Encoding.DER))},
                "tlogEntries": [entry],
            },
            "dsseEnvelope": {
                "payload": _b64(payload),
                "payloadType": payload_type,
                "signatures": [{"sig": _b64(signature), "keyid": ""}],
            },
        }

    def _leaf_cert(
        self, key: ec.EllipticCurvePrivateKey, leaf: LeafOptions, forge: Forgery
    ) -> x509.Certificate:
        issuer_key, issuer_cert = self.inter_key, self.inter_cert
        if forge.foreign_ca:
            issuer_key = _new_key()
            issuer_cert = _ca_cert(
                self.inter_cert.subject, self.root_cert.subject, issuer_key, issuer_key,
                _utc(self.now - 86400), _utc(self.now + 86400),
            )  # fmt: skip
        not_before = leaf.not_before if leaf.not_before is not None else self.now - 60
        builder = _leaf_builder(key, leaf, issuer_cert, not_before)
        # The SCT signs the certificate without its SCT extension (a "precertificate"): build it
        # once with a placeholder to learn those bytes, then again with the real SCT.
        draft = builder.add_extension(_sct_extension(b"\x00" * 8), critical=False)
        tbs = draft.sign(issuer_key, hashes.SHA256()).tbs_precertificate_bytes
        ct_key = _new_key() if forge.sct else self.ct_key
        sct = _sct(ct_key, issuer_cert.public_key(), tbs, int(not_before * 1000))  # type: ignore[arg-type]
        return builder.add_extension(_sct_extension(sct), critical=False).sign(
            issuer_key, hashes.SHA256()
        )

    def _log_entry(
        self,
        cert: x509.Certificate,
        payload: bytes,
        signature: bytes,
        integrated: int,
        forge: Forgery,
    ) -> dict[str, Any]:
        body = _dsse_entry_body(cert, payload, signature)
        log_id = _key_id(self.rekor_key.public_key())
        root_hash = hashlib.sha256(b"\x00" + body).digest()  # a one-leaf tree: the leaf hash
        checkpoint_key = _new_key() if forge.checkpoint else self.rekor_key
        note = f"rekor.stockyard.test - 1\n1\n{_b64(root_hash)}\n"
        note_sig = checkpoint_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        checkpoint = f"{note}\n\u2014 rekor.stockyard.test {_b64(log_id[:4] + note_sig)}\n"
        promise = rfc8785.dumps(
            {
                "body": _b64(body),
                "integratedTime": integrated,
                "logID": log_id.hex(),
                "logIndex": 0,
            }
        )
        set_sig = self.rekor_key.sign(promise, ec.ECDSA(hashes.SHA256()))
        return {
            "logIndex": "0",
            "logId": {"keyId": _b64(log_id)},
            "kindVersion": {"kind": "dsse", "version": "0.0.1"},
            "integratedTime": str(integrated),
            "inclusionPromise": {"signedEntryTimestamp": _b64(set_sig)},
            "inclusionProof": {
                "logIndex": "0",
                "rootHash": _b64(root_hash),
                "treeSize": "1",
                "hashes": [],
                "checkpoint": {"envelope": checkpoint},
            },
            "canonicalizedBody": _b64(body),
        }


def _dsse_entry_body(cert: x509.Certificate, payload: bytes, signature: bytes) -> bytes:
    """Rekor's canonical body of a `dsse` 0.0.1 entry (what the log's leaf hash covers)."""
    pem = cert.public_bytes(serialization.Encoding.PEM)
    spec = {
        "envelopeHash": {"algorithm": "sha256", "value": "00" * 32},
        "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
        "signatures": [{"signature": _b64(signature), "verifier": _b64(pem)}],
    }
    return rfc8785.dumps({"apiVersion": "0.0.1", "kind": "dsse", "spec": spec})


def statement(
    filename: str,
    sha256: str,
    target_channel: str | None,
    *,
    predicate_type: str = PREDICATE_TYPE,
) -> dict[str, Any]:
    """A CEP 27 publish statement."""
    predicate = None if target_channel is None else {"targetChannel": target_channel}
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": filename, "digest": {"sha256": sha256}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the envelope signature covers."""
    return b"DSSEv1 %d %s %d %s" % (
        len(payload_type),
        payload_type.encode(),
        len(payload),
        payload,
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """CAs sign certificates; leaves sign (Fulcio's profile: digital signature only)."""
    flags = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement"), False
    )
    return x509.KeyUsage(
        digital_signature=not ca,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
        **flags,
    )


def _ca_cert(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    start: dt.datetime,
    end: dt.datetime,
    path_length: int | None = 1,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if signer is not key:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
        )
    return builder.sign(signer, hashes.SHA256())


def _leaf_builder(
    key: ec.EllipticCurvePrivateKey,
    leaf: LeafOptions,
    issuer: x509.Certificate,
    not_before: float,
) -> x509.CertificateBuilder:
    san: x509.GeneralName
    if "@" in leaf.identity and "://" not in leaf.identity:
        san = x509.RFC822Name(leaf.identity)
    else:
        san = x509.UniformResourceIdentifier(leaf.identity)
    utf8 = leaf.issuer.encode()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_utc(not_before))
        .not_valid_after(_utc(not_before + leaf.lifetime))
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),  # type: ignore[arg-type]
            False,
        )
        .add_extension(x509.SubjectAlternativeName([san]), critical=True)
        .add_extension(x509.UnrecognizedExtension(_ISSUER_V1, utf8), False)
        .add_extension(x509.UnrecognizedExtension(_ISSUER_V2, _der(0x0C, utf8)), False)
    )
    for oid, value in (
        (_BUILD_SIGNER_URI, leaf.identity),
        (_SOURCE_REPO_URI, leaf.repository),
        (_SOURCE_REPO_REF, leaf.ref),
        (_RUN_INVOCATION_URI, leaf.run),
    ):
        builder = builder.add_extension(
            x509.UnrecognizedExtension(oid, _der(0x0C, value.encode())), False
        )
    return builder


def _sct(
    ct_key: ec.EllipticCurvePrivateKey,
    issuer_public: ec.EllipticCurvePublicKey,
    tbs: bytes,
    timestamp_ms: int,
) -> bytes:
    """One RFC 6962 SCT (v1, precertificate entry) in TLS encoding, signed by `ct_key`."""
    signed_entry = _key_id(issuer_public) + len(tbs).to_bytes(3, "big") + tbs
    data = struct.pack("!BBQH", 0, 0, timestamp_ms, 1) + signed_entry + b"\x00\x00"
    signature = ct_key.sign(data, ec.ECDSA(hashes.SHA256()))
    log_id = _key_id(ct_key.public_key())
    return (
        b"\x00"
        + log_id
        + struct.pack("!Q", timestamp_ms)
        + b"\x00\x00"  # no extensions
        + b"\x04\x03"  # sha256, ecdsa
        + struct.pack("!H", len(signature))
        + signature
    )


def _sct_extension(sct: bytes) -> x509.UnrecognizedExtension:
    """The embedded SCT list extension: an OCTET STRING holding the TLS-encoded list."""
    one = struct.pack("!H", len(sct)) + sct
    listing = struct.pack("!H", len(one)) + one
    return x509.UnrecognizedExtension(_SCT_OID, _der(0x04, listing))
