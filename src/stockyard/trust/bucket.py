"""A signed channel whose files are in a bucket.

Its trust files are kept in the bucket, in the layout a local channel has on disk
(`trust/layout.py`): the public `N.root.json` and `key_mgr.json` at the channel's root (served
like any channel file), the private `.stockyard/trust/trust.json`, the encrypted pkg_mgr key
files and `pending/key_mgr.json` under `.stockyard/` (never served). Each replica mirrors them
into its channel workspace (`<data_dir>/channels/<name>/`), where the signing code works on them
as on a local channel; signature caches and signing marks stay local to each replica.

- `push_trust`, after a ceremony (`stockyard trust ... --channel`) or a pending key_mgr taking
  effect: uploads what differs and deletes private files that are gone locally; the caller then
  sets a new trust stamp in the catalog (`new_trust_stamp`, `Catalog.set_trust_stamp`).
- `pull_trust`, at a commit on a bucket (under the channel lock) whose channel's trust stamp
  differs from the one this process mirrored (`index.commit._trust_mirror`; an unsigned channel
  has none and costs no request): one listing of `.stockyard/trust/`; a file is fetched only
  when its size or LastModified changed, and the local copy takes the bucket's LastModified (so
  the signer's key cache notices a rotation).

Import-light (no `cryptography`): every commit on a bucket imports it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Protocol


class ObjectInfo(Protocol):
    """What a listing says of an object (`stockyard.storage.ObjectInfo`)."""

    @property
    def key(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def mtime_ns(self) -> int: ...


class Store(Protocol):
    """The operations of `stockyard.storage.Store` this module uses (trust sits beside storage,
    not on it: docs/architecture.md)."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...
    def get(self, key: str) -> bytes: ...
    def put(self, key: str, data: bytes) -> None: ...
    def delete(self, key: str) -> None: ...


#: The private trust directory in the bucket and in the local mirror (`layout.TRUST_DIR`).
PRIVATE: Final = ".stockyard/trust"
#: Its sub-directory of pre-signed metadata (`layout.PENDING_KEY_MGR`).
PENDING: Final = f"{PRIVATE}/pending"
_CONFIG: Final = f"{PRIVATE}/trust.json"
#: Private files that belong to the channel (the rest of the directory, caches and marks, are
#: each replica's own).
_SHARED_PRIVATE: Final = re.compile(r"^(trust\.json|pkg_mgr-[0-9a-f]+\.pem|pending/key_mgr\.json)$")
_PUBLIC: Final = re.compile(r"^(key_mgr\.json|[1-9][0-9]*\.root\.json)$")


def pull_trust(store: Store, directory: Path, *, public: bool = False) -> bool:
    """Mirror the channel's private trust files (and, with `public`, its root chain and
    key_mgr.json) from `store` into `directory`; whether the channel is signed. A channel whose
    trust.json is gone from the bucket loses its local one too (it is no longer signed)."""
    found = _private_objects(store)
    for info in found.values():
        _fetch_if_changed(store, directory, info)
    for path in _shared_private_files(directory):
        if path.relative_to(directory).as_posix() not in found:
            path.unlink(missing_ok=True)
    if public:
        served = {info.key: info for info in store.list("") if _PUBLIC.match(info.key)}
        for info in served.values():
            _fetch_if_changed(store, directory, info)
        for path in directory.glob("*.json") if directory.is_dir() else ():
            if _PUBLIC.match(path.name) and path.name not in served:
                path.unlink(missing_ok=True)
    return _CONFIG in found


def push_trust(store: Store, directory: Path) -> list[str]:
    """Upload the channel's trust files from `directory` where they differ from `store`'s, and
    delete private ones that are gone locally; the keys written. Private files go first, public
    ones last (a root or key_mgr is never served before the key it delegates to is stored)."""
    written: list[str] = []
    bucket = _private_objects(store)
    local = {p.relative_to(directory).as_posix(): p for p in _shared_private_files(directory)}
    for key, path in sorted(local.items(), key=lambda item: item[0] == _CONFIG):
        if _differs(store, key, path):
            store.put(key, path.read_bytes())
            written.append(key)
    for key in sorted(set(bucket) - set(local)):
        with contextlib.suppress(FileNotFoundError):
            store.delete(key)
    for path in sorted(directory.iterdir()):
        if path.is_file() and _PUBLIC.match(path.name) and _differs(store, path.name, path):
            store.put(path.name, path.read_bytes())
            written.append(path.name)
    pull_trust(store, directory, public=True)  # the local copies take the bucket's mtimes
    return written


def new_trust_stamp() -> str:
    """A new value for the catalog's trust stamp of a channel (`Catalog.set_trust_stamp`), set
    after every `push_trust`: replicas compare it with the one they mirrored."""
    return secrets.token_hex(16)


def _private_objects(store: Store) -> dict[str, ObjectInfo]:
    """The channel's private trust objects; one listing for an unsigned channel."""
    found: dict[str, ObjectInfo] = {}
    for prefix in (PRIVATE, PENDING):
        for info in store.list(prefix):
            if _SHARED_PRIVATE.match(info.key.removeprefix(f"{PRIVATE}/")):
                found[info.key] = info
        if _CONFIG not in found:
            break
    return found


def _shared_private_files(directory: Path) -> list[Path]:
    root = directory / PRIVATE
    if not root.is_dir():
        return []
    return [
        path
        for path in (*root.iterdir(), *(root / "pending").glob("*"))
        if path.is_file() and _SHARED_PRIVATE.match(path.relative_to(root).as_posix())
    ]


def _fetch_if_changed(store: Store, directory: Path, info: ObjectInfo) -> None:
    path = directory / info.key
    with contextlib.suppress(FileNotFoundError):
        stat = path.stat()
        if (stat.st_size, stat.st_mtime_ns) == (info.size, info.mtime_ns):
            return
    from stockyard.trust.layout import write_atomic

    private = info.key.startswith(".")
    write_atomic(path, store.get(info.key), mode=0o600 if private else 0o644)
    os.utime(path, ns=(info.mtime_ns, info.mtime_ns))


def _differs(store: Store, key: str, path: Path) -> bool:
    try:
        return store.get(key) != path.read_bytes()
    except FileNotFoundError:
        return True
