"""`stockyard serve` with `storage_url = s3://...` against moto's real S3 server.

Uploads land in the bucket (the data directory keeps only spools and caches); py-rattler
solves and installs through the server; artifacts stream through the app or, with
`download_redirect`, are answered with a presigned URL carrying the app's caching headers; a
restart re-indexes from the bucket; deleting a channel empties its prefix; a force upload is
served at once (the replica's cached copy is dropped by its own publish).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.s3server import S3Server, s3_server
from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import admin_token, live_server, stockyard
from tests.server.rattler_client import solve_and_install
from tests.server.uploading import quetz_upload

pytestmark = pytest.mark.integration

BUCKET = "stockyard-serve"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        server.create_bucket(BUCKET)
        yield server


def _env(s3: S3Server, prefix: str, **extra: str) -> dict[str, str]:
    return {
        **s3.environment(),
        "STOCKYARD_STORAGE_URL": f"s3://{BUCKET}/{prefix}",
        **extra,
    }


def _keys(s3: S3Server, prefix: str) -> set[str]:
    client = s3.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {entry["Key"] for page in pages for entry in page.get("Contents", ())}


def test_uploads_live_in_the_bucket_and_install(s3: S3Server, tmp_path: Path) -> None:
    env = _env(s3, "one")
    data = tmp_path / "data"
    with live_server(data, env=env) as server:
        token = admin_token(server.banner)
        dep = make_artifact(tmp_path / "pkgs", "s3dep", "1.0")
        top = make_artifact(tmp_path / "pkgs", "s3top", "2.0", depends=["s3dep"])
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for artifact in (dep, top):
                response = quetz_upload(client, "main", artifact, token)
                assert response.status_code == 201, response.text
            keys = _keys(s3, "one/main/")
            assert f"one/main/noarch/{top.name}" in keys
            assert "one/main/noarch/repodata.json" in keys
            assert "one/main/noarch/repodata_shards.msgpack.zst" in keys
            # nothing of the channel's published tree is kept on local disk
            local = data / "channels" / "main"
            assert not (local / "noarch" / top.name).exists()
            assert not (local / "noarch" / "repodata.json").exists()

            response = client.get(f"/main/noarch/{top.name}")
            assert response.status_code == 200
            assert hashlib.sha256(response.content).hexdigest() == sha256_of(top)
            etag = response.headers["etag"]
            again = client.get(f"/main/noarch/{top.name}", headers={"if-none-match": etag})
            assert again.status_code == 304
            ranged = client.get(f"/main/noarch/{top.name}", headers={"range": "bytes=0-9"})
            assert ranged.status_code == 206 and ranged.content == top.read_bytes()[:10]
            assert client.get("/main/noarch").status_code in (301, 307)
            assert client.get("/main/noarch/nothing-1.0-0.conda").status_code == 404

        installed = solve_and_install(f"{server.url}/main", "s3top", tmp_path / "env")
        assert installed == {"s3top": "2.0", "s3dep": "1.0"}

        # a force upload of other bytes is served at once, not the cached copy
        replacement = make_artifact(tmp_path / "pkgs2", "s3dep", "1.0", summary="other bytes")
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert client.get(f"/main/noarch/{dep.name}").status_code == 200  # cached now
            response = quetz_upload(client, "main", replacement, token, force=True)
            assert response.status_code == 201, response.text
            body = client.get(f"/main/noarch/{dep.name}").content
            assert hashlib.sha256(body).hexdigest() == sha256_of(replacement)
            records = client.get("/main/noarch/repodata.json").json()["packages.conda"]
            assert records[dep.name]["sha256"] == sha256_of(replacement)

    # a restart indexes from the bucket and changes nothing
    with live_server(data, env=env) as server:
        records = httpx.get(f"{server.url}/main/noarch/repodata.json").json()["packages.conda"]
        assert set(records) == {dep.name, top.name}


def test_download_redirect_answers_with_a_presigned_url(s3: S3Server, tmp_path: Path) -> None:
    env = _env(s3, "redirect", STOCKYARD_DOWNLOAD_REDIRECT="true")
    with live_server(tmp_path / "data", env=env) as server:
        token = admin_token(server.banner)
        artifact = make_artifact(tmp_path / "pkgs", "s3redir", "1.0")
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert quetz_upload(client, "main", artifact, token).status_code == 201
            response = client.get(f"/main/noarch/{artifact.name}")
            assert response.status_code == 302
            assert response.headers["cache-control"] == "no-store"
            target = response.headers["location"]
            assert target.startswith(s3.url) and "X-Amz-Signature" in target
            download = httpx.get(target, timeout=60)
            assert download.status_code == 200
            assert hashlib.sha256(download.content).hexdigest() == sha256_of(artifact)
            assert "max-age" in download.headers["cache-control"]
            # metadata is still served by the app; a missing artifact is a 404, not a redirect
            assert client.get("/main/noarch/repodata.json").status_code == 200
            assert client.get("/main/noarch/missing-1.0-0.conda").status_code == 404
        installed = solve_and_install(f"{server.url}/main", "s3redir", tmp_path / "env")
        assert installed == {"s3redir": "1.0"}


def test_deleting_a_channel_empties_its_prefix(s3: S3Server, tmp_path: Path) -> None:
    env = _env(s3, "delete")
    data = tmp_path / "data"
    with live_server(data, env=env) as server:
        token = admin_token(server.banner)
        artifact = make_artifact(tmp_path / "pkgs", "s3gone", "1.0")
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, timeout=60, headers=headers) as client:
            assert client.post("/api/channels", json={"name": "doomed"}).status_code == 201
            assert client.post("/api/channels", json={"name": "doomed2"}).status_code == 201
            assert quetz_upload(client, "doomed", artifact, token).status_code == 201
            assert quetz_upload(client, "doomed2", artifact, token).status_code == 201
            assert any(k.startswith("delete/doomed/") for k in _keys(s3, "delete/"))
            assert client.delete("/api/channels/doomed?confirm=doomed").status_code == 204
            keys = _keys(s3, "delete/")
            assert not any(k.startswith("delete/doomed/") for k in keys)
            assert f"delete/doomed2/noarch/{artifact.name}" in keys
            assert client.get("/doomed/noarch/repodata.json").status_code == 404


def test_bad_storage_settings_are_refused_at_start(tmp_path: Path) -> None:
    result = stockyard(
        "serve", "--data", str(tmp_path / "d"), env={"STOCKYARD_STORAGE_URL": "s3://Not_A_Bucket"}
    )
    assert result.returncode != 0
    assert "not a valid bucket name" in result.stderr


def test_labels_and_package_management_work_in_the_bucket(s3: S3Server, tmp_path: Path) -> None:
    env = _env(s3, "manage")
    with live_server(tmp_path / "data", env=env) as server:
        token = admin_token(server.banner)
        good = make_artifact(tmp_path / "pkgs", "s3mover", "1.0")
        bad = make_artifact(tmp_path / "pkgs", "s3mover", "1.1")
        gone = make_artifact(tmp_path / "pkgs", "s3gone", "1.0")
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, timeout=60, headers=headers) as client:
            for artifact in (good, bad, gone):
                assert quetz_upload(client, "main", artifact, token).status_code == 201
            response = client.post(
                f"/api/channels/main/packages/noarch/{bad.name}/labels",
                json={"add": ["broken"], "remove": ["main"]},
            )
            assert response.status_code == 200, response.text
            root = client.get("/main/noarch/repodata.json").json()
            assert bad.name not in root["packages.conda"] and bad.name in root["removed"]
            broken = client.get("/main/label/broken/noarch/repodata.json").json()
            assert bad.name in broken["packages.conda"]
            assert f"manage/main/label/broken/noarch/{bad.name}" in _keys(s3, "manage/")
            assert f"manage/main/noarch/{bad.name}" not in _keys(s3, "manage/")
            body = client.get(f"/main/label/broken/noarch/{bad.name}").content
            assert hashlib.sha256(body).hexdigest() == sha256_of(bad)

            package = f"/api/channels/main/packages/noarch/{gone.name}"
            assert client.delete(package).status_code == 200
            assert f"manage/main/noarch/{gone.name}" not in _keys(s3, "manage/")
            assert client.get(f"/main/noarch/{gone.name}").status_code == 404
            package = f"/api/channels/main/packages/noarch/{good.name}"
            assert client.post(f"{package}/yank").status_code == 200
            record = client.get("/main/noarch/repodata.json").json()["packages.conda"][good.name]
            assert record["revoked"] is True
            assert "package_has_been_revoked" in record["depends"]
        installed = solve_and_install(f"{server.url}/main/label/broken", "s3mover", tmp_path / "e")
        assert installed == {"s3mover": "1.1"}
