"""Accepted attestations next to their artifact: `<subdir>/<filename>.v0.sigs`.

The layout prefix.dev serves and conda-sigstore reads (the draft of conda/ceps#142 started from
it): a JSON array of Sigstore bundles (v0.3 JSON objects), each attesting the artifact. The file
is a plain channel file, so the channel's file route serves it (its name ends neither in
`.conda` nor `.tar.bz2`, so `stockyard index` never takes it for an artifact).

Only bundles that passed `verify_attestation` are written. An artifact replaced by other bytes
(a forced upload) keeps only the bundles attesting its new sha256; none left removes the file.
The sidecar lives in the channel's `Store` next to its artifact (a local directory or a bucket).
Writers of one channel take a lock of their own, never the publish lock (read-modify-write of
the array; an attestation never waits for a publish): a file lock in the channel's working
area, or, when replicas share a PostgreSQL catalog (and a bucket), an advisory lock.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

import msgspec
from filelock import FileLock
from filelock import Timeout as FileLockTimeout

from stockyard.index.workspace import ChannelWorkspace
from stockyard.storage import Store
from stockyard.types.errors import InvalidMetadata, LockTimeout
from stockyard.types.repodata import ATTESTATIONS_SUFFIX

SIGS_SUFFIX: Final = ATTESTATIONS_SUFFIX
_LOCK_NAME: Final = "attestations.lock"
_LOCK_TIMEOUT: Final = 60.0


def sigs_key(subdir: str, filename: str) -> str:
    return f"{subdir}/{filename}{SIGS_SUFFIX}"


def read_bundles(store: Store, subdir: str, filename: str) -> list[dict[str, Any]]:
    """The bundles kept for an artifact ([] when none)."""
    key = sigs_key(subdir, filename)
    try:
        data = store.get(key)
    except FileNotFoundError:
        return []
    try:
        bundles = msgspec.json.decode(data)
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


@contextmanager
def attestation_lock(workspace: ChannelWorkspace, timeout: float = _LOCK_TIMEOUT) -> Iterator[None]:
    """One writer of the channel's sidecars at a time, on every machine that writes them."""
    if workspace.shared_locks is not None and workspace.lock_name:
        # Channel names have no spaces: this key is never another channel's publish lock.
        with workspace.shared_locks.hold(f"{workspace.lock_name} attestations", timeout):
            yield
        return
    workspace.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(workspace.state_dir / _LOCK_NAME), timeout=timeout):
            yield
    except FileLockTimeout:
        raise LockTimeout(
            f"another writer held the attestations of {workspace.directory} for {timeout:g}s",
            hint="Retry shortly.",
        ) from None


def keep_attestation(
    store: Store,
    workspace: ChannelWorkspace,
    subdir: str,
    filename: str,
    sha256: str,
    bundle: dict[str, Any] | None = None,
    *,
    changed: Callable[[], None] | None = None,
) -> int:
    """After the artifact `subdir/filename` with `sha256` was committed: drop kept bundles that
    attest other bytes, add `bundle` (a verified one) unless it is there already, and write the
    sidecar (or remove it when empty), then call `changed` if the sidecar changed. Returns how
    many bundles it holds."""
    key = sigs_key(subdir, filename)
    if bundle is None and store.stat(key) is None:
        return 0  # the common case (no attestation, none kept): no lock, no write
    with attestation_lock(workspace):
        try:
            existing = read_bundles(store, subdir, filename)
        except InvalidMetadata:  # a damaged sidecar: rewritten from what is still valid
            existing = [{"damaged": True}]
        kept = [b for b in existing if attested_sha256(b) == sha256.lower()]
        if bundle is not None and bundle not in kept:
            kept.append(bundle)
        if kept == existing:
            return len(kept)
        if kept:
            store.put(key, msgspec.json.encode(kept))
        else:
            store.delete(key)
    if changed is not None:
        changed()
    return len(kept)
