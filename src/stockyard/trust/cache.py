"""The signature cache: what was signed already, so a publish signs only new and patched records.

Keyed by the sha256 of a record's bytes as published (the compact JSON our publisher writes),
one cache per subdir and pkg_mgr key. Keying by the published bytes, not by CCT's canonical
form, spares decoding and re-serializing every unchanged record; it is sound because the same
bytes always decode to the same record, hence the same canonical bytes.

On disk, in `cache/`:

- `<subdir>.<keyid>.msgpack`: the base, a msgpack map digest (32 bytes) -> signature (64 bytes);
- `<subdir>.<keyid>.log`: signatures made since the base was written, appended as 96-byte
  entries (digest then signature), so a publish that signs one record writes 96 bytes, not the
  whole map again. A torn last entry is ignored.

The base is rewritten (and the log emptied) when entries no record uses any more (removed and
patched-away records) outnumber a quarter of those in use. A process keeps the last caches it
used in memory (`_MEMORY`) while their files are the ones it last read or wrote, so the
server's next publish of the subdir reads nothing. A damaged or lost cache only costs a full
re-sign, so the files are replaced atomically but not fsynced.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Annotated

import msgspec

from stockyard.trust.layout import write_atomic

_DIGEST_BYTES = 32
_SIGNATURE_BYTES = 64
_ENTRY_BYTES = _DIGEST_BYTES + _SIGNATURE_BYTES
#: Stale entries tolerated before the base is rewritten: this share of those in use, plus a few.
_STALE_SHARE = 0.25
_STALE_SLACK = 1024
#: Caches a process keeps in memory (one per subdir and key; ~100 bytes per record).
_MEMORY_SLOTS = 8

_Digest = Annotated[bytes, msgspec.Meta(min_length=_DIGEST_BYTES, max_length=_DIGEST_BYTES)]
_Signature = Annotated[
    bytes, msgspec.Meta(min_length=_SIGNATURE_BYTES, max_length=_SIGNATURE_BYTES)
]
_decode_base = msgspec.msgpack.Decoder(dict[_Digest, _Signature]).decode

#: (inode, size, mtime_ns) of the base and the log; None when absent.
_Identity = tuple[tuple[int, int, int] | None, tuple[int, int, int] | None]
#: base path -> (identity of the files it was read from or written to, the entries).
_MEMORY: OrderedDict[Path, tuple[_Identity, dict[bytes, bytes]]] = OrderedDict()
_MEMORY_LOCK = threading.Lock()


def cache_path(cache_dir: Path, subdir: str, public_hex: str) -> Path:
    return cache_dir / f"{subdir}.{public_hex[:16]}.msgpack"


class SignatureCache:
    """Signatures by one key for one subdir: loaded once (or kept from the last use in this
    process), saved once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.log_path = path.with_suffix(".log")
        #: digest -> signature, every one known (read, or made now).
        self.known = _open(path, self.log_path)
        #: Digests of the records signed in this run, looked up or new.
        self.used: list[bytes] = []
        #: Signatures made in this run, not saved yet.
        self.new: dict[bytes, bytes] = {}
        #: Signatures made in this run.
        self.misses = 0

    def put(self, digest: bytes, signature: bytes) -> None:
        self.known[digest] = signature
        self.new[digest] = signature
        self.misses += 1

    def save(self) -> bool:
        """Append the new signatures to the log, or rewrite the base when the log grew too long
        or too much of the cache is stale; True if anything was written."""
        logged = (_stat(self.log_path) or (0, 0, 0))[1] // _ENTRY_BYTES
        long_log = logged + len(self.new) > _STALE_SHARE * len(self.known) + _STALE_SLACK
        # `used` may count a record twice (current_repodata repeats repodata's): a set decides.
        if long_log or _too_stale(len(self.known), len(self.used)):
            used = set(self.used)
            if long_log or _too_stale(len(self.known), len(used)):
                self._compact(used)
                return True
        if not self.new:
            return False
        _append_log(self.log_path, b"".join(d + s for d, s in self.new.items()))
        self.new = {}
        _remember(self.path, self.log_path, self.known)
        return True

    def _compact(self, used: set[bytes]) -> None:
        known = self.known
        self.known = {digest: known[digest] for digest in used if digest in known}
        write_atomic(self.path, msgspec.msgpack.encode(self.known), mode=0o600, fsync=False)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.log_path)
        self.new = {}
        _remember(self.path, self.log_path, self.known)

    def drop_other_keys(self, subdir: str) -> None:
        """Remove this subdir's caches of keys that no longer sign (after a pkg_mgr rotation)."""
        mine = {self.path, self.log_path}
        for pattern in (f"{subdir}.*.msgpack", f"{subdir}.*.log"):
            for path in self.path.parent.glob(pattern):
                if path not in mine:
                    with contextlib.suppress(OSError):
                        path.unlink()
                    with _MEMORY_LOCK:
                        _MEMORY.pop(path, None)


def _too_stale(known: int, used: int) -> bool:
    return known - used > _STALE_SHARE * used + _STALE_SLACK


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def _identity(path: Path, log_path: Path) -> _Identity:
    return _stat(path), _stat(log_path)


def _open(path: Path, log_path: Path) -> dict[bytes, bytes]:
    """The entries, from memory when the files are those this process last saw."""
    identity = _identity(path, log_path)
    with _MEMORY_LOCK:
        kept = _MEMORY.get(path)
        if kept is not None and kept[0] == identity:
            _MEMORY.move_to_end(path)
            return kept[1]
    entries = _load(path, log_path)
    _remember(path, log_path, entries)
    return entries


def _remember(path: Path, log_path: Path, entries: dict[bytes, bytes]) -> None:
    with _MEMORY_LOCK:
        _MEMORY[path] = (_identity(path, log_path), entries)
        _MEMORY.move_to_end(path)
        while len(_MEMORY) > _MEMORY_SLOTS:
            _MEMORY.popitem(last=False)


def _load(path: Path, log_path: Path) -> dict[bytes, bytes]:
    entries: dict[bytes, bytes] = {}
    with contextlib.suppress(OSError, msgspec.DecodeError, msgspec.ValidationError):
        entries = _decode_base(path.read_bytes())  # damaged: sign everything again
    with contextlib.suppress(OSError):
        log = log_path.read_bytes()
        end = len(log) - len(log) % _ENTRY_BYTES  # a torn last entry is left out
        for start in range(0, end, _ENTRY_BYTES):
            middle = start + _DIGEST_BYTES
            entries[log[start:middle]] = log[middle : start + _ENTRY_BYTES]
    return entries


def _append_log(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size % _ENTRY_BYTES:  # a torn entry from a crash: cut it off first
            os.ftruncate(fd, size - size % _ENTRY_BYTES)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
