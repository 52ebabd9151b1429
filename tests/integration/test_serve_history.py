"""Patch sets with history and snapshots, against a live server with py-rattler as the client.

The issue's scenario: upload `a-1.0`, snapshot, publish a patch set that changes `a-1.0`'s
depends, upload `a-2.0`; the snapshot URL gives `a-1.0` with its old depends while the live
channel gives the patched record and `a-2.0`; py-rattler solves both. Then roll back, diff,
delete, and feed bad patch sets (each refused, nothing published changes).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import httpx
import pytest

from tests.server.artifacts import make_artifact
from tests.server.live import LiveServer, admin_token, live_server, stockyard
from tests.server.rattler_client import solve_and_install
from tests.server.uploading import prefix_upload

pytestmark = pytest.mark.integration

PATCH_YAML = b"""\
if:
  name: a
  version: "1.0"
then:
  - add_depends: c
"""


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _record(url: str, filename: str) -> dict:
    document = httpx.get(f"{url}/noarch/repodata.json").json()
    return document["packages.conda"][filename]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:  # type: ignore[misc]
    root = tmp_path_factory.mktemp("history")
    with live_server(root / "data") as live:
        live.extra.update(token=admin_token(live.banner), pkgs=root / "pkgs")
        yield live


def test_snapshot_keeps_the_past_while_patches_and_uploads_change_the_live_channel(
    server: LiveServer, tmp_path: Path
) -> None:
    token, pkgs = server.extra["token"], server.extra["pkgs"]
    paths = {
        "b": make_artifact(pkgs, "b", "1.0"),
        "c": make_artifact(pkgs, "c", "1.0"),
        "a1": make_artifact(pkgs, "a", "1.0", depends=["b"]),
        "a2": make_artifact(pkgs, "a", "2.0", depends=["b"]),
    }
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for key in ("b", "c", "a1"):
            assert prefix_upload(client, "main", paths[key], token).status_code == 201
        snap = client.post(
            "/api/channels/main/snapshots", json={"description": "T1"}, headers=_auth(token)
        )
        assert snap.status_code == 201, snap.text
        snapshot = snap.json()
        put = client.put("/api/channels/main/patches", content=PATCH_YAML, headers=_auth(token))
        assert put.status_code == 201, put.text
        assert put.json()["version"] == 1 and put.json()["active"] and put.json()["kind"] == "yaml"
        assert prefix_upload(client, "main", paths["a2"], token).status_code == 201
    live = f"{server.url}/main"
    assert snapshot["url"] == f"{live}/snapshots/{snapshot['id']}"
    assert _record(snapshot["url"], paths["a1"].name)["depends"] == ["b"]
    assert _record(live, paths["a1"].name)["depends"] == ["b", "c"]
    assert (
        paths["a2"].name
        not in httpx.get(f"{snapshot['url']}/noarch/repodata.json").json()["packages.conda"]
    )
    assert solve_and_install(snapshot["url"], "a", tmp_path / "old") == {"a": "1.0", "b": "1.0"}
    assert solve_and_install(live, "a", tmp_path / "new") == {"a": "2.0", "b": "1.0"}
    assert solve_and_install(live, "a ==1.0", tmp_path / "pinned") == {
        "a": "1.0",
        "b": "1.0",
        "c": "1.0",
    }

    diff = httpx.get(f"{server.url}/api/channels/main/snapshots/{snapshot['id']}/diff").json()
    noarch = next(d for d in diff if d["subdir"] == "noarch")
    assert noarch["added"] == [paths["a2"].name]
    assert noarch["changed"][paths["a1"].name]["depends"] == [["b"], ["b", "c"]]
    listed = httpx.get(f"{server.url}/api/channels/main/snapshots").json()
    assert [s["id"] for s in listed] == [snapshot["id"]]
    assert listed[0]["record_count"] == 3 and listed[0]["description"] == "T1"


def test_patch_set_history_rollback_and_original_bytes(server: LiveServer) -> None:
    """On a channel of its own (tests of this module may run in other processes)."""
    token, pkgs = server.extra["token"], server.extra["pkgs"]
    created = stockyard("channel", "create", "rollback", "--data", str(server.data_dir))
    assert created.returncode == 0, created.stderr
    url = f"{server.url}/rollback"
    second = PATCH_YAML.replace(b"add_depends: c", b"add_depends: b >=1")
    with httpx.Client(base_url=server.url, timeout=60) as client:
        a1 = make_artifact(pkgs / "rollback", "a", "1.0", depends=["b"])
        assert prefix_upload(client, "rollback", a1, token).status_code == 201
        for body in (PATCH_YAML, second):
            put = client.put("/api/channels/rollback/patches", content=body, headers=_auth(token))
            assert put.status_code == 201, put.text
        assert put.json()["version"] == 2
        assert _record(url, a1.name)["depends"] == ["b", "b >=1"]
        history = client.get("/api/channels/rollback/patches").json()
        assert history["current"] == 2
        assert [v["version"] for v in history["versions"]] == [2, 1]
        assert client.get("/api/channels/rollback/patches/2").content == second
        back = client.post("/api/channels/rollback/patches/1/activate", headers=_auth(token))
        assert back.status_code == 200, back.text
        assert _record(url, a1.name)["depends"] == ["b", "c"]
        off = client.delete("/api/channels/rollback/patches/active", headers=_auth(token))
        assert off.status_code == 204
        assert _record(url, a1.name)["depends"] == ["b"]
        assert client.get("/api/channels/rollback/patches").json()["current"] is None
        again = client.post("/api/channels/rollback/patches/1/activate", headers=_auth(token))
        assert again.status_code == 200
        assert _record(url, a1.name)["depends"] == ["b", "c"]


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"if: [unclosed\n", "yaml"),
        (b"if:\n  name: a\nthen:\n  - frobnicate_depends: x\n", "frobnicate"),
        (b"if:\n  name: a\nthen: []\n", "then"),
        (b'{"packages": {"a-1.0-0.tar.bz2": {"sha256": "00"}}}', "sha256"),
        (_tar({"../evil.yaml": PATCH_YAML}), "escapes"),
        (_tar({"README.txt": b"hi"}), "no .yaml"),
        (b"\xff\xfe\x00binary", "neither text"),
    ],
)
def test_bad_patch_sets_are_refused_and_nothing_changes(
    server: LiveServer, body: bytes, words: str
) -> None:
    token = server.extra["token"]
    with httpx.Client(base_url=server.url, timeout=60) as client:
        before = client.get("/api/channels/main/patches").json()
        repodata = client.get("/main/noarch/repodata.json").content
        response = client.put("/api/channels/main/patches", content=body, headers=_auth(token))
        assert response.status_code == 400, response.text
        assert words.lower() in response.json()["message"].lower(), response.json()
        assert client.get("/api/channels/main/patches").json() == before
        assert client.get("/main/noarch/repodata.json").content == repodata
        assert client.get("/health/ready").status_code == 200


def test_rights_and_unknown_ids(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.put("/api/channels/main/patches", content=PATCH_YAML).status_code == 401
        assert client.post("/api/channels/main/snapshots").status_code == 401
        token = server.extra["token"]
        missing = client.get("/api/channels/main/snapshots/20990101T000000Z-abcdef/diff")
        assert missing.status_code == 404
        bad = client.delete("/api/channels/main/snapshots/..%2F..", headers=_auth(token))
        assert bad.status_code in (404, 405, 422)  # never reaches the snapshot code
        dotted = client.delete("/api/channels/main/snapshots/a.b", headers=_auth(token))
        assert dotted.status_code == 422
        assert (
            client.post("/api/channels/main/patches/999/activate", headers=_auth(token)).status_code
            == 404
        )


def test_removed_artifacts_stay_in_snapshots_and_cli(server: LiveServer, tmp_path: Path) -> None:
    token, pkgs, data = server.extra["token"], server.extra["pkgs"], server.data_dir
    doomed = make_artifact(pkgs, "doomed", "1.0")
    with httpx.Client(base_url=server.url, timeout=60) as client:
        assert prefix_upload(client, "main", doomed, token).status_code == 201
    created = stockyard("snapshot", "create", "main", "--data", str(data), "--json")
    assert created.returncode == 0, created.stderr
    removed = stockyard("package", "remove", "main", f"noarch/{doomed.name}", "--data", str(data))
    assert removed.returncode == 0, removed.stderr
    assert httpx.get(f"{server.url}/main/noarch/{doomed.name}").status_code == 404
    listed = stockyard("snapshot", "list", "main", "--data", str(data), "--json")
    snapshot_id = json.loads(listed.stdout)[0]["id"]
    kept = httpx.get(f"{server.url}/main/snapshots/{snapshot_id}/noarch/{doomed.name}")
    assert kept.status_code == 200 and kept.content == doomed.read_bytes()
    diff = stockyard("snapshot", "diff", "main", snapshot_id, "live", "--data", str(data), "--json")
    assert diff.returncode == 0, diff.stderr
    noarch = next(d for d in json.loads(diff.stdout) if d["subdir"] == "noarch")
    assert doomed.name in noarch["removed"]
    deleted = stockyard("snapshot", "delete", "main", snapshot_id, "--data", str(data))
    assert deleted.returncode == 0, deleted.stderr
    assert (
        httpx.get(f"{server.url}/main/snapshots/{snapshot_id}/noarch/repodata.json").status_code
        == 404
    )
    patch_file = tmp_path / "p.yaml"
    patch_file.write_bytes(PATCH_YAML)
    cli = stockyard("channel", "patches", "main", str(patch_file), "--data", str(data), "--json")
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["active"] is True
