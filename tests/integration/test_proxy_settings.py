"""Operating a proxy channel of a real `stockyard serve`: its upstreams changed after creation
(CLI and API, checked as at creation; the running server follows), its cache bounds set and its
cache pruned (`stockyard channel proxy-prune`, `POST /api/channels/{c}/proxy/prune`)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.mirror.upstreams import static_server
from tests.proxy.upstream_setup import create_proxy, static_upstream_root
from tests.server.live import LiveServer, live_server, stockyard

pytestmark = pytest.mark.integration

ALPHA = "noarch/alpha-3.1-0.conda"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:  # type: ignore[misc]
    root = tmp_path_factory.mktemp("proxy-settings")
    data = root / "data"
    assert stockyard("channel", "create", "plain", "--data", str(data)).returncode == 0
    admin = stockyard("token", "create", "--data", str(data), "--scope", "admin", "--json")
    with live_server(data) as live:
        live.extra["admin"] = json.loads(admin.stdout)["token"]
        live.extra["upstream"] = static_upstream_root(root, shards=True)
        yield live


def _cli(server: LiveServer, *args: str) -> dict:  # type: ignore[type-arg]
    result = stockyard("channel", *args, "--data", str(server.data_dir), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _cache_meta(server: LiveServer, channel: str, key: str) -> Path:
    return server.data_dir / "channels" / channel / ".stockyard" / "proxy" / "meta" / f"{key}.json"


def test_set_proxy_switches_upstreams(server: LiveServer) -> None:
    root = server.extra["upstream"]
    with static_server(root) as first, static_server(root) as second:
        create_proxy(server.data_dir, "switch", first.url)
        url = f"{server.url}/switch"
        assert httpx.get(f"{url}/{ALPHA}").status_code == 200
        shown = _cli(
            server, "set-proxy", "switch", "--proxy", second.url,
            "--max-cache-bytes", "50MB", "--max-cache-age", "30d",
        )  # fmt: skip
        assert shown["upstreams"] == [second.url]
        assert (shown["max_cache_bytes"], shown["max_cache_age"]) == (50_000_000, 30 * 86400)
        assert shown["cache"]["artifacts"] == 1
        deadline = time.monotonic() + 10  # the server follows within its channel cache TTL
        while "/noarch/repodata.json.zst" not in second.paths():
            assert time.monotonic() < deadline, second.paths()
            httpx.get(f"{url}/noarch/repodata.json")
            time.sleep(0.2)
        cached = httpx.get(f"{url}/{ALPHA}")  # the verified artifact stays cached
        assert cached.status_code == 200
        assert cached.content == (root / ALPHA).read_bytes()
        assert f"/{ALPHA}" not in second.paths()
        # documents cached from an upstream still listed stay fresh for their TTL
        _cli(server, "set-proxy", "switch", "--proxy", first.url, "--proxy", second.url)
        time.sleep(1.5)
        start = len(first.log), len(second.log)
        assert httpx.get(f"{url}/noarch/repodata.json").status_code == 200
        assert (first.paths(start[0]), second.paths(start[1])) == ([], [])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("plain", "--proxy", "https://example.org/c"), "not a proxy channel"),
        (("checked", "--proxy", "ftp://example.org/c"), "not an http(s) URL"),
        (("checked", "--proxy", "https://a/c", "--proxy", "https://a/c/"), "given twice"),
        (("checked",), "nothing to change"),
        (("checked", "--max-cache-bytes", "lots"), "invalid size"),
        (("checked", "--proxy-timeout", "0"), "invalid proxy settings"),
        (("nosuch", "--proxy-ttl", "5"), "nosuch"),
    ],
)
def test_set_proxy_is_checked(server: LiveServer, args: tuple[str, ...], message: str) -> None:
    if not (server.data_dir / "channels" / "checked").exists():
        create_proxy(server.data_dir, "checked", "https://example.org/upstream")
    result = stockyard("channel", "set-proxy", *args, "--data", str(server.data_dir))
    assert result.returncode == 1 and message in result.stderr, result.stderr
    shown = json.loads(
        stockyard("channel", "set-proxy", "checked", "--proxy-ttl", "60", "--data",
                  str(server.data_dir), "--json").stdout
    )  # fmt: skip
    assert shown["upstreams"] == ["https://example.org/upstream"]  # nothing was stored


def test_prune_cli_and_api(server: LiveServer) -> None:
    root = server.extra["upstream"]
    admin = {"X-API-Key": server.extra["admin"]}
    with static_server(root) as origin:
        create_proxy(server.data_dir, "pruned", origin.url)
        url = f"{server.url}/pruned"
        for key in (ALPHA, "noarch/beta-2.0-0.conda", "noarch/gamma-1.0-0.conda"):
            assert httpx.get(f"{url}/{key}").status_code == 200
        for key, ago in ((ALPHA, 7200), ("noarch/beta-2.0-0.conda", 3600)):
            stamp = time.time() - ago
            os.utime(_cache_meta(server, "pruned", key), (stamp, stamp))
        dry = _cli(server, "proxy-prune", "pruned", "--max-cache-age", "90m", "--dry-run")
        assert dry["removed"] == {"not served within max_cache_age": [ALPHA]}
        assert dry["dry_run"] and dry["artifacts"] == 2
        done = _cli(server, "proxy-prune", "pruned", "--max-cache-age", "90m")
        assert done["removed_count"] == 1 and done["freed_bytes"] == (root / ALPHA).stat().st_size
        # the API: settings, a bound, a prune; readers may look, only admins change
        assert httpx.get(f"{server.url}/api/channels/pruned/proxy").json()["cache"] == {
            "files": done["files"],
            "bytes": done["bytes"],
            "artifacts": 2,
        }
        denied = httpx.put(f"{server.url}/api/channels/pruned/proxy", json={"ttl": 5})
        assert denied.status_code == 401
        bad = httpx.put(
            f"{server.url}/api/channels/pruned/proxy", json={"upstreams": ["gopher://x"]},
            headers=admin,
        )  # fmt: skip
        assert bad.status_code in (400, 422) and "http(s)" in bad.json()["message"]
        changed = httpx.put(
            f"{server.url}/api/channels/pruned/proxy", json={"max_cache_bytes": 1}, headers=admin
        )
        assert changed.status_code == 200 and changed.json()["max_cache_bytes"] == 1
        pruned = httpx.post(f"{server.url}/api/channels/pruned/proxy/prune", headers=admin).json()
        # beta is old enough to go; gamma was served within the last minute and stays
        assert pruned["removed"] == {
            "least recently served beyond max_cache_bytes": ["noarch/beta-2.0-0.conda"]
        }
        start = len(origin.log)
        assert httpx.get(f"{url}/{ALPHA}").content == (root / ALPHA).read_bytes()
        assert origin.paths(start).count(f"/{ALPHA}") == 1  # fetched again
        not_proxy = httpx.get(f"{server.url}/api/channels/plain/proxy")
        assert not_proxy.status_code == 409
