"""`stockyard backup` / `stockyard restore` against live servers, with py-rattler as the client.

A deployment with two channels (one private), uploads in two subdirs, a label, a patch set, a
snapshot and tokens is backed up with the CLI while its server runs; the backup is restored
into a fresh SQLite data directory and into a fresh PostgreSQL database; servers started on
the restored deployments give py-rattler the same solution and the same records and sha256s,
the tokens still work, the private channel stays private; PostgreSQL backs up and restores
to SQLite again. A backup taken while uploads run is consistent once restored. A deployment
on PostgreSQL and a bucket is restored into a fresh database over the same bucket.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backup.conftest import catalog_rows
from tests.catalog.conftest import fresh_pg_database
from tests.s3server import S3Server, s3_server
from tests.server.artifacts import make_artifact
from tests.server.live import LiveServer, admin_token, live_server, stockyard
from tests.server.rattler_client import solve_and_install
from tests.server.uploading import quetz_upload

pytestmark = pytest.mark.integration

PATCH_YAML = b"""\
if:
  name: bktop
then:
  - add_depends: bkdep >=1
"""
#: Documents compared between the original and each restored server.
DOCUMENTS = (
    "main/noarch/repodata.json",
    "main/linux-64/repodata.json",
    "main/label/rc/noarch/repodata.json",
    "main/channeldata.json",
)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _cli(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = stockyard(*args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _records(url: str, path: str, token: str | None = None) -> dict[str, Any]:
    prefix = f"{url}/t/{token}" if token else url
    response = httpx.get(f"{prefix}/{path}", timeout=30)
    assert response.status_code == 200, (path, response.status_code)
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("backup-source")
    pkgs = root / "pkgs"
    with live_server(root / "data") as server:
        token = admin_token(server.banner)
        with httpx.Client(base_url=server.url, timeout=60, headers=_auth(token)) as client:
            created = client.post("/api/channels", json={"name": "team", "private": True})
            assert created.status_code == 201, created.text
            uploads = [
                ("main", make_artifact(pkgs, "bkdep", "1.0"), None),
                ("main", make_artifact(pkgs, "bktop", "2.0", depends=["bkdep"]), None),
                ("main", make_artifact(pkgs, "bknative", "0.1", subdir="linux-64"), None),
                ("main", make_artifact(pkgs, "bkrc", "0.9"), "rc"),
                ("team", make_artifact(pkgs, "bksecret", "3.0"), None),
            ]
            for channel, path, label in uploads:
                params = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
                if label:
                    params["label"] = label
                response = client.post(
                    f"/api/channels/{channel}/upload/{path.name}",
                    params=params,
                    content=path.read_bytes(),
                )
                assert response.status_code == 201, response.text
            assert client.put("/api/channels/main/patches", content=PATCH_YAML).status_code == 201
            snapshot = client.post("/api/channels/main/snapshots", json={"description": "b"})
            assert snapshot.status_code == 201, snapshot.text
            read = client.post("/api/tokens", json={"channel": "team", "scope": "read"})
            assert read.status_code == 201, read.text
        server.extra.update(
            admin=token, read=read.json()["token"], snapshot=snapshot.json()["id"], root=root
        )
        yield server


def _check_restored(server: LiveServer, original: LiveServer, tmp_path: Path) -> None:
    """The restored server serves what the original serves, to the same clients."""
    for path in DOCUMENTS:
        assert _records(server.url, path) == _records(original.url, path), path
    snapshot = f"main/snapshots/{original.extra['snapshot']}/noarch/repodata.json"
    assert _records(server.url, snapshot) == _records(original.url, snapshot)
    # the patch set is in force: the patched depends are published
    top = _records(server.url, "main/noarch/repodata.json")["packages.conda"]["bktop-2.0-0.conda"]
    assert "bkdep >=1" in top["depends"]
    # same solution from py-rattler, and the artifacts it installed have the published sha256s
    if "solution" not in original.extra:
        original.extra["solution"] = solve_and_install(f"{original.url}/main", "bktop", tmp_path)
    expected = original.extra["solution"]
    assert solve_and_install(f"{server.url}/main", "bktop", tmp_path / "r") == expected
    assert expected == {"bktop": "2.0", "bkdep": "1.0"}
    label = solve_and_install(f"{server.url}/main/label/rc", "bkrc", tmp_path / "l")
    assert label == {"bkrc": "0.9"}
    records = _records(server.url, "main/noarch/repodata.json")["packages.conda"]
    for filename, record in records.items():
        body = httpx.get(f"{server.url}/main/noarch/{filename}", timeout=30).content
        assert hashlib.sha256(body).hexdigest() == record["sha256"]
    # private stays private; the restored tokens (stored hashed) still work
    team = "team/noarch/repodata.json"
    assert httpx.get(f"{server.url}/{team}", timeout=30).status_code in (401, 404)
    read = original.extra["read"]
    assert _records(server.url, team, read) == _records(original.url, team, read)
    assert "bksecret-3.0-0.conda" in _records(server.url, team, read)["packages.conda"]
    admin = original.extra["admin"]
    channels = httpx.get(f"{server.url}/api/channels", headers=_auth(admin), timeout=30).json()
    assert {c["name"] for c in channels} == {"main", "team"}
    rejected = httpx.get(f"{server.url}/t/sy-{'x' * 40}/{team}", timeout=30)
    assert rejected.status_code in (401, 403, 404)


def test_restored_into_sqlite_and_postgresql_serves_the_same(
    original: LiveServer, tmp_path: Path
) -> None:
    backup = tmp_path / "backup"
    summary = _cli("backup", str(backup), "--data", str(original.data_dir))
    assert set(summary["tables"]) >= {"channels", "artifacts", "tokens", "jobs"}
    assert {c["name"] for c in summary["channels"]} == {"main", "main/label/rc", "team"}
    assert summary["linked_artifacts"] >= 5 and summary["kept_artifacts"] == 0

    on_sqlite = tmp_path / "sqlite-data"
    restored = _cli("restore", str(backup), "--data", str(on_sqlite))
    assert restored["missing_artifacts"] == [] and restored["backup_dialect"] == "sqlite"
    with live_server(on_sqlite) as server:
        assert admin_token_absent(server)
        _check_restored(server, original, tmp_path / "sqlite")

    with fresh_pg_database() as database:
        env = {"STOCKYARD_DB_URL": database}
        on_pg = tmp_path / "pg-data"
        _cli("restore", str(backup), "--data", str(on_pg), env=env)
        with live_server(on_pg, env=env) as server:
            assert admin_token_absent(server)
            _check_restored(server, original, tmp_path / "pg")
        # and back: PostgreSQL -> backup -> SQLite
        again = tmp_path / "backup-of-pg"
        assert _cli("backup", str(again), "--data", str(on_pg), env=env)["dialect"] == "postgresql"
        back = tmp_path / "back-data"
        _cli("restore", str(again), "--data", str(back))
    first = catalog_rows(f"sqlite:///{on_sqlite / 'catalog.db'}")
    last = catalog_rows(f"sqlite:///{back / 'catalog.db'}")
    for table in ("channels", "artifacts", "published_files", "shards", "snapshots", "removed"):
        assert last[table] == first[table], table
    for path in DOCUMENTS:
        assert (back / "channels" / path).read_bytes() == (
            on_sqlite / "channels" / path
        ).read_bytes()


def admin_token_absent(server: LiveServer) -> bool:
    """A restored deployment keeps its admin token: the server does not mint a new one."""
    return re.search(r"\bsy-[A-Za-z0-9]{40}\b", server.banner) is None


def test_a_backup_taken_while_uploads_run_is_consistent(tmp_path: Path) -> None:
    data, pkgs = tmp_path / "data", tmp_path / "pkgs"
    artifacts = [make_artifact(pkgs, f"busy{i}", "1.0") for i in range(25)]
    acknowledged: list[str] = []
    with live_server(data) as server:
        token = admin_token(server.banner)

        def upload_all() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for path in artifacts:
                    assert quetz_upload(client, "main", path, token).status_code == 201
                    acknowledged.append(path.name)

        uploader = threading.Thread(target=upload_all)
        uploader.start()
        while len(acknowledged) < 5 and uploader.is_alive():
            uploader.join(0.05)
        before = list(acknowledged)
        backup = tmp_path / "backup"
        summary = _cli("backup", str(backup), "--data", str(data))
        uploader.join()
    assert len(acknowledged) == len(artifacts)
    restored_dir = tmp_path / "restored"
    restored = _cli("restore", str(backup), "--data", str(restored_dir))
    assert restored["republished"] == (["main"] if _republish(summary) else [])
    with live_server(restored_dir) as server:
        document = _records(server.url, "main/noarch/repodata.json")
        records = document["packages.conda"]
        # every upload acknowledged before the backup started is there ...
        assert set(before) <= set(records)
        # ... and every record has its artifact, with its sha256
        for filename, record in records.items():
            body = httpx.get(f"{server.url}/main/noarch/{filename}", timeout=30).content
            assert hashlib.sha256(body).hexdigest() == record["sha256"], filename
    # the catalog and the published files agree
    rows = catalog_rows(f"sqlite:///{restored_dir / 'catalog.db'}")
    in_catalog = {row[3] for row in rows["artifacts"] if row[2] == "noarch"}
    assert in_catalog == set(records)


def _republish(summary: dict[str, Any]) -> bool:
    return any(c["republish_on_restore"] for c in summary["channels"])


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        server.create_bucket("stockyard-backups")
        yield server


def test_postgresql_and_bucket_restored_into_a_fresh_database(s3: S3Server, tmp_path: Path) -> None:
    storage = {
        **s3.environment(),
        "STOCKYARD_STORAGE_URL": f"s3://stockyard-backups/{secrets.token_hex(4)}",
    }
    pkgs = tmp_path / "pkgs"
    dep = make_artifact(pkgs, "s3bkdep", "1.0")
    top = make_artifact(pkgs, "s3bktop", "1.0", depends=["s3bkdep"])
    with fresh_pg_database() as database:
        env = {**storage, "STOCKYARD_DB_URL": database}
        with live_server(tmp_path / "data", env=env) as server:
            token = admin_token(server.banner)
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for path in (dep, top):
                    assert quetz_upload(client, "main", path, token).status_code == 201
            expected = solve_and_install(f"{server.url}/main", "s3bktop", tmp_path / "o")
            original = _records(server.url, "main/noarch/repodata.json")
            backup = tmp_path / "backup"
            summary = _cli("backup", str(backup), "--data", str(tmp_path / "data"), env=env)
    assert summary["storage"] == "bucket" and summary["kept_artifacts"] == 2
    manifest = json.loads((backup / "manifest.json").read_text())
    kept = {k["key"]: k["sha256"] for c in manifest["channels"] for k in c["kept"]}
    assert kept[f"noarch/{top.name}"] == hashlib.sha256(top.read_bytes()).hexdigest()
    # the database is lost; a fresh one, the same bucket
    with fresh_pg_database() as database:
        env = {**storage, "STOCKYARD_DB_URL": database}
        restored = _cli("restore", str(backup), "--data", str(tmp_path / "new"), env=env)
        assert restored["kept_artifacts_checked"] == 2 and restored["missing_artifacts"] == []
        with live_server(tmp_path / "new", env=env) as server:
            assert _records(server.url, "main/noarch/repodata.json") == original
            assert solve_and_install(f"{server.url}/main", "s3bktop", tmp_path / "r") == expected
