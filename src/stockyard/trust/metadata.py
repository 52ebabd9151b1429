"""CCT's delegating metadata: `N.root.json` and `key_mgr.json`.

A document is an envelope `{"signatures": {public_hex: signature}, "signed": {...}}`; the signed
part has `type` (`root` or `key_mgr`), `version` (root: +1 per rotation), `timestamp`,
`expiration`, `metadata_spec_version` and `delegations` (role -> `pubkeys`, `threshold`). Root
delegates `root` and `key_mgr`; key_mgr delegates `pkg_mgr`, the online key that signs records.
Root signatures are OpenPGP-style (CCT's `verify_root` insists), key_mgr's are plain. Files are
written as CCT writes them: its canonical serialization of the whole envelope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stockyard.trust.canonical import METADATA_SPEC_VERSION, canonical_bytes, parse_utc
from stockyard.trust.keys import SigningKey, verify_openpgp, verify_raw

ROOT = "root"
KEY_MGR = "key_mgr"
PKG_MGR = "pkg_mgr"
KEY_MGR_FILE = "key_mgr.json"
#: The roles each kind of delegating metadata must delegate.
DELEGATED_ROLES = {ROOT: (ROOT, KEY_MGR), KEY_MGR: (PKG_MGR,)}


def root_filename(version: int) -> str:
    return f"{version}.root.json"


@dataclass(frozen=True, slots=True)
class Delegation:
    """Which keys may sign for a role, and how many of them must."""

    pubkeys: tuple[str, ...]
    threshold: int = 1

    def as_json(self) -> dict[str, Any]:
        return {"pubkeys": list(self.pubkeys), "threshold": self.threshold}

    @classmethod
    def of(cls, document: dict[str, Any], role: str) -> Delegation:
        """The delegation to `role` in a document that passed `structure_problems`."""
        entry = document["signed"]["delegations"][role]
        return cls(tuple(entry["pubkeys"]), entry["threshold"])


def build_signed(
    kind: str,
    version: int,
    delegations: dict[str, Delegation],
    *,
    timestamp: str,
    expiration: str,
) -> dict[str, Any]:
    """The `signed` part of a root or key_mgr document."""
    return {
        "type": kind,
        "version": version,
        "metadata_spec_version": METADATA_SPEC_VERSION,
        "timestamp": timestamp,
        "expiration": expiration,
        "delegations": {role: item.as_json() for role, item in delegations.items()},
    }


def sign_envelope(signed: dict[str, Any], keys: Iterable[SigningKey]) -> dict[str, Any]:
    """Wrap and sign: OpenPGP-style signatures for root, plain ones for everything else."""
    data = canonical_bytes(signed)
    signatures: dict[str, Any] = {}
    for key in keys:
        if signed["type"] == ROOT:
            created = parse_utc(signed["timestamp"])
            stamp = int(created.timestamp()) if created else 0
            signatures[key.public_hex] = key.sign_openpgp(data, stamp)
        else:
            signatures[key.public_hex] = {"signature": key.sign_hex(data)}
    return {"signatures": signatures, "signed": signed}


def document_bytes(envelope: dict[str, Any]) -> bytes:
    """The file's bytes, as CCT's `write_metadata_to_file` writes them."""
    return canonical_bytes(envelope)


def good_signers(envelope: dict[str, Any], delegation: Delegation) -> set[str]:
    """The delegated keys with a good signature on the envelope's `signed` part."""
    signatures = envelope.get("signatures")
    if not isinstance(signatures, dict):
        return set()
    data = canonical_bytes(envelope.get("signed"))
    openpgp = isinstance(envelope.get("signed"), dict) and envelope["signed"].get("type") == ROOT
    good: set[str] = set()
    for public_hex, signature in signatures.items():
        if public_hex not in delegation.pubkeys:
            continue
        if openpgp:
            ok = verify_openpgp(public_hex, signature, data)
        else:
            ok = isinstance(signature, dict) and verify_raw(
                public_hex, signature.get("signature", ""), data
            )
        if ok:
            good.add(public_hex)
    return good
