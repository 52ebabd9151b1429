"""A proxy channel's bounded cache (`stockyard.proxy.prune`) against a real static upstream on
127.0.0.1: least recently served artifacts go first, by age, shards no index names, crash
leftovers; documents stay; a pruned artifact is fetched (and verified) again; serving notes the
use without touching the served file; the bound is kept as artifacts arrive; documents cached
from an upstream the channel no longer has are revalidated at once."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from stockyard.proxy import ProxyChannel
from stockyard.proxy.cache import TOUCH_EVERY, ProxyCache
from stockyard.proxy.documents import shard_index_hashes
from stockyard.proxy.prune import STALE_DOWNLOAD, PruneLimits, cache_usage, prune_cache
from stockyard.proxy.settings import ProxySettings
from stockyard.types.policy import ProxyPolicy
from tests.mirror.upstreams import static_server
from tests.proxy.upstream_setup import static_upstream_root

ALPHA, BETA, GAMMA = (f"noarch/{n}-0.conda" for n in ("alpha-3.1", "beta-2.0", "gamma-1.0"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return static_upstream_root(tmp_path, shards=True)


def _proxy(state: Path, *urls: str, **policy: int) -> ProxyChannel:
    settings = ProxySettings.from_policy(ProxyPolicy(upstreams=urls, timeout=5, **policy))
    return ProxyChannel(state, settings)


def _fetch(proxy: ProxyChannel, *keys: str) -> list[bytes]:
    async def run() -> list[bytes]:
        found = [await proxy.get(key) for key in keys]
        await proxy.close()
        return [item.path.read_bytes() for item in found if item is not None]

    return asyncio.run(run())


def _served_ago(cache: ProxyCache, key: str, seconds: float) -> None:
    """As if `key` was last served `seconds` ago (its metadata's mtime)."""
    stamp = time.time() - seconds
    os.utime(cache.meta_dir / f"{key}.json", (stamp, stamp))


def test_least_recently_served_go_first_and_come_back(tmp_path: Path, root: Path) -> None:
    with static_server(root) as origin:
        proxy = _proxy(tmp_path / "state", origin.url)
        assert len(_fetch(proxy, "noarch/repodata.json", ALPHA, BETA, GAMMA)) == 4
        cache = proxy.cache
        for key, ago in ((ALPHA, 3000), (BETA, 2000), (GAMMA, 1000)):
            _served_ago(cache, key, ago)
        before = cache_usage(cache)
        assert before["artifacts"] == 3
        bound = before["bytes"] - cache.path(ALPHA).stat().st_size  # one must go
        report = prune_cache(cache, PruneLimits(max_bytes=bound))
        assert report.removed == {"least recently served beyond max_cache_bytes": [ALPHA]}
        assert report.bytes <= bound and report.artifacts == 2
        assert not cache.has(ALPHA) and cache.meta(ALPHA) is None
        assert cache.has(BETA) and cache.has(GAMMA) and cache.has("noarch/repodata.json")
        # a dry run reports and deletes nothing
        dry = prune_cache(cache, PruneLimits(max_bytes=1), dry_run=True)
        assert sorted(dry.removed["least recently served beyond max_cache_bytes"]) == [BETA, GAMMA]
        assert cache.has(BETA) and cache.has(GAMMA)
        # recently served artifacts are never pruned for size (a request may be reading them)
        _served_ago(cache, GAMMA, 1)
        kept = prune_cache(cache, PruneLimits(max_bytes=1))
        assert kept.removed == {"least recently served beyond max_cache_bytes": [BETA]}
        assert cache.has(GAMMA)
        # a pruned artifact is fetched again on its next request
        start = len(origin.log)
        again = _fetch(_proxy(tmp_path / "state", origin.url), ALPHA)
        assert again == [(root / ALPHA).read_bytes()]
        assert origin.paths(start).count(f"/{ALPHA}") == 1


def test_age_shards_and_leftovers(tmp_path: Path, root: Path) -> None:
    with static_server(root) as origin:
        proxy = _proxy(tmp_path / "state", origin.url)
        _fetch(proxy, "noarch/repodata_shards.msgpack.zst", ALPHA, BETA)
        cache = proxy.cache
        named = shard_index_hashes(cache.path("noarch/repodata_shards.msgpack.zst").read_bytes())[0]
        _fetch(_proxy(tmp_path / "state", origin.url), f"noarch/shards/{named}.msgpack.zst")
        stale_shard = f"noarch/shards/{'0' * 64}.msgpack.zst"
        cache.write(stale_shard, b"an old index's shard")
        leftover = cache.temp_path("crashed.conda")
        old = time.time() - STALE_DOWNLOAD - 10
        os.utime(leftover, (old, old))
        fresh = cache.temp_path("in-flight.conda")
        _served_ago(cache, ALPHA, 7200)
        report = prune_cache(cache, PruneLimits(max_age=3600))
    assert report.removed == {
        "download left by a crash": [f"tmp/{leftover.name}"],
        "not served within max_cache_age": [ALPHA],
        "unreferenced shard": [stale_shard],
    }
    assert fresh.exists() and not leftover.exists()
    assert cache.has(BETA) and cache.has(f"noarch/shards/{named}.msgpack.zst")
    assert cache.has("noarch/repodata.json") and cache.has("noarch/repodata_shards.msgpack.zst")


def test_serving_notes_the_use_not_on_the_file(tmp_path: Path, root: Path) -> None:
    with static_server(root) as origin:
        state = tmp_path / "state"
        _fetch(_proxy(state, origin.url), ALPHA)
        cache = ProxyCache(state)
        _served_ago(cache, ALPHA, 2 * TOUCH_EVERY)
        file_mtime = cache.path(ALPHA).stat().st_mtime_ns
        used = cache.last_used(ALPHA)
        start = len(origin.log)
        _fetch(_proxy(state, origin.url), ALPHA)
    assert not any(p.endswith(".conda") for p in origin.paths(start))  # from the cache
    last = cache.last_used(ALPHA)
    assert used is not None and last is not None and last > used + TOUCH_EVERY
    assert cache.path(ALPHA).stat().st_mtime_ns == file_mtime  # its ETag stays


def test_bound_is_kept_as_artifacts_arrive(tmp_path: Path, root: Path) -> None:
    with static_server(root) as origin:
        state = tmp_path / "state"
        _fetch(_proxy(state, origin.url), "noarch/repodata.json", ALPHA)
        cache = ProxyCache(state)
        _served_ago(cache, ALPHA, 3600)
        bound = cache_usage(cache)["bytes"] + (root / BETA).stat().st_size // 2
        bounded = _proxy(state, origin.url, max_cache_bytes=bound)
        assert _fetch(bounded, BETA) == [(root / BETA).read_bytes()]
    # the download took the cache past its bound: the least recently served artifact went
    assert not cache.has(ALPHA) and cache.has(BETA)
    assert bounded.pruner.bytes is not None and bounded.pruner.bytes <= bound


def test_documents_of_a_removed_upstream_are_revalidated(tmp_path: Path, root: Path) -> None:
    state = tmp_path / "state"
    with static_server(root) as first, static_server(root) as second:
        _fetch(_proxy(state, first.url), "noarch/repodata.json")
        start = len(first.log)
        _fetch(_proxy(state, first.url), "noarch/repodata.json")  # within its TTL: cached
        assert first.paths(start) == []
        _fetch(_proxy(state, second.url), "noarch/repodata.json")  # the upstreams changed
    assert second.paths() == ["/noarch/repodata.json.zst"]
