"""CDN purge hooks against a live `stockyard serve`: after an upload the purge webhook (a real
HTTP receiver on 127.0.0.1) gets the changed URLs and surrogate keys, for the channel root, a
label and a private channel (never with a token); `stockyard cdn changed-urls` lists the same;
a dead webhook never fails an upload."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.cdn.receiver import purge_receiver
from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import admin_token, free_port, live_server, stockyard
from tests.server.uploading import quetz_upload

pytestmark = pytest.mark.integration

PUBLIC = "https://conda.example.com"
SECRET = "webhook-secret-42"


def _env(webhook: str) -> dict[str, str]:
    return {"STOCKYARD_PURGE_WEBHOOK_URL": webhook, "STOCKYARD_PUBLIC_URL": PUBLIC}


def _upload_with_label(client: httpx.Client, artifact: Path, token: str, label: str) -> None:
    response = client.post(
        f"/api/channels/main/upload/{artifact.name}",
        params={"sha256": sha256_of(artifact), "label": label},
        content=artifact.read_bytes(),
        headers={"X-API-Key": token},
    )
    assert response.status_code == 201, response.text


def test_uploads_are_purged_through_the_webhook(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with (
        purge_receiver() as receiver,
        live_server(data, env=_env(f"{receiver.url}?token={SECRET}")) as server,
    ):
        token = admin_token(server.banner)
        client = httpx.Client(base_url=server.url, timeout=60)
        first = make_artifact(tmp_path / "art", "purged", depends=["python"])
        assert quetz_upload(client, "main", first, token).status_code == 201
        artifact_url = f"{PUBLIC}/main/noarch/{first.name}"
        got = receiver.wait_for(lambda got: any(artifact_url in p["urls"] for p in got))
        [payload] = [p for p in got if artifact_url in p["urls"]]
        assert payload["channel"] == "main"
        assert {
            f"{PUBLIC}/main/noarch/repodata.json",
            f"{PUBLIC}/main/noarch/repodata.json.gz",
            f"{PUBLIC}/main/noarch/repodata.json.zst",
            f"{PUBLIC}/main/channeldata.json",
            f"{PUBLIC}/main/channeldata.json.gz",
        } <= set(payload["urls"])
        assert {"main/noarch", "main/root"} <= set(payload["surrogate_keys"])
        assert "main" not in payload["surrogate_keys"]  # never the whole channel
        assert receiver.requests[0][0] == f"/purge?token={SECRET}"

        # The command lists what the last publish changed, from the channel's ledger.
        listed = stockyard("cdn", "changed-urls", "main", "--json", "--data", str(data))
        assert listed.returncode == 0, listed.stderr
        ledger = json.loads(listed.stdout)
        assert ledger["revision"] == payload["revision"] and ledger["complete"]
        assert set(ledger["urls"]) == set(payload["urls"])
        plain = stockyard("cdn", "changed-urls", "main", "--data", str(data))
        assert artifact_url in plain.stdout.splitlines()

        # A label: its URLs and keys are under /main/label/rc/.
        rc = make_artifact(tmp_path / "art", "purged-rc", "2.0rc1")
        _upload_with_label(client, rc, token, "rc")
        rc_url = f"{PUBLIC}/main/label/rc/noarch/{rc.name}"
        got = receiver.wait_for(lambda got: any(rc_url in p["urls"] for p in got))
        [labelled] = [p for p in got if rc_url in p["urls"]]
        assert labelled["channel"] == "main/label/rc"
        assert f"{PUBLIC}/main/label/rc/noarch/repodata.json" in labelled["urls"]
        assert "main/label/rc/noarch" in labelled["surrogate_keys"]
        served = client.get("/main/label/rc/noarch/repodata.json")
        assert served.headers["surrogate-key"] == "main/label/rc main/label/rc/noarch"

        # A private channel: listed without its token; the artifact keeps revalidating.
        created = stockyard("channel", "create", "secret", "--private", "--data", str(data))
        assert created.returncode == 0, created.stderr
        hidden = make_artifact(tmp_path / "art", "hidden")
        assert quetz_upload(client, "secret", hidden, token).status_code == 201
        hidden_url = f"{PUBLIC}/secret/noarch/{hidden.name}"
        got = receiver.wait_for(lambda got: any(hidden_url in p["urls"] for p in got))
        assert not any(token in url or "/t/" in url for p in got for url in p["urls"])

        # With a purge wired, public artifacts live a year.
        downloaded = client.get(f"/main/noarch/{first.name}")
        assert downloaded.headers["cache-control"] == "public, max-age=31536000"
        metrics = client.get("/metrics").text
        assert 'stockyard_cdn_purges_total{outcome="sent"}' in metrics
    assert SECRET not in server.log_path.read_text()


def test_a_dead_webhook_never_fails_an_upload(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/purge?token={SECRET}"  # nothing listens there
    with live_server(tmp_path / "data", env=_env(dead)) as server:
        token = admin_token(server.banner)
        client = httpx.Client(base_url=server.url, timeout=60)
        artifact = make_artifact(tmp_path / "art", "unpurged")
        assert quetz_upload(client, "main", artifact, token).status_code == 201
        listed = client.get("/main/noarch/repodata.json").json()["packages.conda"]
        assert artifact.name in listed
        # The failure is logged (after its bounded retries) and counted, never with the URL.
        deadline = time.monotonic() + 60
        while "CDN purge webhook failed" not in server.log_path.read_text():
            assert time.monotonic() < deadline, server.log_path.read_text()[-2000:]
            time.sleep(0.2)
        metrics = client.get("/metrics").text
        assert 'stockyard_cdn_purges_total{outcome="failed"} 1.0' in metrics
        assert client.get("/health/ready").status_code == 200
    log = server.log_path.read_text()
    assert SECRET not in log and dead not in log


def test_bucket_storage_serves_the_published_gz_and_purges(tmp_path: Path) -> None:
    """With `storage_url = s3://...` (moto): the .gz is in the bucket next to repodata.json,
    the replica serves it as the gzip variant (revalidating with its own ETag), and purges
    still arrive (after the delay that lets replicas drop their cached copies)."""
    from tests.s3server import s3_server

    with s3_server() as s3, purge_receiver() as receiver:
        s3.create_bucket("cdn")
        env = {**s3.environment(), "STOCKYARD_STORAGE_URL": "s3://cdn/p", **_env(receiver.url)}
        with live_server(tmp_path / "data", env=env) as server:
            token = admin_token(server.banner)
            client = httpx.Client(base_url=server.url, timeout=60)
            artifacts = [make_artifact(tmp_path / "art", f"b{i}", depends=["x"]) for i in range(6)]
            for artifact in artifacts:
                assert quetz_upload(client, "main", artifact, token).status_code == 201
            bucket = s3.client()
            stored = bucket.get_object(Bucket="cdn", Key="p/main/noarch/repodata.json.gz")
            published = stored["Body"].read()
            with client.stream(
                "GET", "/main/noarch/repodata.json", headers={"accept-encoding": "gzip"}
            ) as response:
                raw = b"".join(response.iter_raw())
                etag = response.headers["etag"]
                assert response.headers["content-encoding"] == "gzip"
            assert raw == published
            again = client.get(
                "/main/noarch/repodata.json",
                headers={"accept-encoding": "gzip", "if-none-match": etag},
            )
            assert again.status_code == 304
            last = f"{PUBLIC}/main/noarch/{artifacts[-1].name}"
            got = receiver.wait_for(lambda got: any(last in p["urls"] for p in got))
            assert any(f"{PUBLIC}/main/noarch/repodata.json.gz" in p["urls"] for p in got)
