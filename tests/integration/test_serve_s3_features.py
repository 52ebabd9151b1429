"""Snapshots, as-of views, history diffs, attestations and scans of a `stockyard serve` whose
channels live in an S3 bucket (moto's real S3 server on 127.0.0.1).

Each feature reads and writes the channel's objects in the bucket, never the replica's local
working area: snapshots are server-side copies under `<channel>/snapshots/<id>/` served by the
channel file route and installable with py-rattler; as-of views serve the bucket's artifacts;
diffs (API and CLI) read both views from the bucket; attestation sidecars are objects next to
their artifact; `stockyard scan run` fetches artifacts to scratch and deletes them after.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.attest.local_sigstore import WORKFLOW, LocalSigstore, statement
from tests.s3server import S3Server, s3_server
from tests.scan.builders import python_artifact
from tests.scan.conftest import OSV_FOLDER, zip_folder
from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import LiveServer, admin_token, live_server, stockyard
from tests.server.rattler_client import solve_and_install
from tests.server.uploading import prefix_upload

pytestmark = pytest.mark.integration

BUCKET = "stockyard-features"
PREFIX = "features"
PATCH_YAML = b'if:\n  name: a\n  version: "1.0"\nthen:\n  - add_depends: c\n'


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("s3features")
    sigstore = LocalSigstore()
    trust_root = root / "trusted_root.json"
    trust_root.write_text(sigstore.trusted_root_json())
    with s3_server() as s3:
        s3.create_bucket(BUCKET)
        env = {
            **s3.environment(),
            "STOCKYARD_STORAGE_URL": f"s3://{BUCKET}/{PREFIX}",
            "STOCKYARD_ATTESTATION_TRUST_ROOT": str(trust_root),
        }
        with live_server(root / "data", env=env) as server:
            yield {
                "s3": s3,
                "server": server,
                "env": env,
                "token": admin_token(server.banner),
                "sigstore": sigstore,
                "root": root,
            }


def _keys(s3: S3Server, prefix: str) -> set[str]:
    client = s3.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {entry["Key"] for page in pages for entry in page.get("Contents", ())}


def _client(world: dict[str, Any]) -> httpx.Client:
    headers = {"Authorization": f"Bearer {world['token']}"}
    return httpx.Client(base_url=world["server"].url, timeout=60, headers=headers)


def _new_channel(client: httpx.Client, name: str) -> None:
    response = client.post("/api/channels", json={"name": name})
    assert response.status_code == 201, response.text


def _cli(world: dict[str, Any], *args: str) -> Any:
    server: LiveServer = world["server"]
    result = stockyard(*args, "--data", str(server.data_dir), env=world["env"])
    assert result.returncode == 0, result.stderr
    return result


def test_snapshots_live_in_the_bucket_and_keep_the_past(
    world: dict[str, Any], tmp_path: Path
) -> None:
    s3, server = world["s3"], world["server"]
    pkgs = world["root"] / "snap-pkgs"
    paths = {
        "b": make_artifact(pkgs, "b", "1.0"),
        "c": make_artifact(pkgs, "c", "1.0"),
        "a1": make_artifact(pkgs, "a", "1.0", depends=["b"]),
        "a2": make_artifact(pkgs, "a", "2.0", depends=["b"]),
        "x": make_artifact(pkgs, "x", "1.0"),
    }
    with _client(world) as client:
        _new_channel(client, "snap")
        for key in ("b", "c", "a1", "x"):
            assert prefix_upload(client, "snap", paths[key], world["token"]).status_code == 201
        made = client.post("/api/channels/snap/snapshots", json={"description": "T1"})
        assert made.status_code == 201, made.text
        snapshot = made.json()
        put = client.put("/api/channels/snap/patches", content=PATCH_YAML)
        assert put.status_code == 201, put.text
        assert prefix_upload(client, "snap", paths["a2"], world["token"]).status_code == 201
        gone = client.delete(f"/api/channels/snap/packages/noarch/{paths['x'].name}")
        assert gone.status_code == 200, gone.text

        # The snapshot is objects in the bucket, nothing on the replica's disk.
        where = f"{PREFIX}/snap/snapshots/{snapshot['id']}/"
        keys = _keys(s3, where)
        for name in ("repodata.json", "repodata_shards.msgpack.zst", paths["x"].name):
            assert f"{where}noarch/{name}" in keys
        assert any(k.startswith(f"{where}noarch/shards/") for k in keys)
        assert not (server.data_dir / "channels" / "snap" / "snapshots").exists()

        old = client.get(f"/snap/snapshots/{snapshot['id']}/noarch/repodata.json").json()
        assert old["packages.conda"][paths["a1"].name]["depends"] == ["b"]
        assert paths["a2"].name not in old["packages.conda"]
        kept = client.get(f"/snap/snapshots/{snapshot['id']}/noarch/{paths['x'].name}")
        assert kept.status_code == 200 and kept.content == paths["x"].read_bytes()
        assert client.get(f"/snap/noarch/{paths['x'].name}").status_code == 404

        diff = client.get(f"/api/channels/snap/snapshots/{snapshot['id']}/diff").json()
        noarch = next(d for d in diff if d["subdir"] == "noarch")
        assert noarch["added"] == [paths["a2"].name]
        assert noarch["removed"] == [paths["x"].name]
        assert noarch["changed"][paths["a1"].name]["depends"] == [["b"], ["b", "c"]]

    assert snapshot["url"] == f"{server.url}/snap/snapshots/{snapshot['id']}"
    assert solve_and_install(snapshot["url"], "a", tmp_path / "past") == {"a": "1.0", "b": "1.0"}

    # The CLI works on the same bucket: create (pruning the first), diff, list.
    created = json.loads(_cli(world, "snapshot", "create", "snap", "--keep", "1", "--json").stdout)
    assert created["pruned"] == [snapshot["id"]]
    assert _keys(s3, where) == set()
    cli_diff = _cli(world, "snapshot", "diff", "snap", created["id"], "live", "--json")
    assert all(not d["added"] and not d["removed"] for d in json.loads(cli_diff.stdout))
    with _client(world) as client:
        ids = [s["id"] for s in client.get("/api/channels/snap/snapshots").json()]
        assert ids == [created["id"]]
        second = f"/snap/snapshots/{created['id']}/noarch/repodata.json"
        assert client.get(second).status_code == 200
        assert client.delete(f"/api/channels/snap/snapshots/{created['id']}").status_code == 204
        assert _keys(s3, f"{PREFIX}/snap/snapshots/") == set()
        assert client.get(second).status_code == 404  # not served from a cached copy


def test_as_of_views_serve_the_buckets_artifacts(world: dict[str, Any], tmp_path: Path) -> None:
    pkgs = world["root"] / "asof-pkgs"
    b, a1 = make_artifact(pkgs, "b", "1.0"), make_artifact(pkgs, "a", "1.0", depends=["b"])
    a2, x = make_artifact(pkgs, "a", "2.0", depends=["b"]), make_artifact(pkgs, "x", "1.0")
    with _client(world) as client:
        _new_channel(client, "asof")
        for path in (b, a1, x):
            assert prefix_upload(client, "asof", path, world["token"]).status_code == 201
        time.sleep(0.01)
        t1 = int(time.time() * 1000)
        time.sleep(0.01)
        assert prefix_upload(client, "asof", a2, world["token"]).status_code == 201
        assert client.delete(f"/api/channels/asof/packages/noarch/{x.name}").status_code == 200

        past = client.get(f"/asof/as-of/{t1}/noarch/repodata.json").json()
        assert set(past["packages.conda"]) == {b.name, a1.name, x.name}
        artifact = client.get(f"/asof/as-of/{t1}/noarch/{a1.name}")
        assert artifact.status_code == 200
        assert hashlib.sha256(artifact.content).hexdigest() == sha256_of(a1)
        gone = client.get(f"/asof/as-of/{t1}/noarch/{x.name}")
        assert gone.status_code == 404 and "snapshots" in gone.json()["hint"]
    installed = solve_and_install(f"{world['server'].url}/asof/as-of/{t1}", "a", tmp_path / "e")
    assert installed == {"a": "1.0", "b": "1.0"}


def test_attestations_are_objects_next_to_their_artifact(world: dict[str, Any]) -> None:
    s3, server, sigstore = world["s3"], world["server"], world["sigstore"]
    artifact = make_artifact(world["root"] / "attest-pkgs", "widgets")
    channel_url = f"{server.url}/attest"
    first = sigstore.bundle(statement(artifact.name, sha256_of(artifact), channel_url))
    second = sigstore.bundle(statement(artifact.name, sha256_of(artifact), channel_url))
    sidecar = f"/attest/noarch/{artifact.name}.v0.sigs"
    with _client(world) as client:
        _new_channel(client, "attest")
        response = prefix_upload(
            client, "attest", artifact, world["token"], attestation=json.dumps(first)
        )
        assert response.status_code == 201, response.text
        assert f"{PREFIX}/attest/noarch/{artifact.name}.v0.sigs" in _keys(s3, f"{PREFIX}/attest/")
        assert not (server.data_dir / "channels" / "attest" / "noarch").exists()
        assert client.get(sidecar).json() == [first]
        attached = client.post(
            f"/api/channels/attest/attestations/{artifact.name}", content=json.dumps(second)
        )
        assert attached.status_code == 201, attached.text
        assert attached.json()["attestations"] == 2
        assert client.get(sidecar).json() == [first, second]  # the cached copy was dropped
        listed = client.get(f"/api/channels/attest/packages/noarch/{artifact.name}/attestations")
        signers = [a["signer"]["identity"] for a in listed.json()["attestations"]]
        assert signers == [WORKFLOW, WORKFLOW]


def test_scans_read_artifacts_from_the_bucket(world: dict[str, Any]) -> None:
    server = world["server"]
    pkgs = world["root"] / "scan-pkgs"
    vulnerable = python_artifact(
        pkgs, "requests", "2.30.0", dists=[("requests", "2.30.0"), ("urllib3", "1.26.4")]
    )
    clean = python_artifact(pkgs, "requests", "2.31.0", fmt="tar.bz2", dists=[("urllib3", "2.0.7")])
    with _client(world) as client:
        _new_channel(client, "scanned")
        for path in (vulnerable, clean):
            assert prefix_upload(client, "scanned", path, world["token"]).status_code == 201
    ran = json.loads(_cli(world, "scan", "run", "scanned", "--json").stdout)
    assert (ran["scanned"], ran["errors"]) == (2, [])
    scratch = server.data_dir / "channels" / "scanned" / ".stockyard" / "tmp"
    assert not scratch.exists() or not any(scratch.iterdir())  # fetched copies are gone
    osv = zip_folder(OSV_FOLDER, world["root"] / "all.zip", {})
    _cli(world, "scan", "db", "update", "--from", str(osv))
    with _client(world) as client:
        report = client.get("/api/channels/scanned/scan").json()
        assert (report["artifacts"], report["scanned"], report["vulnerable"]) == (2, 2, 1)
        one = client.get(f"/api/channels/scanned/packages/noarch/{vulnerable.name}/scan").json()
        assert one["status"] == "vulnerable"
        assert "pkg:pypi/urllib3@1.26.4" in {c["purl"] for c in one["components"]}
