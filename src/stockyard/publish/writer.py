"""Writing published files: atomically, and only when their bytes changed.

The catalog remembers the sha256 of every published file, so rendering the same state again
writes nothing: bytes, mtimes and therefore ETags stay. Large files are streamed to a temporary
file next to the target while hashing, then renamed into place. The publisher also knows what
it changed (`changed_keys`: written or removed), which a commit reports for CDN purges.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from stockyard.catalog import Catalog
from stockyard.publish.gz import GZ_SUFFIX, crc_and_size, gzip_bytes, published_trailer
from stockyard.storage import Store


@dataclass
class Publisher:
    """Writes the files of one channel; call `commit()` once everything is in place."""

    catalog: Catalog
    store: Store
    channel_id: int
    written: list[str] = field(default_factory=list)
    #: Keys deleted because the policy no longer publishes them (`remove`).
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    _known: dict[str, str] | None = None
    _pending: list[tuple[str, str, int]] = field(default_factory=list)

    def _known_hash(self, key: str) -> str | None:
        if self._known is None:
            self._known = self.catalog.published_hashes(self.channel_id)
        return self._known.get(key)

    def _is_current(self, key: str, digest: str) -> bool:
        # Trust the catalog only when the file is still there (someone may have deleted it).
        return self._known_hash(key) == digest and self.store.stat(key) is not None

    def write(self, key: str, data: bytes, *, force: bool = False) -> bool:
        """Publish `data` under `key` unless it is already there (`force`: even then); True
        when written."""
        digest = hashlib.sha256(data).hexdigest()
        if not force and self._is_current(key, digest):
            self.unchanged += 1
            return False
        self.store.put(key, data)
        self._remember(key, digest, len(data))
        return True

    def write_if_absent(self, key: str, data: bytes, digest: str) -> bool:
        """For content-addressed files (shards): an existing file with this name is correct."""
        if self.store.stat(key) is not None:
            self.unchanged += 1
            return False
        self.store.put(key, data)
        self.written.append(key)
        return True

    @contextlib.contextmanager
    def scratch_file(self, scratch_dir: Path) -> Iterator[HashingWriter]:
        """A temp file next to the published tree that hashes what is written to it.

        Publish it with `publish_file`; whatever is left is deleted on exit.
        """
        scratch_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".publish.", suffix=".tmp", dir=scratch_dir)
        writer = HashingWriter(os.fdopen(fd, "wb"), Path(tmp))
        try:
            yield writer
        finally:
            writer.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def publish_file(self, key: str, writer: HashingWriter, *, force: bool = False) -> bool:
        """Move a finished scratch file under `key` unless the same bytes are published
        (`force`: even then)."""
        writer.close()
        digest = writer.hexdigest()
        if not force and self._is_current(key, digest):
            self.unchanged += 1
            return False
        self.store.put_file(key, writer.path)
        self._remember(key, digest, writer.size)
        return True

    def copy_file(self, key: str, writer: HashingWriter) -> bool:
        """Publish a copy of a finished scratch file (which stays for `publish_file`)."""
        writer.close()
        digest = writer.hexdigest()
        if self._is_current(key, digest):
            self.unchanged += 1
            return False
        scratch = writer.path.with_name(writer.path.name + ".copy")
        try:
            # A second name for the same bytes; a later publish renames a new file over one
            # name and leaves the other untouched.
            os.link(writer.path, scratch)
        except OSError:
            shutil.copyfile(writer.path, scratch)
        self.store.put_file(key, scratch)
        self._remember(key, digest, writer.size)
        return True

    def gz_is_current(
        self, key: str, digest: str, expands_to: Callable[[], tuple[int, int]]
    ) -> bool:
        """Whether the published `key.gz` may stay: `key` keeps its bytes (`digest`) and the
        `.gz` expands to them (its trailer against `expands_to()`, the document's CRC-32 and
        length). Checked on the bytes, not on the catalog's hashes: a crash between writing a
        `.gz` and its document leaves a `.gz` the catalog never recorded."""
        if not self._is_current(key, digest):
            return False
        return published_trailer(self.store, key + GZ_SUFFIX) == expands_to()

    def write_gz_of(self, key: str, document: bytes) -> bool:
        """Publish `key.gz` of `document`, which is about to be published as `key` (call this
        first); kept when `key` keeps its bytes and the `.gz` expands to them."""
        digest = hashlib.sha256(document).hexdigest()
        if self.gz_is_current(key, digest, lambda: crc_and_size(document)):
            return False
        return self.write(key + GZ_SUFFIX, gzip_bytes(document), force=True)

    def remove(self, key: str) -> bool:
        """Delete `key` if this channel ever published it (a variant the policy turned off);
        True when something was deleted."""
        if self._known_hash(key) is None or self.store.stat(key) is None:
            return False
        self.store.delete(key)
        self.removed.append(key)
        return True

    def changed_keys(self) -> list[str]:
        """Every key whose bytes this publisher changed (written, or removed), sorted."""
        return sorted({*self.written, *self.removed})

    def _remember(self, key: str, digest: str, size: int) -> None:
        self.written.append(key)
        self._pending.append((key, digest, size))
        if self._known is not None:
            self._known[key] = digest

    def commit(self) -> None:
        """Record the hashes of what was written (after the files are in place)."""
        self.catalog.record_published(self.channel_id, self._pending)
        self._pending.clear()


class HashingWriter:
    """A file object that hashes what goes through it."""

    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self._handle = handle
        self.path = path
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self._handle.write(data)

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()

    def closed(self) -> bool:
        return self._handle.closed

    def hexdigest(self) -> str:
        return self._hash.hexdigest()
