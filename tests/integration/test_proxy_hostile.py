"""Proxy channels against hostile and broken upstreams, single-flight downloads, filters,
privacy and refused uploads. One proxy `stockyard serve` holds a channel per test; upstreams are
static servers with rattler-index output that misbehave on purpose."""

from __future__ import annotations

import http.server
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import zstandard

from tests.mirror.upstreams import static_server
from tests.proxy.upstream_setup import create_proxy, static_upstream_root
from tests.server.live import LiveServer, live_server, stockyard

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:  # type: ignore[misc]
    root = tmp_path_factory.mktemp("proxy")
    data = root / "data"
    stockyard("channel", "create", "main", "--data", str(data))
    admin = stockyard("token", "create", "--data", str(data), "--scope", "admin", "--json")
    with live_server(data) as live:
        live.extra["admin"] = json.loads(admin.stdout)["token"]
        yield live


@pytest.fixture
def upstream_root(tmp_path: Path) -> Path:
    return static_upstream_root(tmp_path, shards=True)


def _respond(body: bytes, status: int = 200, drip: float = 0.0):  # type: ignore[no-untyped-def]
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not drip:
            handler.wfile.write(body)
            return
        for offset in range(len(body)):
            handler.wfile.write(body[offset : offset + 1])
            handler.wfile.flush()
            time.sleep(drip)

    return answer


def _channel(proxy: LiveServer, name: str, *upstreams: str, args: tuple[str, ...] = ()) -> str:
    create_proxy(proxy.data_dir, name, *upstreams, args=args)
    return f"{proxy.url}/{name}"


