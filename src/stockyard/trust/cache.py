"""The signature cache: what was signed already, so a publish signs only new and patched records.

Keyed by the sha256 of a record's bytes as published (the compact JSON our publisher writes), one
msgpack file per subdir and pkg_mgr key: `cache/<subdir>.<keyid>.msgpack`, mapping digest (32
bytes) to signature (64 bytes). Keying by the published bytes, not by CCT's canonical form, spares
decoding and re-serializing every unchanged record; it is sound because the same bytes always
decode to the same record, hence the same canonical bytes. Saving keeps only the entries used
this time, so removed and patched-away records drop out. A damaged file only costs a full
re-sign.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import msgspec

from stockyard.trust.layout import write_atomic

_DIGEST_BYTES = 32
_SIGNATURE_BYTES = 64


def cache_path(cache_dir: Path, subdir: str, public_hex: str) -> Path:
    return cache_dir / f"{subdir}.{public_hex[:16]}.msgpack"


class SignatureCache:
    """Signatures by one key for one subdir, loaded once, saved once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._known = _load(path)
        self._used: dict[bytes, bytes] = {}
        self.hits = 0
        self.misses = 0

    def get(self, digest: bytes) -> bytes | None:
        # Signed earlier in this run (current_repodata repeats repodata's records), or before.
        signature = self._used.get(digest)
        if signature is None:
            signature = self._known.get(digest)
            if signature is not None:
                self._used[digest] = signature
        if signature is not None:
            self.hits += 1
        return signature

    def put(self, digest: bytes, signature: bytes) -> None:
        self._used[digest] = signature
        self.misses += 1

    def save(self) -> bool:
        """Write the entries used since loading, if they differ from the file; True if written."""
        if self._used.keys() == self._known.keys():
            return False
        write_atomic(self.path, msgspec.msgpack.encode(self._used), mode=0o600)
        self._known = self._used
        self._used = dict(self._known)
        return True

    def drop_other_keys(self, subdir: str) -> None:
        """Remove this subdir's caches of keys that no longer sign (after a pkg_mgr rotation)."""
        for path in self.path.parent.glob(f"{subdir}.*.msgpack"):
            if path != self.path:
                with contextlib.suppress(OSError):
                    path.unlink()


def _load(path: Path) -> dict[bytes, bytes]:
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    try:
        entries = msgspec.msgpack.decode(data, type=dict[bytes, bytes])
    except msgspec.DecodeError:
        return {}  # damaged: sign everything again
    return {
        digest: signature
        for digest, signature in entries.items()
        if len(digest) == _DIGEST_BYTES and len(signature) == _SIGNATURE_BYTES
    }
