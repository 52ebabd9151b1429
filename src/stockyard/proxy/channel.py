"""`ProxyChannel`: what a proxy channel serves for a key, from its cache or its upstreams.

- Repodata (`repodata.json` and the `.zst` derived with it, `current_repodata.json`,
  `repodata_from_packages.json`), the shard index and `channeldata.json` are cached and served
  for `ttl` seconds, then revalidated with upstream's validators (`If-None-Match`,
  `If-Modified-Since`, sent only to the upstream that gave them). A 404 upstream is cached as
  well (clients probe subdirs and variants), for the same time.
- Shards are content-addressed: fetched once, checked against their name, kept.
- Artifacts are served when repodata lists them (after the filters): fetched on first request
  from the first upstream that serves them correctly, verified, cached, served from the cache
  afterwards while the record's sha256 is the one cached. A cached artifact that the cached
  repodata lists is served at once even when that repodata is past its TTL: the revalidation
  runs in the background (stale-while-revalidate), so an upstream that is slow or hangs never
  holds up what is cached (before, every artifact request after the TTL waited for it, up to
  `timeout` seconds per upstream).
- When no upstream answers, cached documents are served stale (`ProxyFile.stale`; for
  `RETRY_AFTER` seconds without asking again) and what is not cached fails with
  `ProxyUnavailable` (502).
- Concurrent requests for one key share one upstream transfer (`SingleFlight`); for artifacts
  also across the server's worker processes (a file lock per artifact).
- A bounded cache (`max_cache_bytes`, `max_cache_age`) is pruned as artifacts arrive
  (`stockyard.proxy.prune`); documents cached from an upstream the channel no longer has are
  expired at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Final

import anyio
import filelock
import msgspec

from stockyard.proxy import documents as docs
from stockyard.proxy.artifacts import ArtifactRecord, fetch_artifact
from stockyard.proxy.cache import Meta, ProxyCache
from stockyard.proxy.errors import ProxyUnavailable
from stockyard.proxy.prune import AutoPrune, PruneLimits
from stockyard.proxy.settings import ProxySettings
from stockyard.proxy.singleflight import SingleFlight
from stockyard.proxy.upstreams import Fetched, Upstreams
from stockyard.types.errors import InvalidIdentifier
from stockyard.types.identifiers import artifact_format, check_subdir
from stockyard.types.policy import ProxyPolicy

#: Seconds a document is served stale without asking again after every upstream failed.
RETRY_AFTER: Final = 5.0
#: Seconds a worker process waits for another one downloading the same artifact.
ARTIFACT_LOCK_WAIT: Final = 600.0
#: An artifact missing from cached repodata re-checks repodata if it is older than this.
RECHECK_AFTER: Final = 2.0
_SHARD = re.compile(r"^([0-9a-f]{64})\.msgpack\.zst$")

#: (upstream document's path relative to the channel, its bytes, its URL) -> what to cache.
Prepare = Callable[[str, bytes, str], docs.Prepared]


@dataclass(frozen=True, slots=True)
class ProxyFile:
    """A cached file to serve; `stale` when upstreams failed and it could not be revalidated."""

    path: Path
    stale: bool = False


class ProxyChannel:
    def __init__(
        self, state_dir: Path, settings: ProxySettings, stored: ProxyPolicy | None = None
    ) -> None:
        self.settings = settings
        #: The policy as stored (before normalizing), to notice a change cheaply.
        self.stored = stored or settings.policy
        self.cache = ProxyCache(state_dir)
        self.upstreams = Upstreams(settings.upstreams, settings.policy.timeout)
        self.flights: SingleFlight[Meta | None] = SingleFlight()
        self.pruner = AutoPrune(self.cache, PruneLimits.of(settings.policy))
        #: subdir -> ((mtime_ns, size) of the cached repodata.json, its records).
        self._records: dict[str, tuple[tuple[int, int], dict[str, tuple[str, int]]]] = {}
        self._retry_at: dict[str, float] = {}
        self._complete_indexes: set[tuple[str, int, int]] = set()
        #: Background revalidations (a reference keeps a task from being collected).
        self._background: set[asyncio.Task[ProxyFile | None]] = set()

    @property
    def policy(self) -> ProxyPolicy:
        return self.settings.policy

    async def get(self, key: str) -> ProxyFile | None:
        """The file to serve for `key` (a checked path inside the channel); None: 404."""
        parts = key.split("/")
        if parts == [docs.CHANNELDATA]:
            return await self._document(key, (key,), _channeldata)
        if len(parts) < 2 or not _is_subdir(parts[0]):
            return None
        subdir, rest = parts[0], "/".join(parts[1:])
        if not self.settings.serves_subdir(subdir):
            return None
        if rest in (docs.REPODATA, docs.REPODATA_ZST):
            served = await self._repodata(subdir)
            return None if served is None else ProxyFile(self.cache.path(key), served.stale)
        if rest in docs.OTHER_REPODATA:
            return await self._document(key, (key,), self._prepare_repodata(subdir, rest))
        if self.settings.compiled is not None:
            return await self._artifact(subdir, rest) if artifact_format(rest) else None
        if rest == docs.SHARD_INDEX:
            index = await self._document(key, (key,), _shard_index(subdir))
            if index is not None and index.stale and not await self._shards_cached(index.path):
                return None  # clients fall back to the (stale) repodata.json, all cached
            return index
        shard = _SHARD.match(parts[2]) if len(parts) == 3 and parts[1] == "shards" else None
        if shard is not None:
            return await self._shard(subdir, key, shard.group(1))
        return await self._artifact(subdir, rest) if artifact_format(rest) else None

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.upstreams.close()

    # --- documents --------------------------------------------------------------------------

    async def _repodata(self, subdir: str) -> ProxyFile | None:
        key = f"{subdir}/{docs.REPODATA}"
        sources = (f"{subdir}/{docs.REPODATA_ZST}", key)
        return await self._document(key, sources, self._prepare_repodata(subdir, docs.REPODATA))

    def _prepare_repodata(self, subdir: str, name: str) -> Prepare:
        def prepare(source: str, raw: bytes, url: str) -> docs.Prepared:
            return docs.prepare_repodata(self.settings, subdir, name, source, raw, url)

        return prepare

    async def _document(
        self, key: str, sources: tuple[str, ...], prepare: Prepare, *, force: bool = False
    ) -> ProxyFile | None:
        meta = self.cache.meta(key)
        if meta is not None and meta.status == "ok" and not self.cache.has(key):
            meta = None  # the cached file went away: fetch it again
        if meta is not None and not force:
            # From an upstream the channel no longer has (its upstreams were changed): expired.
            if meta.age() < self.policy.ttl and meta.upstream in self.settings.upstreams:
                return self._served(key, meta, stale=False)
            if time.monotonic() < self._retry_at.get(key, 0.0):
                return self._served(key, meta, stale=True)
        try:
            meta = await self.flights.run(
                f"doc:{key}", lambda: self._refresh(key, sources, prepare, meta)
            )
        except ProxyUnavailable:
            if meta is None or (meta.status == "ok" and not self.cache.has(key)):
                raise
            self._retry_at[key] = time.monotonic() + min(RETRY_AFTER, self.policy.ttl)
            return self._served(key, meta, stale=True)
        assert meta is not None
        return self._served(key, meta, stale=False)

    def _served(self, key: str, meta: Meta, *, stale: bool) -> ProxyFile | None:
        if meta.status == "missing":
            return None
        return ProxyFile(self.cache.path(key), stale)

    async def _refresh(
        self, key: str, sources: tuple[str, ...], prepare: Prepare, old: Meta | None
    ) -> Meta:
        async def attempt(upstream: str) -> Meta:
            for source in sources:
                url = f"{upstream}/{source}"
                headers = self._validators(key, old, upstream, source)
                fetched = await self.upstreams.document(url, headers, upstream)
                if fetched.status == "missing":
                    continue
                if fetched.status == "not_modified" and old is not None:
                    meta = msgspec.structs.replace(old, checked_at=time.time())
                else:
                    meta = await self._store(key, source, url, fetched, prepare)
                self.cache.write_meta(key, meta)
                return meta
            meta = Meta(status="missing", upstream=upstream, checked_at=time.time())
            self.cache.write_meta(key, meta)
            return meta

        return await self.upstreams.first_good(key, attempt)

    def _validators(self, key: str, old: Meta | None, upstream: str, source: str) -> dict[str, str]:
        """Conditional headers, only for the upstream and document they came from, and only
        when the cached files are still there."""
        if old is None or old.upstream != upstream or old.source != source:
            return {}
        if old.status != "ok" or not self.cache.has(key):
            return {}
        headers = {}
        if old.etag:
            headers["If-None-Match"] = old.etag
        if old.last_modified:
            headers["If-Modified-Since"] = old.last_modified
        return headers

    async def _store(
        self, key: str, source: str, url: str, fetched: Fetched, prepare: Prepare
    ) -> Meta:
        prepared = await asyncio.to_thread(prepare, source, fetched.body, url)
        # The derived variants first, the requested document last: a reader that sees the new
        # repodata.json finds its .zst already written.
        for name in sorted(prepared.files, key=lambda n: n == key):
            self.cache.write(name, prepared.files[name])
        if prepared.records or key.endswith(f"/{docs.REPODATA}"):
            self._remember_records(key, prepared.records)
        return Meta(
            upstream=fetched.upstream,
            source=source,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            checked_at=time.time(),
            base_url=prepared.base_url,
        )

    # --- records ----------------------------------------------------------------------------

    def _remember_records(self, key: str, records: dict[str, tuple[str, int]]) -> None:
        if not key.endswith(f"/{docs.REPODATA}"):
            return
        stat = self.cache.path(key).stat()
        self._records[key.split("/")[0]] = ((stat.st_mtime_ns, stat.st_size), records)

    async def _records_for(self, subdir: str) -> dict[str, tuple[str, int]]:
        """The records of the cached repodata.json (read again when the file changed)."""
        path = self.cache.path(f"{subdir}/{docs.REPODATA}")
        stat = path.stat()
        known = self._records.get(subdir)
        if known is not None and known[0] == (stat.st_mtime_ns, stat.st_size):
            return known[1]
        records = await asyncio.to_thread(_read_records, path)
        self._records[subdir] = ((stat.st_mtime_ns, stat.st_size), records)
        return records

    async def _record(self, subdir: str, filename: str) -> ArtifactRecord | None:
        served = await self._repodata(subdir)
        if served is None:
            return None
        found = (await self._records_for(subdir)).get(filename)
        meta = self.cache.meta(f"{subdir}/{docs.REPODATA}")
        # Not listed: the client may know newer repodata than we do; ask upstream once.
        if found is None and not served.stale and meta is not None and meta.age() > RECHECK_AFTER:
            key = f"{subdir}/{docs.REPODATA}"
            sources = (f"{subdir}/{docs.REPODATA_ZST}", key)
            prepare = self._prepare_repodata(subdir, docs.REPODATA)
            if await self._document(key, sources, prepare, force=True) is not None:
                found = (await self._records_for(subdir)).get(filename)
        return None if found is None else ArtifactRecord(subdir, filename, *found)

    # --- shards and artifacts ---------------------------------------------------------------

    async def _shard(self, subdir: str, key: str, digest: str) -> ProxyFile | None:
        if self.cache.has(key):
            return ProxyFile(self.cache.path(key))

        async def attempt(upstream: str) -> Meta | None:
            index = self.cache.meta(f"{subdir}/{docs.SHARD_INDEX}")
            base = f"{upstream}/{subdir}/shards/"
            if index is not None and index.upstream == upstream and index.base_url:
                base = index.base_url
            url = f"{base}{digest}.msgpack.zst"
            fetched = await self.upstreams.document(url, {}, upstream)
            if fetched.status != "ok":
                return None
            await asyncio.to_thread(docs.check_shard, fetched.body, digest, url)
            self.cache.write(key, fetched.body)
            return Meta(upstream=upstream, sha256=digest, checked_at=time.time())

        async def fetch() -> Meta | None:
            return await self.upstreams.first_good(key, attempt)

        found = await self.flights.run(f"shard:{key}", fetch)
        return None if found is None else ProxyFile(self.cache.path(key))

    async def _shards_cached(self, index_path: Path) -> bool:
        """Whether every shard a cached shard index names is cached (a stale index is served
        only then: after a failover its shards may be another upstream's, never fetched)."""
        stat = index_path.stat()
        version = (str(index_path), stat.st_mtime_ns, stat.st_size)
        if version in self._complete_indexes:
            return True
        raw = index_path.read_bytes()
        index = await asyncio.to_thread(docs.shard_index_hashes, raw)
        folder = index_path.parent / "shards"
        complete = all((folder / f"{digest}.msgpack.zst").is_file() for digest in index)
        if complete:
            self._complete_indexes.add(version)
        return complete

    async def _artifact(self, subdir: str, filename: str) -> ProxyFile | None:
        known = await self._known_cached(subdir, filename)
        if known is not None:
            self.cache.touch(known.key)
            return ProxyFile(self.cache.path(known.key))
        record = await self._record(subdir, filename)
        if record is None:
            return None
        if self._cached_artifact(record):
            self.cache.touch(record.key)  # what pruning goes by
            return ProxyFile(self.cache.path(record.key))

        async def fetch() -> Meta | None:
            async with self._other_processes_excluded(record):
                if not self._cached_artifact(record):  # else another process fetched it
                    base = self._artifact_base(subdir)
                    await fetch_artifact(self.upstreams, self.cache, record, base)
                    await self.pruner.added(record.size)  # in the flight: counted once
            return None

        await self.flights.run(f"artifact:{record.key}:{record.sha256}", fetch)
        return ProxyFile(self.cache.path(record.key))

    async def _known_cached(self, subdir: str, filename: str) -> ArtifactRecord | None:
        """The record of `filename` when the cached repodata lists it and its verified file is
        cached, whatever the repodata's age (past the TTL, it is revalidated in the background);
        None otherwise (the caller then takes the path that waits for upstream)."""
        key = f"{subdir}/{docs.REPODATA}"
        meta = self.cache.meta(key)
        if meta is None or meta.status != "ok" or meta.upstream not in self.settings.upstreams:
            return None  # never fetched, a cached 404, or from an upstream no longer listed
        try:
            found = (await self._records_for(subdir)).get(filename)
        except FileNotFoundError:
            return None
        if found is None:
            return None
        record = ArtifactRecord(subdir, filename, *found)
        if not self._cached_artifact(record):
            return None
        if meta.age() >= self.policy.ttl:
            self._revalidate_later(subdir)
        return record

    def _revalidate_later(self, subdir: str) -> None:
        """Revalidate `subdir`'s repodata without anyone waiting for it (one at a time: a
        refresh in flight is joined by the single flight anyway)."""
        if self.flights.in_flight(f"doc:{subdir}/{docs.REPODATA}"):
            return
        task = asyncio.ensure_future(self._repodata(subdir))
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[ProxyFile | None]) -> None:
        self._background.discard(task)
        if not task.cancelled():
            # Retrieved: a failure is already handled as for any request (stale, retry later).
            task.exception()

    @contextlib.asynccontextmanager
    async def _other_processes_excluded(self, record: ArtifactRecord) -> AsyncIterator[None]:
        """Single flight across the server's worker processes (`SingleFlight` is per process):
        a file lock per artifact, so a second process waits for the first one's download and
        then finds it cached. The OS releases it if its holder dies. After `ARTIFACT_LOCK_WAIT`
        seconds the waiter downloads anyway (a slow holder must not block it forever)."""
        name = hashlib.sha256(f"{record.key}\0{record.sha256}".encode()).hexdigest()[:32]
        self.cache.locks.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(self.cache.locks / f"{name}.lock", thread_local=False)
        try:
            await anyio.to_thread.run_sync(partial(lock.acquire, timeout=ARTIFACT_LOCK_WAIT))
            held = True
        except filelock.Timeout:
            held = False
        try:
            yield
        finally:
            if held:
                lock.release()

    def _cached_artifact(self, record: ArtifactRecord) -> bool:
        meta = self.cache.meta(record.key)
        return meta is not None and meta.sha256 == record.sha256 and self.cache.has(record.key)

    def _artifact_base(self, subdir: str) -> Callable[[str], str]:
        meta = self.cache.meta(f"{subdir}/{docs.REPODATA}")

        def base(upstream: str) -> str:
            if meta is not None and meta.upstream == upstream and meta.base_url:
                return meta.base_url
            return f"{upstream}/{subdir}/"

        return base


