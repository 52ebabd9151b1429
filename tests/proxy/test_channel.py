"""`ProxyChannel` against real HTTP upstreams on 127.0.0.1 (threaded static servers): TTL and
conditional revalidation, cached 404s, failover order, stale-if-error, verified artifacts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from stockyard.proxy import ProxyChannel, ProxyUnavailable
from stockyard.proxy.settings import ProxySettings
from stockyard.types.policy import ProxyPolicy
from tests.mirror.upstreams import static_server
from tests.proxy.upstream_setup import static_upstream_root


def _channel(tmp_path: Path, *urls: str, ttl: int = 60) -> ProxyChannel:
    policy = ProxyPolicy(upstreams=urls, ttl=ttl, timeout=3)
    return ProxyChannel(tmp_path / "state", ProxySettings.from_policy(policy))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return static_upstream_root(tmp_path, shards=True)


def test_ttl_then_conditional_revalidation(tmp_path: Path, root: Path) -> None:
    with static_server(root) as origin:
        proxy = _channel(tmp_path, origin.url, ttl=1)

        async def run() -> None:
            first = await proxy.get("noarch/repodata.json")
            assert first is not None and not first.stale
            await proxy.get("noarch/repodata.json.zst")  # from the same fetch
            await proxy.get("noarch/repodata.json")  # within the TTL: no request
            assert origin.paths() == ["/noarch/repodata.json.zst"]
            time.sleep(1.1)
            again = await proxy.get("noarch/repodata.json")
            assert again is not None and again.path.read_bytes() == first.path.read_bytes()
            await proxy.close()

        asyncio.run(run())
    # the revalidation was conditional and answered 304
    assert origin.log[-1][2] == 304 and origin.log[-1][4] is not None


def test_missing_subdir_is_a_cached_404(tmp_path: Path, root: Path) -> None:
    with static_server(root) as origin:
        proxy = _channel(tmp_path, origin.url)

        async def run() -> None:
            assert await proxy.get("osx-arm64/repodata.json") is None
            assert await proxy.get("osx-arm64/repodata.json") is None
            assert await proxy.get("osx-arm64/x-1.0-0.conda") is None
            assert await proxy.get("noarch/index.html") is None
            assert await proxy.get("not a subdir/repodata.json") is None
            await proxy.close()

        asyncio.run(run())
    assert origin.paths().count("/osx-arm64/repodata.json") == 1


def test_failover_order_and_stale_if_error(tmp_path: Path, root: Path) -> None:
    with static_server(root) as good:
        dead = "http://127.0.0.1:9"  # discard port: connection refused
        proxy = _channel(tmp_path, dead, good.url, ttl=1)

        async def run() -> None:
            served = await proxy.get("linux-64/repodata.json")
            assert served is not None and not served.stale
            assert list(proxy.upstreams.ordered()) == [good.url, dead]
            artifact = await proxy.get("linux-64/native-0.5-h0_0.conda")
            assert artifact is not None
            assert (
                artifact.path.read_bytes() == (root / "linux-64/native-0.5-h0_0.conda").read_bytes()
            )

        asyncio.run(run())
    time.sleep(1.1)  # both upstreams gone now, past the TTL

    async def after() -> None:
        stale = await proxy.get("linux-64/repodata.json")
        assert stale is not None and stale.stale
        cached = await proxy.get("linux-64/native-0.5-h0_0.conda")
        assert cached is not None and not cached.stale
        with pytest.raises(ProxyUnavailable, match=r"unrelated-1\.0-0\.conda"):
            await proxy.get("linux-64/unrelated-1.0-0.conda")
        with pytest.raises(ProxyUnavailable):
            await proxy.get("noarch/repodata.json")  # never cached
        await proxy.close()

    asyncio.run(after())


def test_unlisted_artifact_is_404_and_nothing_is_fetched(tmp_path: Path, root: Path) -> None:
    with static_server(root) as origin:
        proxy = _channel(tmp_path, origin.url)

        async def run() -> None:
            assert await proxy.get("noarch/nothere-1.0-0.conda") is None
            await proxy.close()

        asyncio.run(run())
    assert not any(p.endswith(".conda") for p in origin.paths())
