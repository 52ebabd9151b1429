"""The `Store` interface and key checking shared by every backend."""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from stockyard.types.errors import StockyardError

_segment_re = re.compile(r"^[A-Za-z0-9_.+\-=@~]+$")
MAX_KEY_LENGTH = 1024


class InvalidKey(StockyardError):
    """A storage key that could escape the store or is not a plain relative path."""

    default_hint = "Keys are relative paths of plain names separated by '/'."


def check_key(key: str) -> str:
    """Refuse anything that could leave the store: absolute paths, '..', empty or odd segments.

    Every key that comes from outside (URLs, filenames in uploads or archives) passes here before
    it touches a backend.
    """
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"invalid storage key {str(key)[:80]!r}")
    if key.startswith("/") or "\\" in key or "\0" in key:
        raise InvalidKey(f"storage key {key[:80]!r} must be a relative path")
    for segment in key.split("/"):
        if segment in {"", ".", ".."} or not _segment_re.fullmatch(segment):
            raise InvalidKey(f"storage key {key[:80]!r} has an invalid segment {segment[:40]!r}")
    return key


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    mtime_ns: int


class Store(Protocol):
    """Atomic, whole-object writes; readers never see a partial object."""

    @property
    def location(self) -> str:
        """Where the objects are (a directory; an endpoint, bucket and prefix): two stores
        with the same location hold the same objects (for what a process remembers per store)."""

    def put(self, key: str, data: bytes) -> None:
        """Write `data` under `key` atomically (temp + fsync + rename, or one PUT)."""

    def put_deferred(self, key: str, data: bytes) -> None:
        """Like `put`, durable only once `sync()` returns: for many small files in a row (a
        local directory skips the per-file fsync; a bucket's PUT is durable at once)."""

    def sync(self) -> None:
        """Make every `put_deferred` write durable (a local directory: one file system flush
        instead of an fsync per file; a bucket: nothing to do)."""

    def put_file(self, key: str, source: Path) -> None:
        """Move or copy a finished local file under `key` atomically."""

    def get(self, key: str) -> bytes: ...

    def open(self, key: str) -> BinaryIO:
        """A seekable binary stream (for ranged reads and streaming responses)."""

    def download(self, key: str, out: BinaryIO) -> ObjectInfo:
        """Write the whole object to `out` and return the size and mtime of exactly the bytes
        written (a bucket: one GET, whatever replaced the object meanwhile); FileNotFoundError
        when there is none. For copying whole objects, where `open` would ask first and read
        in ranges."""

    def stat(self, key: str) -> ObjectInfo | None: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects directly under the directory `prefix` (not recursive)."""

    def list_dirs(self, prefix: str = "") -> builtins.list[str]:  # `list` is a method here
        """Names of the sub-directories directly under `prefix`."""

    def file_sizes(self, prefix: str) -> dict[str, tuple[int, int]]:
        """name -> (size, mtime_ns) of the objects directly under `prefix` (change detection)."""

    def move(self, source: str, target: str) -> int | None:
        """Put the object at `source` under `target` atomically, replacing it; `source` goes.
        Returns the moved object's mtime_ns as `file_sizes` will list it, when the move itself
        tells (a rename keeps the source's; a bucket's copy answers with the new object's), so
        a commit can record it without asking again; None when it does not."""

    def copy(self, source: str, target: str) -> None:
        """Put a copy of the object at `source` under `target` atomically, replacing it;
        `source` stays. FileNotFoundError when there is no `source`. Costs no bytes where the
        backend allows: a hard link in a local directory (every write replaces a file by
        rename, never in place, so a link keeps its bytes when `source` is replaced later), a
        server-side copy in a bucket."""

    def delete(self, key: str) -> None: ...

    def local_path(self, key: str) -> Path | None:
        """The file behind `key` when the store is a local directory (for sendfile, nginx)."""

    def delete_tree(self) -> None:
        """Delete every object of this store, hidden ones included."""

    def child(self, prefix: str) -> Store:
        """The store of the keys under the directory `prefix` (shares clients, settings)."""
