"""The generated nginx front, for real: nginx in front of a running `stockyard serve`."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
import pytest

from stockyard.config import load_settings
from stockyard.deploy.nginx import nginx_front_for, render_nginx_main
from tests.deploy.nginx_live import NGINX, running_nginx, worker_user
from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import admin_token, free_port, live_server, stockyard
from tests.server.uploading import put_upload, quetz_upload

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed"),
]


def _app_paths(server) -> list[str]:  # type: ignore[no-untyped-def]
    return [line["path"] for line in server.access_log()]


def _app_logged(server, path: str) -> bool:  # type: ignore[no-untyped-def]
    """Whether the app logged `path`; its access line is written just after the response, so
    give it a moment (bounded)."""
    deadline = time.monotonic() + 5
    while path not in _app_paths(server):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_nginx_front_in_front_of_stockyard_serve(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "stockyard.toml"
    config.write_text('accel_redirect = "/_stockyard_files/"\n')
    with live_server(data, "--config", str(config)) as server:
        token = admin_token(server.banner)
        created = stockyard("channel", "create", "secret", "--private", "--data", str(data))
        assert created.returncode == 0, created.stderr
        read = stockyard(
            "token", "create", "--scope", "read", "--channel", "secret", "--data", str(data)
        )
        secret_token = read.stdout.strip()

        app = httpx.Client(base_url=server.url, timeout=30)
        # Enough packages that repodata.json is over gzip_min_length.
        first = [make_artifact(tmp_path / "art", f"pkg{i}", depends=["python"]) for i in range(8)]
        for artifact in first:
            assert quetz_upload(app, "main", artifact, token).status_code == 201
        hidden = make_artifact(tmp_path / "art", "hidden")
        assert quetz_upload(app, "secret", hidden, token).status_code == 201

        port = free_port()
        prefix = tmp_path / "nginx"
        prefix.mkdir()
        settings = load_settings(config, env={}, overrides={"data_dir": str(data)})
        front = nginx_front_for(settings, listen=f"127.0.0.1:{port}", app=server.url)
        assert front.accel_location == "/_stockyard_files/"
        conf = prefix / "nginx.conf"
        conf.write_text(render_nginx_main(front, prefix=prefix, user=worker_user()))

        with (
            running_nginx(conf, prefix, port),
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as web,
        ):
            before = len(_app_paths(server))
            # Public published files: served by nginx (the app never sees the request).
            plain = web.get("/main/noarch/repodata.json", headers={"accept-encoding": "identity"})
            assert plain.status_code == 200
            assert set(plain.json()["packages.conda"]) == {a.name for a in first}
            assert plain.headers["content-type"] == "application/json"
            assert plain.headers["cache-control"] == "public, max-age=60"
            assert "content-encoding" not in plain.headers
            etag = plain.headers["etag"]
            gzipped = web.get("/main/noarch/repodata.json", headers={"accept-encoding": "gzip"})
            assert gzipped.headers["content-encoding"] == "gzip"
            assert "Accept-Encoding" in gzipped.headers["vary"]
            assert gzipped.json() == plain.json()  # httpx decodes the gzip body
            again = web.get(
                "/main/noarch/repodata.json",
                headers={"if-none-match": etag, "accept-encoding": "identity"},
            )
            assert again.status_code == 304
            # The published .gz is another representation with validators of its own.
            gz_again = web.get(
                "/main/noarch/repodata.json",
                headers={"if-none-match": gzipped.headers["etag"], "accept-encoding": "gzip"},
            )
            assert gz_again.status_code == 304
            # gzip_static: the .gz the publish wrote is sent as it is (nothing compressed), and
            # the Surrogate-Key is the app's.
            with web.stream(
                "GET", "/main/noarch/repodata.json", headers={"accept-encoding": "gzip"}
            ) as static:
                raw = b"".join(static.iter_raw())
                assert static.headers["content-encoding"] == "gzip"
                assert static.headers["surrogate-key"] == "main main/noarch"
            assert raw == (data / "channels/main/noarch/repodata.json.gz").read_bytes()
            zst = web.get("/main/noarch/repodata.json.zst", headers={"accept-encoding": "gzip"})
            assert zst.status_code == 200
            assert zst.headers["content-type"] == "application/octet-stream"
            assert "content-encoding" not in zst.headers
            assert zst.headers["cache-control"] == "public, max-age=60"
            index = web.get("/main/noarch/repodata_shards.msgpack.zst")
            assert index.status_code == 200
            assert index.headers["cache-control"] == "public, max-age=60"
            shard = next((data / "channels/main/noarch/shards").iterdir()).name
            served_shard = web.get(f"/main/noarch/shards/{shard}")
            assert served_shard.headers["cache-control"] == "public, max-age=31536000, immutable"
            package = web.get(f"/main/noarch/{first[0].name}")
            assert package.status_code == 200
            assert hashlib.sha256(package.content).hexdigest() == sha256_of(first[0])
            assert package.headers["cache-control"] == "public, max-age=60, must-revalidate"
            assert package.headers["surrogate-key"] == "main/files"
            assert package.headers["content-type"] == "application/octet-stream"
            ranged = web.get(f"/main/noarch/{first[0].name}", headers={"range": "bytes=0-9"})
            assert ranged.status_code == 206 and ranged.content == first[0].read_bytes()[:10]
            html = web.get("/main/noarch/index.html")
            assert html.headers["content-type"] == "text/html; charset=utf-8"
            assert _app_paths(server)[before:] == []

            # Hidden state is never served, by nginx or the app.
            lock = web.get("/main/.stockyard/index.lock")
            assert lock.status_code == 404 and lock.json()["error"] == "NotFound"
            encoded = web.get("/main/%2Estockyard/index.lock")
            assert encoded.status_code == 404
            for path in ("/main/%2e%2e/catalog.db", "/main/..%2Fcatalog.db"):
                escaped = web.get(path)
                assert escaped.status_code in {400, 404}, path
                assert not escaped.content.startswith(b"SQLite format")

            # A missing variant falls through to the app: its JSON 404.
            missing = web.get("/main/noarch/current_repodata.json.zst")
            assert missing.status_code == 404 and missing.json()["error"] == "NotFound"
            assert _app_logged(server, "/main/noarch/current_repodata.json.zst")
            # A directory: its index page; one without index.html: the app's JSON 404.
            assert web.get("/main/").headers["content-type"].startswith("text/html")
            shards_dir = web.get("/main/noarch/shards/")
            assert shards_dir.status_code == 404 and shards_dir.json()["error"] == "NotFound"

            # The private channel does not exist without a token, and works with one.
            nope = web.get("/secret/noarch/repodata.json")
            assert nope.status_code == 404 and nope.json()["error"] == "NotFound"
            assert web.get(f"/secret/noarch/{hidden.name}").status_code == 404
            ok = web.get(f"/t/{secret_token}/secret/noarch/repodata.json")
            assert ok.status_code == 200 and hidden.name in ok.json()["packages.conda"]
            # ... the app authorized it and nginx sent the bytes (X-Accel-Redirect): ranges,
            # the app's private Cache-Control, and no internal path reachable from outside.
            ranged_secret = web.get(
                f"/t/{secret_token}/secret/noarch/{hidden.name}", headers={"range": "bytes=0-3"}
            )
            assert ranged_secret.status_code == 206
            assert ranged_secret.content == hidden.read_bytes()[:4]
            assert ranged_secret.headers["cache-control"].startswith("private")
            assert "x-accel-redirect" not in ranged_secret.headers
            internal = web.get(f"/_stockyard_files/secret/noarch/{hidden.name}")
            assert internal.status_code == 404

            # Visibility changes need no new nginx configuration: public/ follows at once.
            made_private = stockyard(
                "channel", "visibility", "main", "--private", "--data", str(data)
            )
            assert made_private.returncode == 0, made_private.stderr
            assert not (data / "public" / "main").exists()
            deadline = time.monotonic() + 10  # the app's channel cache lasts about a second
            while web.get("/main/noarch/repodata.json").status_code != 404:
                assert time.monotonic() < deadline, "main stayed readable after going private"
                time.sleep(0.1)
            made_public = stockyard(
                "channel", "visibility", "main", "--public", "--data", str(data)
            )
            assert made_public.returncode == 0, made_public.stderr
            assert web.get("/main/noarch/repodata.json").status_code == 200

            # Uploads through nginx: quetz (POST, proxied) and artifactory (PUT on a channel
            # path, sent to the app by the method check), then visible through nginx at once.
            late = make_artifact(tmp_path / "late", "late", subdir="linux-64", fmt="tar.bz2")
            put = make_artifact(tmp_path / "late", "viaput")
            assert quetz_upload(web, "main", late, token).status_code == 201
            response = put_upload(web, "main", "noarch", put, {"Authorization": f"Bearer {token}"})
            assert response.status_code == 201, response.text
            linux = web.get("/main/linux-64/repodata.json").json()
            assert linux["packages"][late.name]["sha256"] == sha256_of(late)
            noarch = web.get("/main/noarch/repodata.json").json()
            assert noarch["packages.conda"][put.name]["sha256"] == sha256_of(put)
            downloaded = web.get(f"/main/linux-64/{late.name}").content
            assert hashlib.sha256(downloaded).hexdigest() == sha256_of(late)
            # Unauthenticated uploads are refused by the app, through nginx too.
            refused = put_upload(web, "main", "noarch", put, {})
            assert refused.status_code == 401 and refused.json()["error"] == "Unauthorized"

            # Operations endpoints are the app's.
            assert web.get("/health").status_code == 200
            assert "stockyard_http_requests" in web.get("/metrics").text
        error_log = (prefix / "error.log").read_text()
        assert "[emerg]" not in error_log and "[crit]" not in error_log, error_log
