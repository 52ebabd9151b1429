"""A cached artifact is served without waiting for its repodata's revalidation (found while
benchmarking the proxy, benchmarks/proxy.py: after the TTL, every artifact request waited for
the conditional request upstream, and for an upstream that hangs, up to `timeout` seconds)."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from pathlib import Path

from stockyard.proxy import ProxyChannel
from stockyard.proxy.settings import ProxySettings
from stockyard.types.policy import ProxyPolicy
from tests.mirror.upstreams import static_server
from tests.proxy.upstream_setup import static_upstream_root

ARTIFACT = "linux-64/native-0.5-h0_0.conda"
REPODATA_ZST = "/linux-64/repodata.json.zst"


def test_cached_artifact_is_served_while_repodata_revalidates(tmp_path: Path) -> None:
    root = static_upstream_root(tmp_path, shards=True)
    asked = threading.Event()
    release = threading.Event()

    def hold(handler: http.server.BaseHTTPRequestHandler) -> None:
        """Upstream takes the revalidation and answers only when the test lets it."""
        asked.set()
        release.wait(10)
        http.server.SimpleHTTPRequestHandler.do_GET(handler)  # type: ignore[arg-type]

    with static_server(root) as origin:
        policy = ProxyPolicy(upstreams=(origin.url,), ttl=1, timeout=20)
        proxy = ProxyChannel(tmp_path / "state", ProxySettings.from_policy(policy))

        async def run() -> None:
            try:
                first = await proxy.get(ARTIFACT)
                assert first is not None
                time.sleep(1.1)  # past the TTL
                origin.overrides[REPODATA_ZST] = hold
                again = await proxy.get(ARTIFACT)
                assert again is not None and again.path == first.path and not again.stale
                # upstream was asked in the background and has not answered yet
                assert await asyncio.to_thread(asked.wait, 10)
                assert proxy.flights.in_flight("doc:linux-64/repodata.json")
                # another request meanwhile: served too, no second revalidation
                assert await proxy.get(ARTIFACT) is not None
                release.set()
                while proxy.flights.in_flight("doc:linux-64/repodata.json"):
                    await asyncio.sleep(0.01)
            finally:
                release.set()
                await proxy.close()

        asyncio.run(run())
    revalidations = [entry for entry in origin.log if entry[1] == REPODATA_ZST]
    # the first fetch, then one conditional request, answered 304
    assert [entry[2] for entry in revalidations] == [200, 304]
    assert revalidations[-1][4] is not None
    assert [entry[1] for entry in origin.log].count(f"/{ARTIFACT}") == 1


def test_artifact_not_cached_still_waits_for_fresh_repodata(tmp_path: Path) -> None:
    """The background path is only for what is cached: an artifact the proxy has not fetched
    yet is looked up in revalidated repodata first (its record may have changed)."""
    root = static_upstream_root(tmp_path, shards=True)
    with static_server(root) as origin:
        policy = ProxyPolicy(upstreams=(origin.url,), ttl=1, timeout=20)
        proxy = ProxyChannel(tmp_path / "state", ProxySettings.from_policy(policy))

        async def run() -> None:
            try:
                assert await proxy.get("linux-64/repodata.json") is not None
                time.sleep(1.1)  # past the TTL
                assert await proxy.get(ARTIFACT) is not None
            finally:
                await proxy.close()

        asyncio.run(run())
    paths = [entry[1] for entry in origin.log]
    assert paths == [REPODATA_ZST, REPODATA_ZST, f"/{ARTIFACT}"]
    assert origin.log[1][2] == 304
