"""Writing published files: atomically, and only when their bytes changed.

The catalog remembers the sha256 of every published file, so rendering the same state again
writes nothing: bytes, mtimes and therefore ETags stay. Large files are streamed to a temporary
file next to the target while hashing, then renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from stockyard.catalog import Catalog
from stockyard.storage import Store


@dataclass
class Publisher:
    """Writes the files of one channel; call `commit()` once everything is in place."""

    catalog: Catalog
    store: Store
    channel_id: int
    written: list[str] = field(default_factory=list)
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

    def write(self, key: str, data: bytes) -> bool:
        """Publish `data` under `key` unless it is already there; True when written."""
        digest = hashlib.sha256(data).hexdigest()
        if self._is_current(key, digest):
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

    def publish_file(self, key: str, writer: HashingWriter) -> bool:
        """Move a finished scratch file under `key` unless the same bytes are published."""
        writer.close()
        digest = writer.hexdigest()
        if self._is_current(key, digest):
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
