"""Writing published files: atomically, and only when their bytes changed.

The catalog remembers the sha256 of every published file, so rendering the same state again
writes nothing: bytes, mtimes and therefore ETags stay. Large files are streamed to a temporary
file next to the target while hashing, then renamed into place. The publisher also knows what
it changed (`changed_keys`: written or removed), which a commit reports for CDN purges.

**On a remote store (a bucket) writes overlap.** Each write there is a request with a network
round trip, and one publish makes a dozen or more; the `Publisher` sends them from the
process's request pool (`stockyard.storage.parallel`) instead of one after another, keeping
only the orders that readers rely on (the barriers):

1. content-addressed files (shards, `write_if_absent`) before any other file issued after them:
   the shard index names them;
2. a document after its variants issued before it (`X` after `X.zst`, `X.gz`, `X.bz2`): a
   reader that sees the new document finds its new variants (publish/gz.py);
3. a key after its own earlier write;
4. `commit()` waits for every write before the catalog records their hashes, and `settle()`
   waits for every write before the commit releases the channel lock (also on failure: no
   write of a commit may land after the next writer started). Artifacts are moved into place
   before the first write (`ChannelCommit`), so repodata never names a missing artifact.

The existence check of a file whose hash the catalog already records (`_is_current`: it may
have been deleted by hand) runs in the same background task, just before the upload it may
save. A local directory keeps the sequential path: a rename costs microseconds, threads would
only add contention.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from stockyard.catalog import Catalog
from stockyard.publish.gz import GZ_SUFFIX, crc_and_size, gzip_bytes, published_trailer
from stockyard.storage import Store
from stockyard.storage.parallel import is_remote, submit

#: Suffixes of a document's variants, written before the document (barrier 2).
VARIANT_SUFFIXES = (".zst", ".gz", ".bz2")
#: On a local store, content-addressed writes in a row (shards) beyond this many are written
#: without an fsync each and made durable together by one `Store.sync()` before any other write
#: (barrier 1 holds: the shard index is written after its shards are durable). A publish of one
#: change writes a shard or two (fsync'd as before); a full publish writes thousands.
FSYNC_EACH_UP_TO = 8
#: From this size a copy of a published file (`copy_file`) is made server-side in a bucket
#: (one request, no bytes sent) once the original is uploaded; smaller ones are uploaded
#: side by side with it, which is quicker than uploading then copying. The `.zst` of a
#: 400,000-record repodata.json (about 17 MB) is below it: its copy no longer waits for the
#: original, nor does the 176 MB document that comes after that copy.
SERVER_COPY_MIN = 64 << 20


@dataclass
class Publisher:
    """Writes the files of one channel; call `commit()` once everything is in place."""

    catalog: Catalog
    store: Store
    channel_id: int
    #: Where the channel's trust files are when they are not in the store itself (a channel in
    #: a bucket: its workspace's mirror, `stockyard.trust.bucket`); None: the store's directory.
    trust_dir: Path | None = None
    written: list[str] = field(default_factory=list)
    #: Keys deleted because the policy no longer publishes them (`remove`).
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    _known: dict[str, str] | None = None
    _pending: list[tuple[str, str, int]] = field(default_factory=list)
    #: Whether writes overlap (a remote store; the module docstring has the rules).
    background: bool = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    #: Background writes: every one, the content-addressed ones, the latest per key.
    _tasks: list[Future[None]] = field(default_factory=list, init=False)
    _content_tasks: list[Future[None]] = field(default_factory=list, init=False)
    _by_key: dict[str, Future[None]] = field(default_factory=dict, init=False)
    #: Large copies waiting for their original's upload: scratch path -> (key, digest, size,
    #: a hard link of the scratch file to upload if the original is never published).
    _copies: dict[Path, list[tuple[str, str, int, Path]]] = field(default_factory=dict, init=False)
    #: Local content writes since the last other write; whether some still await `sync()`.
    _content_in_row: int = field(default=0, init=False)
    _deferred: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.background = is_remote(self.store)

    def _known_hash(self, key: str) -> str | None:
        with self._lock:
            if self._known is None:
                self._known = self.catalog.published_hashes(self.channel_id)
            return self._known.get(key)

    def write(self, key: str, data: bytes, *, force: bool = False) -> bool:
        """Publish `data` under `key` unless it is already there (`force`: even then); True
        when written."""
        digest = hashlib.sha256(data).hexdigest()
        if self.background:
            send = functools.partial(self.store.put, key, data)
            return self._issue(key, digest, len(data), send, force=force)
        self._sync_deferred()
        if not force and self._is_current(key, digest):
            self.unchanged += 1
            return False
        self.store.put(key, data)
        self._remember(key, digest, len(data))
        return True

    def write_if_absent(
        self, key: str, data: bytes, digest: str, *, maybe_present: bool = True
    ) -> bool:
        """For content-addressed files (shards): an existing file with this name is correct.
        In the background (a remote store) True means: issued, written unless it exists.
        `maybe_present=False`: the catalog never recorded this content here (a changed shard),
        so a bucket is not asked first: the PUT of the same bytes would be harmless, and the
        HEAD is one more round trip before the shard index."""
        if self.background:
            self._issue_content(key, data, check=maybe_present)
            return True
        if self.store.stat(key) is not None:
            self.unchanged += 1
            return False
        self._content_in_row += 1
        if self._content_in_row > FSYNC_EACH_UP_TO:
            self.store.put_deferred(key, data)
            self._deferred = True
        else:
            self.store.put(key, data)
        self.written.append(key)
        return True

    def _sync_deferred(self) -> None:
        """Before any other local write: make the deferred content writes durable."""
        self._content_in_row = 0
        if self._deferred:
            self.store.sync()
            self._deferred = False

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
        if self.background:
            return self._issue_file(key, writer, digest, force)
        self._sync_deferred()
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
        if self.background:
            return self._defer_copy(key, writer, digest)
        self._sync_deferred()
        if self._is_current(key, digest):
            self.unchanged += 1
            return False
        self.store.put_file(key, _second_name(writer))
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
        self._settle_keys(key + GZ_SUFFIX)
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
        if self._known_hash(key) is None:
            return False
        self._settle_keys(key)
        if self.store.stat(key) is None:
            return False
        self.store.delete(key)
        with self._lock:
            self.removed.append(key)
        return True

    def changed_keys(self) -> list[str]:
        """Every key whose bytes this publisher changed (written, or removed), sorted."""
        with self._lock:
            return sorted({*self.written, *self.removed})

    def _is_current(self, key: str, digest: str) -> bool:
        # Trust the catalog only when the file is still there (someone may have deleted it).
        if self._known_hash(key) != digest:
            return False
        self._settle_keys(key)
        return self.store.stat(key) is not None

    def _remember(self, key: str, digest: str, size: int) -> None:
        with self._lock:
            self.written.append(key)
            self._pending.append((key, digest, size))
            if self._known is not None:
                self._known[key] = digest

    def commit(self) -> None:
        """Record the hashes of what was written, once every file is in place (barrier 4)."""
        self._sync_deferred()
        self._upload_orphan_copies()
        self._wait(raise_errors=True)
        with self._lock:
            pending = list(self._pending)
            self._pending.clear()
        self.catalog.record_published(self.channel_id, pending)

    def settle(self) -> None:
        """Wait for every background write, failed or not (call before the channel lock is
        released, also when the publish failed: nothing of it may land later). Deferred local
        writes are made durable too: a later publish finds them present and trusts them."""
        self._wait(raise_errors=False)
        self._sync_deferred()

    # --- background writes (a remote store) ---------------------------------------------

    def _issue(
        self,
        key: str,
        digest: str,
        size: int,
        send: Callable[[], None],
        *,
        force: bool = False,
        source: str | None = None,
        scratch: Path | None = None,
    ) -> bool:
        """Send `key` in the background after what it waits for (barriers 1-3, and the write
        of `source` for a copy of it); True unless the catalog says it is current (then only
        its existence is checked, in the task). `scratch`: a file of ours the task deletes."""
        maybe_current = not force and self._known_hash(key) == digest
        after = self._barriers(key)
        if source is not None:
            after.append(self._by_key[source])

        def task() -> None:
            try:
                _wait_for(after)
                if maybe_current and self.store.stat(key) is not None:
                    with self._lock:
                        self.unchanged += 1
                    return
                send()
                self._remember(key, digest, size)
            finally:
                if scratch is not None:
                    _unlink(scratch)

        self._track(key, submit(task))
        return not maybe_current

    def _issue_content(self, key: str, data: bytes, *, check: bool = True) -> None:
        after = [self._by_key[key]] if key in self._by_key else []

        def task() -> None:
            _wait_for(after)
            if check and self.store.stat(key) is not None:
                with self._lock:
                    self.unchanged += 1
                return
            self.store.put(key, data)
            with self._lock:
                self.written.append(key)

        future = submit(task)
        self._content_tasks.append(future)
        self._track(key, future)

    def _issue_file(self, key: str, writer: HashingWriter, digest: str, force: bool) -> bool:
        """Upload a finished scratch file in the background, then the copies that waited for
        it. The file is handed over under a name of its own: the scratch context that made it
        may delete its name before the upload ran."""
        handed = _second_name(writer, ".send")
        send = functools.partial(self.store.put_file, key, handed)
        issued = self._issue(key, digest, writer.size, send, force=force, scratch=handed)
        for target, copy_digest, size, fallback in self._copies.pop(writer.path, []):
            _unlink(fallback)  # copied server-side instead
            copy = functools.partial(self.store.copy, key, target)
            self._issue(target, copy_digest, size, copy, source=key)
        return issued

    def _defer_copy(self, key: str, writer: HashingWriter, digest: str) -> bool:
        """A copy of a scratch file that is about to be published under another key: a large
        one is copied server-side once that upload is done; a small one is uploaded now."""
        fallback = _second_name(writer)
        if writer.size < SERVER_COPY_MIN:
            send = functools.partial(self.store.put_file, key, fallback)
            return self._issue(key, digest, writer.size, send, scratch=fallback)
        self._copies.setdefault(writer.path, []).append((key, digest, writer.size, fallback))
        return self._known_hash(key) != digest

    def _upload_orphan_copies(self) -> None:
        """Copies whose original was never published are uploaded from their own link."""
        copies, self._copies = self._copies, {}
        for entries in copies.values():
            for key, digest, size, fallback in entries:
                send = functools.partial(self.store.put_file, key, fallback)
                self._issue(key, digest, size, send, scratch=fallback)

    def _barriers(self, key: str) -> list[Future[None]]:
        """What a write of `key` waits for: content-addressed files issued before it, its
        variants issued before it, its own previous write."""
        after = list(self._content_tasks)
        for candidate in (key, *(key + suffix for suffix in VARIANT_SUFFIXES)):
            if candidate in self._by_key:
                after.append(self._by_key[candidate])
        return after

    def _track(self, key: str, future: Future[None]) -> None:
        self._tasks.append(future)
        self._by_key[key] = future

    def _settle_keys(self, *keys: str) -> None:
        """Wait for the background writes of `keys` (before reading or deleting them)."""
        _wait_for([self._by_key[key] for key in keys if key in self._by_key], errors=False)

    def _wait(self, *, raise_errors: bool) -> None:
        tasks, self._tasks = self._tasks, []
        self._content_tasks, self._by_key = [], {}
        wait(tasks)  # every one finished before anything is raised
        if raise_errors:
            _wait_for(tasks)


def _second_name(writer: HashingWriter, suffix: str = ".copy") -> Path:
    """A second name for a finished scratch file's bytes (a hard link; a copy where links are
    refused): a later publish renames a new file over one name and leaves the other alone."""
    other = writer.path.with_name(writer.path.name + suffix)
    try:
        os.link(writer.path, other)
    except OSError:
        shutil.copyfile(writer.path, other)
    return other


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _wait_for(futures: list[Future[None]], *, errors: bool = True) -> None:
    """Wait for `futures`; raise the first one's error (`errors`)."""
    for future in futures:
        error = future.exception()
        if error is not None and errors:
            raise error


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
