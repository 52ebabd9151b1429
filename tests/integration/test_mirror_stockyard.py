"""A Stockyard server as upstream (a private channel, read through /t/<token>/, with shards and
ETags), mirrored into a channel of another `stockyard serve` (`--server-channel`); py-rattler
solves and installs the same environment from both servers."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.mirror.upstreams import NATIVE_ENV, PACKAGES, install, solve
from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import live_server, stockyard

pytestmark = pytest.mark.integration


def _token(data: Path, *args: str) -> str:
    result = stockyard("token", "create", "--data", str(data), "--json", *args)
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["token"])


def test_mirror_between_stockyard_servers(tmp_path: Path) -> None:
    upstream_data, mirror_data = tmp_path / "upstream-data", tmp_path / "mirror-data"
    assert stockyard("channel", "create", "secret", "--private", "--data", str(upstream_data))
    assert stockyard("channel", "create", "copy", "--data", str(mirror_data)).returncode == 0
    write = _token(upstream_data, "--scope", "write", "--channel", "secret")
    read = _token(upstream_data, "--scope", "read", "--channel", "secret")
    with live_server(upstream_data) as upstream:
        for subdir, name, version, build, depends, license_text in PACKAGES:
            path = make_artifact(
                tmp_path / "artifacts", name, version, build, subdir=subdir, depends=depends,
                license=license_text,
            )  # fmt: skip
            response = httpx.post(
                f"{upstream.url}/api/channels/secret/upload/{path.name}",
                params={"sha256": sha256_of(path)},
                content=path.read_bytes(),
                headers={"X-API-Key": write},
            )
            assert response.status_code == 201, response.text
        source = f"{upstream.url}/t/{read}/secret"
        args = ["mirror", source, "--server-channel", "copy", "--data-dir", str(mirror_data)]
        first = stockyard(*args, "--include", "native", "--with-dependencies", "--json")
        assert first.returncode == 0, first.stderr
        summary = json.loads(first.stdout)
        assert read not in first.stdout  # the token is never printed
        assert summary["subdirs"]["noarch"]["source"] == "shards" and summary["added"] == 4
        again = stockyard(*args, "--include", "native", "--with-dependencies", "--json")
        assert json.loads(again.stdout)["files_written"] == 0
        # the re-run: channeldata.json and both shard indexes, each answered 304
        requests = [(line["path"], line["status"]) for line in upstream.access_log()[-3:]]
        assert [status for _, status in requests] == [304, 304, 304], requests
        assert requests[0][0].endswith("/secret/channeldata.json")
        with live_server(mirror_data) as mirror:
            ours = solve(f"{mirror.url}/copy", ["native"], tmp_path / "c1", sharded=True)
            theirs = solve(source, ["native"], tmp_path / "c2", sharded=True)
            assert ours == theirs == NATIVE_ENV
            env = install(f"{mirror.url}/copy", ["native"], tmp_path / "install")
    assert (env / "share" / "native" / "native.txt").read_text() == "native 0.5 h0_0\n"
