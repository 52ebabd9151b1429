"""Keeping a proxy channel's cache bounded (`ProxyPolicy.max_cache_bytes`, `max_cache_age`).

What a prune removes, in this order:

1. downloads a crash left in `tmp/` (untouched for `STALE_DOWNLOAD` seconds);
2. shards no cached shard index names any more (content-addressed: a new index names new
   shards, the old ones are never asked for again), and metadata whose file is gone;
3. artifacts not served for `max_cache_age` seconds;
4. while the cache is larger than `max_cache_bytes`, the least recently served artifacts.

Documents (repodata and its `.zst`, the shard index, channeldata, cached 404s) are never
pruned: they are small, and without them nothing can be served when every upstream fails.
"Served" is the mtime of the artifact's metadata file, touched when the artifact is served from
the cache (`ProxyCache.touch`, at most once per `TOUCH_EVERY`, so a busy artifact costs no write
per request); the artifact's own file keeps its mtime, so its ETag never changes. Artifacts
served within the last `RECENT` seconds are never pruned for size (a request may be reading
them), so the cache can exceed its bound by that much.

A pruned artifact is fetched and verified again on its next request. Prunes of several server
processes may meet: a file already gone is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from stockyard.proxy import documents as docs
from stockyard.proxy.cache import ProxyCache
from stockyard.types.errors import StockyardError
from stockyard.types.identifiers import artifact_format
from stockyard.types.policy import ProxyPolicy

#: Seconds an artifact served last is safe from a prune for size.
RECENT: Final = 60.0
#: Seconds after which a download left in tmp/ is a crash's leftover.
STALE_DOWNLOAD: Final = 3600.0
#: Seconds between two prunes of a cache within its size bound (`AutoPrune`).
PRUNE_EVERY: Final = 300.0

Kind = Literal["artifact", "shard", "document"]
log = logging.getLogger("stockyard.server")


@dataclass(frozen=True, slots=True)
class PruneLimits:
    #: Bytes the cache may hold (0: no bound).
    max_bytes: int = 0
    #: Seconds an artifact may stay without being served (0: no bound).
    max_age: float = 0.0

    @classmethod
    def of(cls, policy: ProxyPolicy) -> PruneLimits:
        return cls(policy.max_cache_bytes, float(policy.max_cache_age))

    @property
    def active(self) -> bool:
        return self.max_bytes > 0 or self.max_age > 0


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str
    kind: Kind
    size: int
    #: When it was last served (artifacts) or written.
    used: float


@dataclass(slots=True)
class PruneReport:
    #: Keys removed (artifacts, shards) and tmp/ leftovers, by why.
    removed: dict[str, list[str]] = field(default_factory=dict)
    freed: int = 0
    #: What the cache holds afterwards.
    files: int = 0
    bytes: int = 0
    artifacts: int = 0
    dry_run: bool = False

    def note(self, reason: str, key: str, size: int) -> None:
        self.removed.setdefault(reason, []).append(key)
        self.freed += size

    def to_dict(self) -> dict[str, Any]:
        return {
            "removed": {reason: sorted(keys) for reason, keys in sorted(self.removed.items())},
            "removed_count": sum(len(keys) for keys in self.removed.values()),
            "freed_bytes": self.freed,
            "files": self.files,
            "bytes": self.bytes,
            "artifacts": self.artifacts,
            "dry_run": self.dry_run,
        }


def prune_cache(
    cache: ProxyCache, limits: PruneLimits, *, dry_run: bool = False, now: float | None = None
) -> PruneReport:
    """Blocking: prune `cache` by `limits` (see the module docstring); with `dry_run`, only
    report what would go."""
    now = time.time() if now is None else now
    report = PruneReport(dry_run=dry_run)
    _clean_tmp(cache, now, report, dry_run)
    entries = _entries(cache)
    referenced = _referenced_shards(cache, entries)
    kept: list[_Entry] = []
    for entry in entries:
        if entry.kind == "shard" and entry.key not in referenced:
            _remove(cache, entry, "unreferenced shard", report, dry_run)
        elif entry.kind == "artifact" and limits.max_age and now - entry.used > limits.max_age:
            _remove(cache, entry, "not served within max_cache_age", report, dry_run)
        else:
            kept.append(entry)
    total = sum(entry.size for entry in kept)
    if limits.max_bytes and total > limits.max_bytes:
        evicted: set[str] = set()
        for entry in sorted((e for e in kept if e.kind == "artifact"), key=lambda e: e.used):
            if total <= limits.max_bytes or now - entry.used < RECENT:
                break
            _remove(cache, entry, "least recently served beyond max_cache_bytes", report, dry_run)
            evicted.add(entry.key)
            total -= entry.size
        kept = [entry for entry in kept if entry.key not in evicted]
    if not dry_run:
        _drop_orphan_meta(cache)
    report.files, report.bytes = len(kept), total
    report.artifacts = sum(1 for entry in kept if entry.kind == "artifact")
    return report


def cache_usage(cache: ProxyCache) -> dict[str, int]:
    """Blocking: how many files and bytes the cache holds, and how many are artifacts."""
    entries = _entries(cache)
    return {
        "files": len(entries),
        "bytes": sum(entry.size for entry in entries),
        "artifacts": sum(1 for entry in entries if entry.kind == "artifact"),
    }


def _kind(key: str) -> Kind:
    parts = key.split("/")
    if len(parts) == 3 and parts[1] == "shards":
        return "shard"
    return "artifact" if len(parts) == 2 and artifact_format(parts[1]) else "document"


def _entries(cache: ProxyCache) -> list[_Entry]:
    entries = []
    for folder, _dirs, names in os.walk(cache.files):
        for name in names:
            path = Path(folder) / name
            key = path.relative_to(cache.files).as_posix()
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                used = cache.last_used(key)
                entries.append(_Entry(key, _kind(key), stat.st_size, used or stat.st_mtime))
    return entries


def _referenced_shards(cache: ProxyCache, entries: list[_Entry]) -> set[str]:
    """Keys of the shards the cached shard indexes name (every shard of a subdir whose index
    cannot be read is kept: better a stale shard than a hole)."""
    referenced: set[str] = set()
    for subdir in {entry.key.split("/")[0] for entry in entries if entry.kind == "shard"}:
        index = cache.path(f"{subdir}/{docs.SHARD_INDEX}")
        try:
            digests = docs.shard_index_hashes(index.read_bytes())
        except FileNotFoundError:
            continue  # no index: nothing names these shards
        except (StockyardError, OSError):
            referenced.update(e.key for e in entries if e.key.startswith(f"{subdir}/shards/"))
            continue
        referenced.update(f"{subdir}/shards/{digest}.msgpack.zst" for digest in digests)
    return referenced


def _remove(
    cache: ProxyCache, entry: _Entry, reason: str, report: PruneReport, dry_run: bool
) -> None:
    report.note(reason, entry.key, entry.size)
    if not dry_run:
        cache.discard(entry.key)


def _clean_tmp(cache: ProxyCache, now: float, report: PruneReport, dry_run: bool) -> None:
    if not cache.tmp.is_dir():
        return
    for path in cache.tmp.iterdir():
        with contextlib.suppress(FileNotFoundError):
            stat = path.stat()
            if now - stat.st_mtime > STALE_DOWNLOAD:
                report.note("download left by a crash", f"tmp/{path.name}", stat.st_size)
                if not dry_run:
                    path.unlink()


def _drop_orphan_meta(cache: ProxyCache) -> None:
    """Metadata of an artifact or shard whose file is gone (documents keep theirs: a cached
    404 has no file)."""
    for folder, _dirs, names in os.walk(cache.meta_dir):
        for name in names:
            key = (Path(folder) / name).relative_to(cache.meta_dir).as_posix().removesuffix(".json")
            if _kind(key) != "document" and not cache.has(key):
                with contextlib.suppress(FileNotFoundError):
                    (Path(folder) / name).unlink()


class AutoPrune:
    """Prunes a bounded cache as artifacts arrive (one `ProxyChannel`'s): after a download
    that takes the cache past `max_cache_bytes` (known from the last prune plus the downloads
    since), and at most every `PRUNE_EVERY` seconds otherwise (for `max_cache_age`)."""

    def __init__(self, cache: ProxyCache, limits: PruneLimits) -> None:
        self.cache = cache
        self.limits = limits
        #: Bytes the cache held at the last prune plus what arrived since (None: not known).
        self.bytes: int | None = None
        self._last = float("-inf")
        self._running = False

    async def added(self, size: int) -> PruneReport | None:
        """After a download of `size` bytes: prune when it is due (the report), else None."""
        if not self.limits.active or self._running:
            return None
        if self.bytes is not None:
            self.bytes += size
        over = self.limits.max_bytes > 0 and (
            self.bytes is None or self.bytes > self.limits.max_bytes
        )
        if not over and time.monotonic() - self._last < PRUNE_EVERY:
            return None
        self._running, self._last = True, time.monotonic()
        try:
            report = await asyncio.to_thread(prune_cache, self.cache, self.limits)
        except OSError as exc:  # the download that came first is served all the same
            log.warning("pruning the proxy cache %s failed: %s", self.cache.root, exc)
            return None
        finally:
            self._running = False
        self.bytes = report.bytes
        return report