def test_wrong_sha256_is_refused_not_cached_502(proxy: LiveServer, upstream_root: Path) -> None:
    artifact = upstream_root / "noarch" / "gamma-1.0-0.conda"
    tampered = bytearray(artifact.read_bytes())
    tampered[len(tampered) // 2] ^= 0xFF
    with static_server(upstream_root) as origin:
        origin.overrides["/noarch/gamma-1.0-0.conda"] = _respond(bytes(tampered))
        url = _channel(proxy, "badsha", origin.url)
        for _ in range(2):
            response = httpx.get(f"{url}/noarch/gamma-1.0-0.conda")
            assert response.status_code == 502
            assert response.json()["error"] == "UpstreamUnavailable"
            assert "sha256" in response.json()["message"]
        # refused and not cached: the second request asked upstream again
        assert origin.paths().count("/noarch/gamma-1.0-0.conda") == 2
    cache = proxy.data_dir / "channels" / "badsha" / ".stockyard" / "proxy"
    assert not list(cache.rglob("gamma-1.0-0.conda*"))


def _rewrite_repodata(root: Path, subdir: str, change) -> None:  # type: ignore[no-untyped-def]
    path = root / subdir / "repodata.json"
    document = json.loads(path.read_bytes())
    change(document)
    raw = json.dumps(document).encode()
    path.write_bytes(raw)
    (root / subdir / "repodata.json.zst").write_bytes(zstandard.compress(raw))
    (root / subdir / "repodata_shards.msgpack.zst").unlink()


def test_traversal_filename_upstream_is_refused(proxy: LiveServer, upstream_root: Path) -> None:
    def add_evil(document: dict) -> None:  # type: ignore[type-arg]
        record = dict(document["packages.conda"]["gamma-1.0-0.conda"])
        document["packages.conda"]["../evil-1.0-0.conda"] = record

    _rewrite_repodata(upstream_root, "noarch", add_evil)
    with static_server(upstream_root) as origin:
        url = _channel(proxy, "evil", origin.url)
        response = httpx.get(f"{url}/noarch/repodata.json")
        assert response.status_code == 502
        assert "not a bare artifact filename" in response.json()["message"]
        assert httpx.get(f"{url}/evil-1.0-0.conda").status_code == 404
        assert httpx.get(f"{url}/noarch/..%2Fevil-1.0-0.conda").status_code == 404
        # the other subdir is fine
        assert httpx.get(f"{url}/linux-64/repodata.json").status_code == 200


def test_garbage_repodata_stale_if_error_or_502(proxy: LiveServer, upstream_root: Path) -> None:
    with static_server(upstream_root) as origin:
        url = _channel(proxy, "garbage", origin.url, args=("--proxy-ttl", "1"))
        good = httpx.get(f"{url}/noarch/repodata.json")
        assert good.status_code == 200 and "warning" not in good.headers
        for name in ("repodata.json.zst", "repodata.json"):
            origin.overrides[f"/noarch/{name}"] = _respond(b"\x28\xb5\x2f\xfd garbage {")
        time.sleep(1.2)
        stale = httpx.get(f"{url}/noarch/repodata.json")
        assert stale.status_code == 200 and stale.content == good.content
        assert stale.headers["warning"] == '110 - "Response is Stale"'
        zst = httpx.get(f"{url}/noarch/repodata.json.zst")
        assert zst.status_code == 200 and zst.headers["warning"]
        assert zstandard.decompress(zst.content) == good.content
        # nothing cached yet: a 502 with the reason, never a crash
        fresh = _channel(proxy, "garbage2", origin.url)
        response = httpx.get(f"{fresh}/noarch/repodata.json")
        assert response.status_code == 502 and "zstd" in response.json()["message"]
        assert httpx.get(f"{proxy.url}/health").status_code == 200


def test_slow_drip_upstream_times_out_then_fails_over(
    proxy: LiveServer, upstream_root: Path, tmp_path: Path
) -> None:
    artifact = (upstream_root / "noarch" / "gamma-1.0-0.conda").read_bytes()
    with static_server(upstream_root) as slow, static_server(upstream_root) as good:
        for name in ("repodata.json.zst", "repodata.json"):
            body = (upstream_root / "noarch" / name).read_bytes()
            slow.overrides[f"/noarch/{name}"] = _respond(body, drip=0.2)
        slow.overrides["/noarch/gamma-1.0-0.conda"] = _respond(artifact, drip=0.05)
        url = _channel(proxy, "drip", slow.url, good.url, args=("--proxy-timeout", "1"))
        started = time.monotonic()
        response = httpx.get(f"{url}/noarch/repodata.json", timeout=30)
        assert response.status_code == 200
        assert time.monotonic() - started < 10
        assert "/noarch/repodata.json.zst" in good.paths()
        # the slow one is now behind the healthy one; make the slow one first again by
        # asking for an artifact only it is asked for first after its cooldown: directly
        response = httpx.get(f"{url}/noarch/gamma-1.0-0.conda", timeout=30)
        assert response.status_code == 200 and response.content == artifact


def test_slow_drip_artifact_fails_over(proxy: LiveServer, upstream_root: Path) -> None:
    artifact = (upstream_root / "noarch" / "beta-1.0-0.conda").read_bytes()
    with static_server(upstream_root) as slow, static_server(upstream_root) as good:
        slow.overrides["/noarch/beta-1.0-0.conda"] = _respond(artifact, drip=0.05)
        url = _channel(proxy, "dripart", slow.url, good.url, args=("--proxy-timeout", "1"))
        assert httpx.get(f"{url}/noarch/repodata.json").status_code == 200
        started = time.monotonic()
        response = httpx.get(f"{url}/noarch/beta-1.0-0.conda", timeout=30)
        assert response.status_code == 200 and response.content == artifact
        assert time.monotonic() - started < 10
        assert "/noarch/beta-1.0-0.conda" in slow.paths()
        assert "/noarch/beta-1.0-0.conda" in good.paths()


def test_concurrent_requests_cause_one_download(proxy: LiveServer, upstream_root: Path) -> None:
    with static_server(upstream_root) as origin:
        url = _channel(proxy, "flight", origin.url)
        assert httpx.get(f"{url}/noarch/repodata.json").status_code == 200
        origin.throttle = 1.0  # every file takes a second: the requests overlap

        def fetch(_: int) -> httpx.Response:
            return httpx.get(f"{url}/noarch/alpha-3.1-0.conda", timeout=30)

        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(fetch, range(8)))
    expected = (upstream_root / "noarch" / "alpha-3.1-0.conda").read_bytes()
    assert all(r.status_code == 200 and r.content == expected for r in responses)
    assert origin.paths().count("/noarch/alpha-3.1-0.conda") == 1
    # then it is a local file: ETag, Range
    again = httpx.get(f"{url}/noarch/alpha-3.1-0.conda", headers={"Range": "bytes=0-9"})
    assert again.status_code == 206 and again.content == expected[:10]
    etag = again.headers["etag"]
    assert (
        httpx.get(f"{url}/noarch/alpha-3.1-0.conda", headers={"If-None-Match": etag}).status_code
        == 304
    )


