"""Proxy channels end to end: py-rattler installs through a proxy `stockyard serve` whose
upstreams are a real `stockyard serve` and a static server with rattler-index output; the first
upstream is stopped (clients keep installing from the second), then the second (cached
artifacts still install, repodata is served stale with a Warning, an uncached artifact is a 502
JSON error)."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.mirror.upstreams import NATIVE_ENV, install, solve, static_server
from tests.proxy.upstream_setup import create_proxy, static_upstream_root, stockyard_upstream_data
from tests.server.live import LiveServer, live_server

pytestmark = pytest.mark.integration


def _artifact_gets(server: LiveServer, since: int = 0) -> list[str]:
    return [
        line["path"]
        for line in server.access_log()[since:]
        if line["path"].endswith(".conda") and line["method"] == "GET"
    ]


def _stop(server: LiveServer) -> None:
    server.process.terminate()
    server.process.wait(timeout=20)


def test_install_through_proxy_with_failover_and_stale(tmp_path: Path) -> None:
    upstream_data = stockyard_upstream_data(tmp_path)
    static_root = static_upstream_root(tmp_path, shards=True)
    proxy_data = tmp_path / "proxy-data"
    with ExitStack() as first_stack, ExitStack() as second_stack:
        first = first_stack.enter_context(live_server(upstream_data))
        second = second_stack.enter_context(static_server(static_root))
        create_proxy(
            proxy_data, "cf", f"{first.url}/main", second.url,
            args=("--proxy-ttl", "1", "--proxy-timeout", "5"),
        )  # fmt: skip
        proxy = first_stack.enter_context(live_server(proxy_data))
        url = f"{proxy.url}/cf"
        # 1. both upstreams up: everything comes from the first
        assert solve(url, ["native"], tmp_path / "s1", sharded=True) == NATIVE_ENV
        env = install(url, ["native"], tmp_path / "i1")
        assert (env / "share" / "gamma" / "gamma.txt").read_text() == "gamma 1.0 0\n"
        assert sorted(p.rsplit("/", 1)[1] for p in _artifact_gets(first)) == NATIVE_ENV
        assert not any(p.endswith(".conda") for p in second.paths())

        # 2. the first upstream goes away: the second serves repodata and new artifacts
        _stop(first)
        time.sleep(1.2)  # past the TTL
        install(url, ["unrelated"], tmp_path / "i2")
        assert "/linux-64/unrelated-1.0-0.conda" in second.paths()
        assert solve(url, ["native"], tmp_path / "s2", sharded=False) == NATIVE_ENV
        fresh = httpx.get(f"{url}/noarch/repodata.json")
        assert fresh.status_code == 200 and "warning" not in fresh.headers

        # 3. every upstream down: cached artifacts install, repodata is stale, the rest is 502
        second_stack.close()
        time.sleep(1.2)
        stale = httpx.get(f"{url}/noarch/repodata.json")
        assert stale.status_code == 200
        assert stale.headers["warning"] == '110 - "Response is Stale"'
        assert "gamma-1.0-0.conda" in stale.json()["packages.conda"]
        for sharded in (True, False):
            env = install(url, ["native"], tmp_path / f"i3-{sharded}")
            assert (env / "share" / "alpha" / "alpha.txt").exists()
        missing = httpx.get(f"{url}/noarch/extra-1.0-0.conda")
        assert missing.status_code == 502
        body = missing.json()
        assert body["error"] == "UpstreamUnavailable" and "extra-1.0-0.conda" in body["message"]
        # the proxy never indexed or published anything of its own
        assert not (proxy_data / "channels" / "cf" / "noarch" / "repodata.json").exists()
