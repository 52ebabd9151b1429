"""A real client against a real server: py-rattler solves and installs from `stockyard serve`.

The server runs as `stockyard serve` in a subprocess on a free port; packages go in through the
quetz, prefix and artifactory upload protocols; py-rattler then solves and installs a
multi-package environment over HTTP, with sharded repodata, with the monolithic file, and from a
private channel through `/t/<token>/`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import rattler
from rattler import Gateway, SourceConfig

from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import LiveServer, live_server, stockyard

pytestmark = pytest.mark.integration

#: alpha -> beta -> gamma (noarch); native (linux-64) -> alpha; two versions of beta.
PACKAGES = (
    ("gamma", "1.0", "0", "noarch", []),
    ("beta", "1.0", "0", "noarch", ["gamma"]),
    ("beta", "2.0", "0", "noarch", ["gamma >=1"]),
    ("alpha", "3.1", "0", "noarch", ["beta >=2"]),
    ("native", "0.5", "h0_0", "linux-64", ["alpha 3.*"]),
)


def _token(data: Path, *args: str) -> str:
    result = stockyard("token", "create", "--data", str(data), "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["token"]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> LiveServer:  # type: ignore[misc]
    root = tmp_path_factory.mktemp("serve")
    data = root / "data"
    created = stockyard("channel", "create", "secret", "--private", "--data", str(data))
    assert created.returncode == 0, created.stderr
    stockyard("channel", "create", "main", "--data", str(data))
    write = _token(data, "--scope", "write", "--channel", "main")
    secret_write = _token(data, "--scope", "write", "--channel", "secret")
    secret_read = _token(data, "--scope", "read", "--channel", "secret")
    artifacts = root / "artifacts"
    with live_server(data) as live:
        uploads = []
        for i, (name, version, build, subdir, depends) in enumerate(PACKAGES):
            path = make_artifact(artifacts, name, version, build, subdir=subdir, depends=depends)
            protocol = ("quetz", "prefix", "put")[i % 3]
            uploads.append(_upload(live.url, "main", path, write, protocol))
            uploads.append(_upload(live.url, "secret", path, secret_write, protocol))
        assert all(r.status_code == 201 for r in uploads), [r.text for r in uploads]
        live.extra.update(secret_read=secret_read, root=root, artifacts=artifacts)
        yield live


def _upload(url: str, channel: str, path: Path, token: str, protocol: str) -> httpx.Response:
    data = path.read_bytes()
    if protocol == "quetz":
        return httpx.post(
            f"{url}/api/channels/{channel}/upload/{path.name}",
            params={"force": "false", "sha256": sha256_of(path)},
            content=data,
            headers={"X-API-Key": token},
        )
    if protocol == "prefix":
        return httpx.post(
            f"{url}/api/v1/upload/{channel}",
            files={
                "file": (
                    path.name,
                    data,
                    "application/octet-stream",
                    {"X-File-Name": path.name, "X-File-SHA256": sha256_of(path)},
                )
            },
            headers={"Authorization": f"Bearer {token}"},
        )
    subdir = "linux-64" if "h0_0" in path.name else "noarch"
    return httpx.put(
        f"{url}/{channel}/{subdir}/{path.name}",
        content=data,
        headers={"Authorization": f"Bearer {token}"},
    )


def _solve_and_install(channel_url: str, tmp: Path, *, sharded: bool) -> list[str]:
    gateway = Gateway(
        cache_dir=tmp / "repodata-cache",
        default_config=SourceConfig(sharded_enabled=sharded),
    )

    async def run() -> list[str]:
        records = await rattler.solve(
            [channel_url],
            ["native"],
            gateway=gateway,
            platforms=["linux-64", "noarch"],
            virtual_packages=[],
        )
        await rattler.install(
            records,
            target_prefix=tmp / "env",
            cache_dir=tmp / "pkgs",
            show_progress=False,
            platform=rattler.Subdir("linux-64"),
        )
        return sorted(f"{r.name.normalized}={r.version}" for r in records)

    return asyncio.run(run())


EXPECTED = ["alpha=3.1", "beta=2.0", "gamma=1.0", "native=0.5"]


def _installed(env: Path) -> set[str]:
    return {p.name for p in (env / "share").iterdir()}


def _paths_since(server: LiveServer, start: int) -> list[str]:
    return [line["path"] for line in server.access_log()[start:]]


def test_install_with_sharded_repodata(server: LiveServer, tmp_path: Path) -> None:
    start = len(server.access_log())
    solved = _solve_and_install(f"{server.url}/main", tmp_path, sharded=True)
    assert solved == EXPECTED
    assert _installed(tmp_path / "env") == {"alpha", "beta", "gamma", "native"}
    paths = _paths_since(server, start)
    assert "/main/linux-64/repodata_shards.msgpack.zst" in paths
    assert any("/shards/" in p for p in paths)
    assert not any(p.endswith("/repodata.json") for p in paths)


def test_install_with_monolithic_repodata(server: LiveServer, tmp_path: Path) -> None:
    start = len(server.access_log())
    solved = _solve_and_install(f"{server.url}/main", tmp_path, sharded=False)
    assert solved == EXPECTED
    assert (tmp_path / "env" / "share" / "gamma" / "gamma.txt").read_text() == "gamma 1.0 0\n"
    paths = _paths_since(server, start)
    assert any(p.startswith("/main/noarch/repodata.json") for p in paths)
    assert not any("shards" in p for p in paths)


@pytest.mark.parametrize("sharded", [True, False])
def test_install_from_private_channel_with_token(
    server: LiveServer, tmp_path: Path, sharded: bool
) -> None:
    token = server.extra["secret_read"]
    solved = _solve_and_install(f"{server.url}/t/{token}/secret", tmp_path, sharded=sharded)
    assert solved == EXPECTED
    assert _installed(tmp_path / "env") == {"alpha", "beta", "gamma", "native"}
    # The token never reaches the log.
    assert token not in server.log_path.read_text()


def test_private_channel_is_invisible_to_a_client_without_token(
    server: LiveServer, tmp_path: Path
) -> None:
    with pytest.raises(Exception):  # noqa: B017 - rattler raises its own error types
        _solve_and_install(f"{server.url}/secret", tmp_path, sharded=False)
    assert httpx.get(f"{server.url}/secret/noarch/repodata.json").status_code == 404
