"""A scheduled mirror in `stockyard serve`: declared in the settings file, synced at start in
the background, its status in `GET /api/channels/{c}/mirror`, installable with py-rattler."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.mirror.upstreams import NATIVE_ENV, install, static_server
from tests.proxy.upstream_setup import static_upstream_root
from tests.server.live import live_server

pytestmark = pytest.mark.integration


def test_scheduled_mirror_syncs_and_reports(tmp_path: Path) -> None:
    root = static_upstream_root(tmp_path, shards=True)
    with static_server(root) as origin:
        config = tmp_path / "stockyard.toml"
        config.write_text(
            f'[[mirrors]]\nchannel = "cfm"\nupstream = "{origin.url}"\nevery = "1h"\n'
            'include = ["native"]\nwith_dependencies = true\n'
        )
        with live_server(tmp_path / "data", "--config", str(config)) as server:
            deadline = time.monotonic() + 60
            while True:
                status = httpx.get(f"{server.url}/api/channels/cfm/mirror")
                if status.status_code == 200 and status.json()["state"] in ("ok", "failed"):
                    break
                assert time.monotonic() < deadline, status.text
                time.sleep(0.3)
            body = status.json()
            assert body["state"] == "ok", body
            assert body["last_result"]["added"] == 4 and body["runs"] == 1
            assert body["upstream"] == origin.url and body["every"] == 3600
            assert body["next_run"] - body["last_started"] == 3_600_000
            env = install(f"{server.url}/cfm", ["native"], tmp_path / "client")
            assert sorted(p.name for p in (env / "conda-meta").glob("*.json")) == sorted(
                name.replace(".conda", ".json") for name in NATIVE_ENV
            )
            assert httpx.get(f"{server.url}/api/channels/main/mirror").status_code == 404