def _is_subdir(name: str) -> bool:
    try:
        check_subdir(name)
    except InvalidIdentifier:
        return False
    return True


def _channeldata(source: str, raw: bytes, url: str) -> docs.Prepared:
    docs.check_channeldata(raw, url)
    return docs.Prepared(files={source: raw})


def _shard_index(subdir: str) -> Prepare:
    def prepare(source: str, raw: bytes, url: str) -> docs.Prepared:
        return docs.prepare_shard_index(subdir, raw, url)

    return prepare


def _read_records(path: Path) -> dict[str, tuple[str, int]]:
    document = msgspec.json.decode(path.read_bytes())
    records: dict[str, tuple[str, int]] = {}
    for section in ("packages", "packages.conda"):
        for filename, record in (document.get(section) or {}).items():
            records[filename] = (str(record["sha256"]).lower(), int(record["size"]))
    return records


class ProxyRegistry:
    """The proxy channels of one server process, by name (rebuilt when a policy changes)."""

    def __init__(self) -> None:
        self._channels: dict[str, ProxyChannel] = {}

    def channel(self, name: str, state_dir: Path, policy: ProxyPolicy) -> ProxyChannel:
        found = self._channels.get(name)
        if found is None or found.stored != policy:
            found = ProxyChannel(state_dir, ProxySettings.from_policy(policy), policy)
            self._channels[name] = found
        return found

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
