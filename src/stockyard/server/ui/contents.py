"""The files inside an artifact, for the package page: its `info/paths.json` (or, in packages too
old to have one, `info/files`), read from the channel's store.

Reading uses the package layer's bounded readers (`conda_info_members`,
`tar_bz2_info_members`): only the info tarball of a `.conda` is read and decompressed, within
`Limits`; a `.tar.bz2` is decompressed until its `info/` members have been seen, and at most
`MAX_COMPRESSED_READ` bytes of it are read (a package that stores `info/` after a large payload
shows no file list rather than costing a long decompression). The page lists the first
`MAX_LISTED` entries with the total count and size. Results are kept for a few artifacts (by
key and sha256, so a replaced artifact is read again; failures are not kept). Called from a
worker thread (the page handlers are plain `def`s); never raises: an unreadable artifact shows
no list.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

import msgspec

from stockyard.package.limits import DEFAULT_LIMITS
from stockyard.package.read import conda_info_members, tar_bz2_info_members
from stockyard.storage.base import Store

logger = logging.getLogger(__name__)

#: Entries shown on the page; the count and total size cover all of them.
MAX_LISTED: Final = 1000
#: A `.tar.bz2` whose `info/` members are not within this many bytes gets no file list.
MAX_COMPRESSED_READ: Final = 64 << 20
#: Artifacts whose listing is kept in memory.
CACHE_SIZE: Final = 32
_CHUNK: Final = 1 << 20

PATHS_JSON: Final = "info/paths.json"
FILES: Final = "info/files"


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str
    #: Bytes; None when paths.json does not say (directories, links, `info/files`).
    size: int | None
    #: `hardlink` (a file), `softlink`, `directory`.
    kind: str


@dataclass(frozen=True, slots=True)
class Contents:
    entries: list[FileEntry]
    total: int
    #: Sum of the sizes paths.json gives.
    total_size: int
    #: `paths.json`, or `files` for packages that have only `info/files` (no sizes).
    source: str

    @property
    def truncated(self) -> bool:
        return self.total > len(self.entries)


class _PathEntry(msgspec.Struct):
    """The fields of a paths.json entry the page shows; the rest is skipped when decoding."""

    path: str = msgspec.field(name="_path")
    path_type: Any = "hardlink"
    size_in_bytes: Any = None


class _PathsDocument(msgspec.Struct):
    paths: list[_PathEntry] = []


_paths_decoder = msgspec.json.Decoder(_PathsDocument)


def _size(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def parse_contents(files: dict[str, bytes], limit: int = MAX_LISTED) -> Contents | None:
    """The listing from an artifact's info members; None when it has neither file."""
    raw = files.get(PATHS_JSON)
    if raw is not None:
        document = _paths_decoder.decode(raw)
        sizes = [_size(entry.size_in_bytes) for entry in document.paths]
        entries = [
            FileEntry(
                entry.path,
                size,
                entry.path_type if isinstance(entry.path_type, str) else "hardlink",
            )
            for entry, size in zip(document.paths[:limit], sizes, strict=False)
        ]
        total_size = sum(size for size in sizes if size is not None)
        return Contents(entries, len(document.paths), total_size, "paths.json")
    raw = files.get(FILES)
    if raw is not None:
        paths = [line for line in raw.decode("utf-8", "replace").splitlines() if line.strip()]
        return Contents(
            [FileEntry(p, None, "hardlink") for p in paths[:limit]], len(paths), 0, "files"
        )
    return None


class _TooFar(Exception):
    """The `info/` members of a `.tar.bz2` were not within `MAX_COMPRESSED_READ` bytes."""


def _capped_chunks(stream: BinaryIO, cap: int) -> Iterator[bytes]:
    read = 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return
        read += len(chunk)
        if read > cap:
            raise _TooFar(f"info/ not found in the first {cap} bytes")
        yield chunk


def _info_members(stream: BinaryIO, filename: str) -> dict[str, bytes]:
    size = stream.seek(0, 2)
    stream.seek(0)
    if filename.endswith(".conda"):

        def read_at(offset: int, length: int) -> bytes:
            stream.seek(offset)
            return stream.read(length)

        return conda_info_members(read_at, size, DEFAULT_LIMITS)
    return tar_bz2_info_members(_capped_chunks(stream, MAX_COMPRESSED_READ), size, DEFAULT_LIMITS)


_cache: OrderedDict[tuple[Any, ...], Contents] = OrderedDict()
_cache_lock = threading.Lock()


def read_contents(
    store: Store, key: str, *, sha256: str, cache_scope: Any = None
) -> Contents | None:
    """The files of the artifact stored under `key` (`<subdir>/<filename>`), or None when it
    cannot be read (missing, odd, or `info/` too far into a `.tar.bz2`). Blocking."""
    cache_key = (cache_scope, key, sha256)
    with _cache_lock:
        if cache_key in _cache:
            _cache.move_to_end(cache_key)
            return _cache[cache_key]
    contents = _read(store, key)
    if contents is None:
        return None
    with _cache_lock:
        _cache[cache_key] = contents
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return contents


def _read(store: Store, key: str) -> Contents | None:
    try:
        with store.open(key) as stream:
            files = _info_members(stream, key.rsplit("/", 1)[-1])
        return parse_contents(files)
    except Exception as exc:  # an unreadable artifact must not break the page
        logger.warning("cannot list the files of %s: %s", key, exc)
        return None


__all__ = ["MAX_LISTED", "Contents", "FileEntry", "parse_contents", "read_contents"]
