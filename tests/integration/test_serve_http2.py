"""CEP 16 (SHOULD): shards over HTTP/2. `stockyard serve --http2` runs the app on Granian.

py-rattler, trusting a test CA through `SSL_CERT_FILE`, negotiates h2 through ALPN and solves and
installs a sharded environment over it; uploads go in over h2 as rattler-build's would; h2c with
prior knowledge works without TLS; HTTPS on the default engine stays HTTP/1.1; heads too large
are refused and the server keeps serving.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.server.artifacts import make_artifact
from tests.server.live import LiveServer, admin_token, live_server
from tests.server.tls import Pki, make_pki
from tests.server.uploading import prefix_upload

pytestmark = pytest.mark.integration

PACKAGES = (
    ("gamma", "1.0", "0", "noarch", []),
    ("beta", "2.0", "0", "noarch", ["gamma"]),
    ("alpha", "3.1", "0", "noarch", ["beta >=2"]),
)

SOLVE = textwrap.dedent(
    """
    import asyncio, json, os, sys
    from pathlib import Path
    import rattler
    from rattler import Gateway, SourceConfig

    url, tmp = sys.argv[1], Path(sys.argv[2])

    async def run():
        config = SourceConfig(sharded_enabled=True)
        gateway = Gateway(cache_dir=tmp / "cache", default_config=config)
        records = await rattler.solve(
            [url], ["alpha"], gateway=gateway, platforms=["linux-64", "noarch"],
            virtual_packages=[],
        )
        await rattler.install(records, target_prefix=tmp / "env", cache_dir=tmp / "pkgs",
                              show_progress=False, platform=rattler.Subdir("linux-64"))
        print(json.dumps(sorted(f"{r.name.normalized}={r.version}" for r in records)))

    asyncio.run(run())
    sys.stdout.flush()
    os._exit(0)  # py-rattler's runtime can crash at interpreter teardown (exit -11)
    """
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def h2_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> LiveServer:  # type: ignore[misc]
    root = tmp_path_factory.mktemp("h2")
    tls = ("--tls-cert", str(pki.cert), "--tls-key", str(pki.key))
    with live_server(root / "data", "--http2", *tls, ca_file=pki.ca) as live:
        token = admin_token(live.banner)
        with httpx.Client(base_url=live.url, http2=True, verify=pki.context()) as client:
            for name, version, build, subdir, depends in PACKAGES:
                path = make_artifact(
                    root / "pkgs", name, version, build, subdir=subdir, depends=depends
                )
                response = prefix_upload(client, "main", path, token)
                assert response.status_code == 201, response.text
                assert response.http_version == "HTTP/2"
        yield live


def test_py_rattler_solves_and_installs_sharded_over_h2(
    h2_server: LiveServer, pki: Pki, tmp_path: Path
) -> None:
    start = len(h2_server.access_log())
    result = subprocess.run(
        [sys.executable, "-c", SOLVE, f"{h2_server.url}/main", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SSL_CERT_FILE": str(pki.ca)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["alpha=3.1", "beta=2.0", "gamma=1.0"]
    assert (tmp_path / "env" / "conda-meta").is_dir()
    lines = h2_server.access_log()[start:]
    shard_lines = [line for line in lines if "/shards/" in line["path"]]
    assert shard_lines, [line["path"] for line in lines]
    assert {line["http"] for line in lines} == {"2"}


def test_http1_clients_are_still_served_on_the_same_port(h2_server: LiveServer, pki: Pki) -> None:
    response = httpx.get(f"{h2_server.url}/main/noarch/repodata.json", verify=pki.context())
    assert response.status_code == 200
    assert response.http_version == "HTTP/1.1"
    assert "alpha-3.1-0.conda" in response.json()["packages.conda"]


def test_banner_prints_https_urls(h2_server: LiveServer) -> None:
    assert f"{h2_server.url}/main" in h2_server.banner
    assert h2_server.url.startswith("https://")


def test_oversized_header_list_is_refused_and_the_server_keeps_serving(
    h2_server: LiveServer, pki: Pki
) -> None:
    headers = {f"x-filler-{i}": "v" * 1000 for i in range(100)}  # ~100 KiB > 64 KiB
    with httpx.Client(http2=True, verify=pki.context()) as client:
        try:
            response = client.get(f"{h2_server.url}/health", headers=headers)
        except httpx.HTTPError:
            pass  # a reset stream or connection is a refusal too
        else:
            assert response.status_code >= 400
        healthy = client.get(f"{h2_server.url}/health/ready")
    assert healthy.status_code == 200


def test_h2c_with_prior_knowledge_without_tls(tmp_path: Path) -> None:
    with live_server(tmp_path / "data", "--http2") as live:
        with httpx.Client(http1=False, http2=True) as client:
            response = client.get(f"{live.url}/main/noarch/repodata.json")
        assert response.status_code == 200
        assert response.http_version == "HTTP/2"


def test_tls_on_the_default_engine_is_http1(tmp_path: Path, pki: Pki) -> None:
    tls = ("--tls-cert", str(pki.cert), "--tls-key", str(pki.key))
    with live_server(tmp_path / "data", *tls, ca_file=pki.ca) as live:
        with httpx.Client(http2=True, verify=pki.context()) as client:
            response = client.get(f"{live.url}/main/noarch/repodata.json")
        assert response.status_code == 200
        assert response.http_version == "HTTP/1.1"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{live.url}/health", verify=True)  # not trusted without the test CA


def test_plain_http_to_a_tls_port_does_not_crash_it(tmp_path: Path, pki: Pki) -> None:
    tls = ("--tls-cert", str(pki.cert), "--tls-key", str(pki.key))
    with live_server(tmp_path / "data", "--http2", *tls, ca_file=pki.ca) as live:
        port = int(live.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            with contextlib.suppress(OSError):
                sock.recv(100)
        assert httpx.get(f"{live.url}/health/ready", verify=pki.context()).status_code == 200
