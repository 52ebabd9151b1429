"""CCT signing on `stockyard serve`: a channel set up with `stockyard trust init` is signed by
every commit (uploads included), and our verifier accepts what the server serves over HTTP."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx
import pytest

from tests.server.artifacts import make_artifact
from tests.server.live import live_server, stockyard
from tests.server.uploading import prefix_upload

pytestmark = pytest.mark.integration

PASSPHRASE = "correct horse battery staple for tests"


def test_uploads_to_a_signed_channel_are_signed_and_verify_over_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKYARD_TRUST_PASSPHRASE", PASSPHRASE)
    data = tmp_path / "data"
    assert stockyard("channel", "create", "signed", "--data", str(data)).returncode == 0
    channel_dir = data / "channels" / "signed"
    init = stockyard(
        "trust",
        "init",
        str(channel_dir),
        "--keys-dir",
        str(tmp_path / "offline"),
        env={"STOCKYARD_TRUST_PASSPHRASE": PASSPHRASE},
    )
    assert init.returncode == 0, init.stderr
    with live_server(data) as live:
        token = re.search(r"\b(sy-[A-Za-z0-9]{40})\b", live.banner)
        assert token
        with httpx.Client(base_url=live.url, timeout=60) as client:
            for name in ("signed-a", "signed-b"):
                path = make_artifact(tmp_path / "pkgs", name, "1.0")
                response = prefix_upload(client, "signed", path, token.group(1))
                assert response.status_code == 201, response.text
        repodata = httpx.get(f"{live.url}/signed/noarch/repodata.json").json()
        assert set(repodata["signatures"]) == {"signed-a-1.0-0.conda", "signed-b-1.0-0.conda"}
        assert httpx.get(f"{live.url}/signed/1.root.json").status_code == 200
        assert httpx.get(f"{live.url}/signed/key_mgr.json").status_code == 200
        assert httpx.get(f"{live.url}/signed/.stockyard/trust/trust.json").status_code == 404
        verified = stockyard("trust", "verify", f"{live.url}/signed", "--json")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        report = json.loads(verified.stdout)
        assert report["ok"] is True
    assert "STOCKYARD_TRUST_PASSPHRASE" in os.environ
