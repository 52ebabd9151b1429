"""Serving channel files kept in a bucket: a local read-through cache per replica.

With `storage_url = s3://...` each replica keeps copies of the files it serves under
`<data_dir>/cache/files/`, so every HTTP feature of local serving (validators, ranges, gzip,
`FileBody`'s reads) works on a local file, and a hot repodata costs no S3 request.

When a cached copy may be used without asking S3:
- content-addressed files (shards, icons) never change: always;
- everything else until the channel is published again. Publishes in this process invalidate
  at once (`on_local_publish`); publishes of other replicas arrive through PostgreSQL
  LISTEN/NOTIFY (`PublishListener`). Either way the copies readers got lately are then fetched
  again in the background (`refresh`), before the next reader asks. While the listener is
  connected a copy is trusted for `TRUSTED_SECONDS` (a safety net); otherwise for
  `UNTRUSTED_SECONDS` only, so a publish elsewhere shows within about a second even without
  notifications. After that a HEAD tells whether the object changed (same size and
  LastModified: the copy is kept).

A client can be ahead of this replica: it read a newer file through another replica before this
one heard of the publish (notifications take milliseconds). Such a client says so with its
validators: an `If-None-Match` that is not this copy's ETag, or an `If-Modified-Since` later
than its mtime, makes the file route ask the bucket before answering (`check=True`), so a
client never receives an older file than one it already has.

The cache is bounded (`max_bytes`): least recently used copies are deleted first; a response
still sending a deleted copy keeps its open descriptor. Copies are written to a temporary file
and renamed, with the object's LastModified as mtime, so ETag and Last-Modified are the same
on every replica.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from stockyard.server.http_files import OpenFile, is_immutable, open_regular_file
from stockyard.storage import Store

#: After a publish, copies of the channel served within this many seconds are fetched again at
#: once (`refresh`), at most `HOT_LIMIT` of them, most recently served first.
HOT_SECONDS: Final = 60.0
HOT_LIMIT: Final = 8
TRUSTED_SECONDS: Final = 60.0
UNTRUSTED_SECONDS: Final = 1.0
DEFAULT_MAX_BYTES: Final = 4 * 1024**3
_FETCH_STRIPES: Final = 64


@dataclass(slots=True)
class _Copy:
    path: Path
    size: int
    mtime_ns: int
    checked: float
    generation: int
    #: When a reader last got this copy (`time.monotonic`): what `refresh` fetches again.
    used: float = 0.0


class RemoteFiles:
    """Local copies of a bucket's channel files, for `channel_files` (thread safe)."""

    def __init__(self, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        #: Whether the server's PostgreSQL publish listener is connected right now.
        self.listening: Callable[[], bool] = lambda: False
        self._copies: OrderedDict[tuple[str, str], _Copy] = OrderedDict()
        self._generations: dict[str, int] = {}
        #: The store each channel's copies came from (what `refresh` fetches from).
        self._stores: dict[str, Store] = {}
        self._bytes = 0
        self._guard = threading.Lock()
        # Striped: one fetch per key at a time, without a lock object per key ever served.
        self._fetching = [threading.Lock() for _ in range(_FETCH_STRIPES)]
        _remove_dead_processes_copies(root)
        # One folder per process (`--workers N`): copies of an earlier run are not trusted.
        self.root = root / str(os.getpid())
        shutil.rmtree(self.root, ignore_errors=True)

    # --- invalidation ---------------------------------------------------------------------------

    def invalidate(self, channel: str) -> None:
        """`channel` was published: its copies must be checked again before use. A label's
        publish also concerns its channel's listing, so the parent's generation moves too."""
        with self._guard:
            self._generations[channel] = self._generations.get(channel, 0) + 1

    def invalidate_all(self) -> None:
        """Notifications may have been lost: check every copy again."""
        with self._guard:
            for channel in list(self._generations):
                self._generations[channel] += 1
            for copy in self._copies.values():
                copy.checked = 0.0

    def refresh(self, channel: str) -> int:
        """After `channel` was published (and `invalidate`d): check and fetch again the copies of
        it that readers got lately, so the next reader finds the new bytes at hand instead of
        waiting for the bucket (clients poll a replica right after a publish elsewhere). Blocking:
        run it off the event loop. Returns how many were looked at; a failure only leaves the
        fetch to the next reader."""
        store = self._stores.get(channel)
        if store is None:
            return 0
        keys = self._hot_keys(channel)
        for key in keys:
            with contextlib.suppress(Exception):
                opened = self.open(channel, store, key)
                if opened is not None:
                    opened.close()
        return len(keys)

    def _hot_keys(self, channel: str) -> list[str]:
        since = time.monotonic() - HOT_SECONDS
        with self._guard:
            hot = [
                key
                for (name, key), copy in reversed(self._copies.items())
                if name == channel and copy.used >= since and not is_immutable(key)
            ]
        return hot[:HOT_LIMIT]

    # --- lookup ---------------------------------------------------------------------------------

    def open(self, channel: str, store: Store, key: str, *, check: bool = False) -> OpenFile | None:
        """The local copy of `key` (fetched or refreshed when needed), or None when the bucket
        has no such object; `check` asks the bucket even when the copy is trusted. Blocking:
        call from a worker thread."""
        entry = (channel, key)
        self._stores.setdefault(channel, store)
        copy = None if check else self._fresh(entry)
        if copy is not None:
            opened = open_regular_file(copy.path)
            if opened is not None:
                return opened
        lock = self._fetch_lock(entry)
        with lock:  # one fetch per key at a time; the others wait and reuse it
            copy = None if check else self._fresh(entry)
            if copy is not None and (opened := open_regular_file(copy.path)) is not None:
                return opened
            info = store.stat(key)
            if info is None:
                self._drop(entry)
                return None
            known = self._copies.get(entry)
            if known is not None and (known.size, known.mtime_ns) == (info.size, info.mtime_ns):
                opened = open_regular_file(known.path)
                if opened is not None:
                    self._touch(entry, known)
                    return opened
            opened = self._fetch(entry, store)
            if opened is None:
                self._drop(entry)  # deleted between the HEAD and the GET
            return opened

    def open_fresh(self, channel: str, key: str) -> OpenFile | None:
        """The local copy of `key` when it is trusted without asking the bucket, else None (then
        call `open` from a worker thread). Not blocking: a dictionary lookup and a local open,
        cheap enough for the event loop (the hot path of a replica's reads)."""
        copy = self._fresh((channel, key))
        return None if copy is None else open_regular_file(copy.path)

    def _fresh(self, entry: tuple[str, str]) -> _Copy | None:
        with self._guard:
            copy = self._copies.get(entry)
            if copy is None:
                return None
            self._copies.move_to_end(entry)
            copy.used = time.monotonic()
            if is_immutable(entry[1]):
                return copy
            if copy.generation != self._generations.get(entry[0], 0):
                return None
            limit = TRUSTED_SECONDS if self.listening() else UNTRUSTED_SECONDS
            return copy if time.monotonic() - copy.checked < limit else None

    def _touch(self, entry: tuple[str, str], copy: _Copy) -> None:
        with self._guard:
            copy.checked = time.monotonic()
            copy.generation = self._generations.get(entry[0], 0)

    def _fetch_lock(self, entry: tuple[str, str]) -> threading.Lock:
        return self._fetching[hash(entry) % _FETCH_STRIPES]

    def _fetch(self, entry: tuple[str, str], store: Store) -> OpenFile | None:
        channel, key = entry
        generation = self._generations.get(channel, 0)
        folder = self.root / hashlib.sha256(f"{channel}\0{key}".encode()).hexdigest()[:32]
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".fetch.", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    # One GET; its answer says which version the bytes are (the HEAD that
                    # led here may already be older): the copy is named and dated by that.
                    got = store.download(key, out)
                except FileNotFoundError:
                    return None
            target = folder / f"{got.mtime_ns:x}-{got.size:x}"
            os.utime(tmp, ns=(got.mtime_ns, got.mtime_ns))
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        opened = open_regular_file(target)
        if opened is None:
            return None
        now = time.monotonic()
        copy = _Copy(target, opened.size, got.mtime_ns, now, generation, used=now)
        self._remember(entry, copy)
        return opened

    def _remember(self, entry: tuple[str, str], copy: _Copy) -> None:
        doomed: list[Path] = []
        with self._guard:
            old = self._copies.pop(entry, None)
            if old is not None:
                self._bytes -= old.size
                if old.path != copy.path:
                    doomed.append(old.path)
            self._copies[entry] = copy
            self._bytes += copy.size
            while self._bytes > self.max_bytes and len(self._copies) > 1:
                _, evicted = self._copies.popitem(last=False)
                self._bytes -= evicted.size
                doomed.append(evicted.path)
        for path in doomed:
            with contextlib.suppress(OSError):
                path.unlink()  # an open descriptor keeps serving it

    def _drop(self, entry: tuple[str, str]) -> None:
        with self._guard:
            old = self._copies.pop(entry, None)
            if old is not None:
                self._bytes -= old.size
        if old is not None:
            with contextlib.suppress(OSError):
                old.path.unlink()

    @property
    def cached_bytes(self) -> int:
        return self._bytes


def _remove_dead_processes_copies(root: Path) -> None:
    """Delete the folders of processes that are gone (a crash or `kill -9` left them)."""
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if not folder.name.isdigit():
            continue
        try:
            os.kill(int(folder.name), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue  # exists, another user's: leave it