def test_filters_apply_to_proxies(proxy: LiveServer, upstream_root: Path) -> None:
    with static_server(upstream_root) as origin:
        url = _channel(
            proxy, "filtered", origin.url,
            args=("--license-deny", "GPL-3.0*", "--exclude", "extra"),
        )  # fmt: skip
        repodata = httpx.get(f"{url}/noarch/repodata.json")
        served = repodata.json()["packages.conda"]
        assert "other-1.0-0.conda" not in served and "extra-1.0-0.conda" not in served
        assert "gamma-1.0-0.conda" in served
        zst = httpx.get(f"{url}/noarch/repodata.json.zst")
        assert zstandard.decompress(zst.content) == repodata.content
        assert httpx.get(f"{url}/noarch/other-1.0-0.conda").status_code == 404
        assert httpx.get(f"{url}/noarch/extra-1.0-0.conda").status_code == 404
        assert httpx.get(f"{url}/noarch/gamma-1.0-0.conda").status_code == 200
        # shards would bypass the filters: not served, clients fall back to repodata.json
        assert httpx.get(f"{url}/noarch/repodata_shards.msgpack.zst").status_code == 404
        assert "/noarch/other-1.0-0.conda" not in origin.paths()


def test_private_proxy_and_refused_uploads(proxy: LiveServer, upstream_root: Path) -> None:
    with static_server(upstream_root) as origin:
        url = _channel(proxy, "hidden", origin.url, args=("--private",))
        assert httpx.get(f"{url}/noarch/repodata.json").status_code == 404
        token = json.loads(
            stockyard(
                "token", "create", "--data", str(proxy.data_dir), "--channel", "hidden",
                "--scope", "write", "--json",
            ).stdout
        )["token"]  # fmt: skip
        with_token = httpx.get(f"{proxy.url}/t/{token}/hidden/noarch/repodata.json")
        assert with_token.status_code == 200
        assert with_token.headers["cache-control"].startswith("private")
        artifact = (upstream_root / "noarch" / "gamma-1.0-0.conda").read_bytes()
        upload = httpx.put(
            f"{url}/noarch/gamma-1.0-0.conda",
            content=artifact,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert upload.status_code == 409
        assert "proxy channel" in upload.json()["message"]


def test_api_creates_a_proxy_channel(proxy: LiveServer, upstream_root: Path) -> None:
    with static_server(upstream_root) as origin:
        created = httpx.post(
            f"{proxy.url}/api/channels",
            json={"name": "viaapi", "proxy": [origin.url]},
            headers={"X-API-Key": proxy.extra["admin"]},
        )
        assert created.status_code == 201, created.text
        response = httpx.get(f"{proxy.url}/viaapi/linux-64/repodata.json")
        assert "native-0.5-h0_0.conda" in response.json()["packages.conda"]
        bad = httpx.post(
            f"{proxy.url}/api/channels",
            json={"name": "badapi", "proxy": ["ftp://nope"]},
            headers={"X-API-Key": proxy.extra["admin"]},
        )
        assert bad.status_code == 422 and "proxy" in bad.json()["message"]
