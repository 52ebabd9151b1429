"""Accepted attestations next to their artifact: `<subdir>/<filename>.v0.sigs`.

The layout prefix.dev serves and conda-sigstore reads (the draft of conda/ceps#142 started from
it): a JSON array of Sigstore bundles (v0.3 JSON objects), each attesting the artifact. The file
is a plain channel file, so the channel's file route serves it (its name ends neither in
`.conda` nor `.tar.bz2`, so `stockyard index` never takes it for an artifact).

Only bundles that passed `verify_attestation` are written. An artifact replaced by other bytes
(a forced upload) keeps only the bundles attesting its new sha256; none left removes the file.
Writers of one channel take a file lock (read-modify-write of the array).
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any, Final

import msgspec
from filelock import FileLock

from stockyard.index.workspace import STATE_DIR
from stockyard.storage import LocalStore
from stockyard.types.errors import InvalidMetadata
from stockyard.types.repodata import ATTESTATIONS_SUFFIX

SIGS_SUFFIX: Final = ATTESTATIONS_SUFFIX
_LOCK_NAME: Final = "attestations.lock"
_LOCK_TIMEOUT: Final = 60.0


def sigs_key(subdir: str, filename: str) -> str:
    return f"{subdir}/{filename}{SIGS_SUFFIX}"


def read_bundles(channel_dir: Path, subdir: str, filename: str) -> list[dict[str, Any]]:
    """The bundles kept for an artifact ([] when none)."""
    store = LocalStore(channel_dir)
    key = sigs_key(subdir, filename)
    if store.stat(key) is None:
        return []
    try:
        bundles = msgspec.json.decode(store.get(key))
    except msgspec.DecodeError as exc:
        raise InvalidMetadata(f"{key} is not JSON: {exc}") from None
    if not isinstance(bundles, list):
        raise InvalidMetadata(f"{key} is not a JSON array of bundles")
    return [bundle for bundle in bundles if isinstance(bundle, dict)]


def attested_sha256(bundle: dict[str, Any]) -> str | None:
    """The sha256 a (verified) bundle's statement attests, read from its DSSE payload."""
    envelope = bundle.get("dsseEnvelope")
    payload = envelope.get("payload") if isinstance(envelope, dict) else None
    try:
        statement = msgspec.json.decode(base64.b64decode(payload or ""))
        digest = statement["subject"][0]["digest"]["sha256"]
    except (binascii.Error, msgspec.DecodeError, KeyError, IndexError, TypeError):
        return None
    return digest.lower() if isinstance(digest, str) else None


def keep_attestation(
    channel_dir: Path,
    subdir: str,
    filename: str,
    sha256: str,
    bundle: dict[str, Any] | None = None,
) -> int:
    """After the artifact `subdir/filename` with `sha256` was committed: drop kept bundles that
    attest other bytes, add `bundle` (a verified one) unless it is there already, and write the
    sidecar (or remove it when empty). Returns how many bundles it holds."""
    if bundle is None and not (channel_dir / sigs_key(subdir, filename)).exists():
        return 0  # the common case (no attestation, none kept): no lock, no write
    lock = FileLock(str(channel_dir / STATE_DIR / _LOCK_NAME), timeout=_LOCK_TIMEOUT)
    (channel_dir / STATE_DIR).mkdir(parents=True, exist_ok=True)
    store = LocalStore(channel_dir)
    key = sigs_key(subdir, filename)
    with lock:
        try:
            existing = read_bundles(channel_dir, subdir, filename)
        except InvalidMetadata:  # a damaged sidecar: rewritten from what is still valid
            existing = [{"damaged": True}]
        kept = [b for b in existing if attested_sha256(b) == sha256.lower()]
        if bundle is not None and bundle not in kept:
            kept.append(bundle)
        if kept == existing:
            return len(kept)
        if kept:
            store.put(key, msgspec.json.encode(kept))
        elif store.stat(key) is not None:
            store.delete(key)
    return len(kept)
