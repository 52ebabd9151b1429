"""The proxy's on-disk cache, under `<channel>/.stockyard/proxy/` (never served as a path of
its own, never scanned by the indexer):

```
files/<key>        what is served for <key> (repodata.json, its .zst, shards, artifacts...)
meta/<key>.json    where it came from and when: upstream, validators, checked_at, sha256;
                   its mtime is when an artifact was last served (`touch`, for pruning)
tmp/               downloads in flight (removed when they fail)
```

Every file is written to a temp file and renamed, so a reader sees a whole old file or a whole
new one. Keys are checked with `stockyard.storage.check_key` (no traversal).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Final, Literal

import msgspec

from stockyard.storage import check_key

PROXY_DIR = "proxy"
#: Seconds between two notes that a cached artifact was served (`ProxyCache.touch`).
TOUCH_EVERY: Final = 600.0


class Meta(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the cache knows about one key."""

    status: Literal["ok", "missing"] = "ok"
    #: The upstream it came from (validators are only valid there).
    upstream: str = ""
    #: The upstream document it was made from (`repodata.json.zst` for repodata.json...).
    source: str = ""
    etag: str | None = None
    last_modified: str | None = None
    #: Wall-clock time of the last successful check upstream.
    checked_at: float = 0.0
    #: Artifacts: the verified sha256 and size.
    sha256: str | None = None
    size: int | None = None
    #: Repodata and shard index: upstream's resolved artifact base URL and shards base URL.
    base_url: str | None = None
    shards_base_url: str | None = None

    def age(self) -> float:
        return time.time() - self.checked_at


_decode_meta = msgspec.json.Decoder(Meta).decode


class ProxyCache:
    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / PROXY_DIR
        self.files = self.root / "files"
        self.meta_dir = self.root / "meta"
        self.tmp = self.root / "tmp"
        #: Lock files of artifact downloads (one writer across worker processes).
        self.locks = self.root / "locks"

    def path(self, key: str) -> Path:
        return self.files / check_key(key)

    def _meta_path(self, key: str) -> Path:
        return self.meta_dir / f"{check_key(key)}.json"

    def meta(self, key: str) -> Meta | None:
        try:
            return _decode_meta(self._meta_path(key).read_bytes())
        except (FileNotFoundError, NotADirectoryError, msgspec.DecodeError):
            return None

    def last_used(self, key: str) -> float | None:
        """When `key` was last served from the cache or stored (its metadata's mtime)."""
        try:
            return self._meta_path(key).stat().st_mtime
        except (FileNotFoundError, NotADirectoryError):
            return None

    def touch(self, key: str) -> None:
        """Note that `key` was served (what pruning goes by), at most once per `TOUCH_EVERY`:
        the metadata's mtime, so the served file and its ETag stay as they are."""
        path = self._meta_path(key)
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime >= TOUCH_EVERY:
                os.utime(path)

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def write(self, key: str, data: bytes) -> None:
        write_atomic(self.path(key), data)

    def write_meta(self, key: str, meta: Meta) -> None:
        write_atomic(self._meta_path(key), msgspec.json.encode(meta))

    def adopt(self, key: str, temp: Path) -> None:
        """Move a verified download into place."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, target)

    def temp_path(self, hint: str) -> Path:
        self.tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{Path(hint).name[:80]}.", suffix=".part", dir=self.tmp)
        os.close(fd)
        return Path(name)

    def discard(self, key: str) -> None:
        for path in (self._meta_path(key), self.path(key)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:80]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
