"""ed25519 keys and CCT's two signature forms (keys at rest: `keystore`).

Plain signatures are `{"signature": hex}`. CCT's `verify_root` accepts only OpenPGP-style
signatures on root metadata: an ed25519 signature over
sha256(data || other_headers || 0x04 0xff || len(other_headers) as 4 bytes big-endian), where
`other_headers` is the hashed part of an OpenPGP v4 signature packet. We write a minimal valid
one (binary document, EdDSA, SHA-256, a creation-time subpacket).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

#: OpenPGP v4 signature header: version 4, signature type 0x00 (binary document), public-key
#: algorithm 22 (EdDSA), hash algorithm 8 (SHA-256); then the hashed subpacket area.
_OPENPGP_PREFIX = bytes([4, 0x00, 22, 8])
_HEX_KEY_LENGTH = 64
_HEX_SIGNATURE_LENGTH = 128
_HEX_DIGITS = frozenset("0123456789abcdef")
_OPENPGP_FIELDS = frozenset({"other_headers", "signature", "see_also"})


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private ed25519 key and its public key as CCT names it (64 lower-case hex digits)."""

    private: Ed25519PrivateKey
    public_hex: str

    @classmethod
    def from_private(cls, private: Ed25519PrivateKey) -> SigningKey:
        raw = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return cls(private, raw.hex())

    def sign_hex(self, data: bytes) -> str:
        return self.private.sign(data).hex()

    def sign_openpgp(self, data: bytes, created: int) -> dict[str, str]:
        """An OpenPGP-style signature object (`other_headers`, `signature`) over `data`."""
        creation = bytes([5, 2]) + created.to_bytes(4, "big")  # subpacket: creation time
        headers = _OPENPGP_PREFIX + len(creation).to_bytes(2, "big") + creation
        signature = self.private.sign(openpgp_digest(data, headers))
        return {"other_headers": headers.hex(), "signature": signature.hex()}


def generate_key() -> SigningKey:
    return SigningKey.from_private(Ed25519PrivateKey.generate())


def openpgp_digest(data: bytes, other_headers: bytes) -> bytes:
    """What an OpenPGP EdDSA signature signs (RFC 4880 5.2.4, v4 trailer)."""
    hasher = hashlib.sha256(data)
    hasher.update(other_headers)
    hasher.update(b"\x04\xff" + len(other_headers).to_bytes(4, "big"))
    return hasher.digest()


def is_hex(text: Any, length: int) -> bool:
    """Lower-case hex of exactly `length` digits (CCT refuses upper case: one key, one name)."""
    return isinstance(text, str) and len(text) == length and set(text) <= _HEX_DIGITS


def is_hex_key(text: Any) -> bool:
    return is_hex(text, _HEX_KEY_LENGTH)


def is_hex_signature(text: Any) -> bool:
    return is_hex(text, _HEX_SIGNATURE_LENGTH)


def public_key(public_hex: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))


def verify_raw(public_hex: str, signature_hex: str, data: bytes) -> bool:
    """Whether `signature_hex` is a good plain ed25519 signature of `data` by the key."""
    if not (is_hex_key(public_hex) and is_hex_signature(signature_hex)):
        return False
    try:
        public_key(public_hex).verify(bytes.fromhex(signature_hex), data)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_openpgp(public_hex: str, signature: Any, data: bytes) -> bool:
    """Whether `signature` is a good OpenPGP-style signature object of `data` by the key."""
    if not (
        isinstance(signature, dict) and set(signature) <= {"other_headers", "signature", "see_also"}
    ):
        return False
    headers = signature.get("other_headers")
    if not (isinstance(headers, str) and set(headers) <= _HEX_DIGITS and len(headers) % 2 == 0):
        return False
    digest = openpgp_digest(data, bytes.fromhex(headers))
    return verify_raw(public_hex, signature.get("signature", ""), digest)
