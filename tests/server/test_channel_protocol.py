"""The conda channel protocol: validators, 304, ranges, gzip, .zst, 404s, caching headers."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
import zstandard

from tests.server.artifacts import make_artifact, sha256_of
from tests.server.conftest import channel_dir
from tests.server.uploading import quetz_upload

IDENTITY = {"accept-encoding": "identity"}


def test_get_and_head_agree(client, filled) -> None:
    got = client.get("/main/noarch/repodata.json", headers=IDENTITY)
    head = client.head("/main/noarch/repodata.json", headers=IDENTITY)
    assert got.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    assert head.headers["etag"] == got.headers["etag"]
    assert head.headers["last-modified"] == got.headers["last-modified"]
    assert got.headers["content-type"] == "application/json"
    assert set(json.loads(got.content)["packages.conda"]) == {p.name for p in filled[:-1]}


def test_etag_is_strong_and_revalidates(client, filled) -> None:
    first = client.get("/main/noarch/repodata.json", headers=IDENTITY)
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = client.get("/main/noarch/repodata.json", headers={**IDENTITY, "if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "public, max-age=30"
    weak = client.get(
        "/main/noarch/repodata.json", headers={**IDENTITY, "if-none-match": f'"x", W/{etag}'}
    )
    assert weak.status_code == 304  # If-None-Match uses the weak comparison
    star = client.get("/main/noarch/repodata.json", headers={**IDENTITY, "if-none-match": "*"})
    assert star.status_code == 304
    other = client.get("/main/noarch/repodata.json", headers={**IDENTITY, "if-none-match": '"x"'})
    assert other.status_code == 200


def test_if_modified_since(client, filled) -> None:
    first = client.get("/main/noarch/repodata.json", headers=IDENTITY)
    since = first.headers["last-modified"]
    assert (
        client.get(
            "/main/noarch/repodata.json", headers={**IDENTITY, "if-modified-since": since}
        ).status_code
        == 304
    )
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert (
        client.get(
            "/main/noarch/repodata.json", headers={**IDENTITY, "if-modified-since": old}
        ).status_code
        == 200
    )
    # If-None-Match wins over If-Modified-Since.
    both = client.get(
        "/main/noarch/repodata.json",
        headers={**IDENTITY, "if-modified-since": since, "if-none-match": '"other"'},
    )
    assert both.status_code == 200
    garbage = client.get(
        "/main/noarch/repodata.json", headers={**IDENTITY, "if-modified-since": "yesterday"}
    )
    assert garbage.status_code == 200


def test_etag_changes_after_an_upload(client, filled, write_token, tmp_path) -> None:
    before = client.get("/main/noarch/repodata.json", headers=IDENTITY).headers["etag"]
    new = make_artifact(tmp_path / "more", "zeta")
    assert quetz_upload(client, "main", new, write_token).status_code == 201
    after = client.get("/main/noarch/repodata.json", headers={**IDENTITY, "if-none-match": before})
    assert after.status_code == 200
    assert after.headers["etag"] != before
    assert new.name in after.json()["packages.conda"]


def test_single_range(client, filled) -> None:
    artifact = filled[0]
    whole = artifact.read_bytes()
    url = f"/main/noarch/{artifact.name}"
    part = client.get(url, headers={"range": "bytes=10-99"})
    assert part.status_code == 206
    assert part.content == whole[10:100]
    assert part.headers["content-range"] == f"bytes 10-99/{len(whole)}"
    assert part.headers["content-length"] == "90"
    tail = client.get(url, headers={"range": "bytes=-16"})
    assert tail.status_code == 206 and tail.content == whole[-16:]
    rest = client.get(url, headers={"range": f"bytes={len(whole) - 5}-"})
    assert rest.status_code == 206 and rest.content == whole[-5:]
    beyond_end = client.get(url, headers={"range": f"bytes=0-{len(whole) + 100}"})
    assert beyond_end.status_code == 206 and beyond_end.content == whole


def test_unsatisfiable_range_is_416(client, filled) -> None:
    artifact = filled[0]
    size = artifact.stat().st_size
    response = client.get(f"/main/noarch/{artifact.name}", headers={"range": f"bytes={size}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"
    assert response.json()["error"] == "RangeNotSatisfiable"


def test_multi_and_invalid_ranges_give_the_whole_file(client, filled) -> None:
    artifact = filled[0]
    whole = artifact.read_bytes()
    for header in ("bytes=0-1,5-6", "bytes=9-3", "items=0-5", "bytes=abc"):
        response = client.get(f"/main/noarch/{artifact.name}", headers={"range": header})
        assert response.status_code == 200, header
        assert response.content == whole


def test_if_range(client, filled) -> None:
    artifact = filled[0]
    url = f"/main/noarch/{artifact.name}"
    etag = client.head(url).headers["etag"]
    matching = client.get(url, headers={"range": "bytes=0-3", "if-range": etag})
    assert matching.status_code == 206
    stale = client.get(url, headers={"range": "bytes=0-3", "if-range": '"stale"'})
    assert stale.status_code == 200
    assert stale.content == artifact.read_bytes()


def test_gzip_is_negotiated_for_json(client, filled) -> None:
    plain = client.get("/main/noarch/repodata.json", headers=IDENTITY)
    assert len(plain.content) > 1024
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    # Read the raw bytes: httpx would otherwise decode them for us.
    with client.stream(
        "GET", "/main/noarch/repodata.json", headers={"accept-encoding": "gzip"}
    ) as zipped:
        raw = b"".join(zipped.iter_raw())
        headers = zipped.headers
    assert headers["content-encoding"] == "gzip"
    assert headers["vary"] == "Accept-Encoding"
    assert int(headers["content-length"]) == len(raw) < len(plain.content)
    assert gzip.decompress(raw) == plain.content
    # The gzip representation has its own strong ETag, and revalidates with it.
    assert headers["etag"] != plain.headers["etag"]
    assert headers["etag"].startswith('"')
    again = client.get(
        "/main/noarch/repodata.json",
        headers={"accept-encoding": "gzip", "if-none-match": headers["etag"]},
    )
    assert again.status_code == 304
    # ...which does not validate the identity representation.
    crossed = client.get(
        "/main/noarch/repodata.json", headers={**IDENTITY, "if-none-match": headers["etag"]}
    )
    assert crossed.status_code == 200
    refused = client.get("/main/noarch/repodata.json", headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_gzip_bytes_are_stable(client, filled) -> None:
    def fetch() -> bytes:
        with client.stream(
            "GET", "/main/channeldata.json", headers={"accept-encoding": "gzip"}
        ) as response:
            return b"".join(response.iter_raw())

    assert fetch() == fetch()


def test_range_request_is_served_identity(client, filled) -> None:
    response = client.get(
        "/main/noarch/repodata.json", headers={"accept-encoding": "gzip", "range": "bytes=0-9"}
    )
    assert response.status_code == 206
    assert "content-encoding" not in response.headers
    assert response.content == b'{"info":{"'


def test_zst_is_plain_bytes(client, filled) -> None:
    response = client.get("/main/noarch/repodata.json.zst", headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert "content-encoding" not in response.headers
    decoded = zstandard.ZstdDecompressor().decompress(response.content, max_output_size=1 << 24)
    plain = client.get("/main/noarch/repodata.json", headers=IDENTITY)
    assert json.loads(decoded) == json.loads(plain.content)
    shard_index = client.get("/main/noarch/repodata_shards.msgpack.zst")
    assert shard_index.status_code == 200
    assert "content-encoding" not in shard_index.headers
    assert shard_index.headers["cache-control"] == "public, max-age=30"


def test_cache_control(client, settings, filled) -> None:
    short = "public, max-age=30"
    immutable = "public, max-age=31536000, immutable"
    for path in (
        "/main/noarch/repodata.json",
        "/main/noarch/repodata.json.zst",
        "/main/noarch/repodata_shards.msgpack.zst",
        "/main/channeldata.json",
        "/main/linux-64/repodata.json",
    ):
        assert client.head(path).headers["cache-control"] == short, path
    shards = sorted((channel_dir(settings, "main") / "noarch" / "shards").iterdir())
    assert shards
    shard = client.get(f"/main/noarch/shards/{shards[0].name}")
    assert shard.headers["cache-control"] == immutable
    assert shard.headers["etag"] == f'"{shards[0].name.split(".")[0]}"'
    # Artifacts can be replaced by a forced upload: revalidated after the repodata max-age.
    package = client.head(f"/main/noarch/{filled[0].name}")
    assert package.headers["cache-control"] == "public, max-age=30, must-revalidate"
    assert package.headers["content-type"] == "application/octet-stream"


def test_forced_overwrite_gives_a_new_etag(client, write_token, tmp_path: Path) -> None:
    """An artifact's name is not content-addressed: after `force=true` replaced its bytes, a
    client revalidating with the old ETag gets 200 and the new bytes, never a 304."""
    old = make_artifact(tmp_path / "old", "over", summary="first build")
    new = make_artifact(tmp_path / "new", "over", summary="second build")
    assert old.name == new.name and old.read_bytes() != new.read_bytes()
    assert quetz_upload(client, "main", old, write_token).status_code == 201
    first = client.get(f"/main/noarch/{old.name}")
    assert first.content == old.read_bytes()
    assert "immutable" not in first.headers["cache-control"]
    etag = first.headers["etag"]
    assert client.get(f"/main/noarch/{old.name}", headers={"if-none-match": etag}).status_code == (
        304
    )
    assert quetz_upload(client, "main", new, write_token, force=True).status_code == 201
    again = client.get(
        f"/main/noarch/{old.name}",
        headers={"if-none-match": etag, "if-modified-since": first.headers["last-modified"]},
    )
    assert again.status_code == 200
    assert again.content == new.read_bytes()
    assert again.headers["etag"] != etag
    listed = client.get("/main/noarch/repodata.json").json()["packages.conda"][old.name]
    assert listed["sha256"] == sha256_of(new)


def test_package_download_matches_repodata(client, filled) -> None:
    repodata = client.get("/main/linux-64/repodata.json").json()
    ((filename, record),) = repodata["packages.conda"].items()
    body = client.get(f"/main/linux-64/{filename}").content
    assert (
        record["sha256"] == sha256_of(filled[-1]) == __import__("hashlib").sha256(body).hexdigest()
    )


@pytest.mark.parametrize(
    "path",
    [
        "/main/noarch/current_repodata.json",
        "/main/noarch/repodata.json.bz2",
        "/main/osx-arm64/repodata.json",
        "/main/noarch/shards/" + "0" * 64 + ".msgpack.zst",
        "/main/noarch/missing-1.0-0.conda",
        "/nochannel/noarch/repodata.json",
        "/main/.stockyard/index.lock",
        "/main/noarch/.repodata.json.tmp",
        "/main/%2e%2e/catalog.db",
        "/main/noarch/%2e%2e/%2e%2e/catalog.db",
        "/main/noarch/..%2f..%2fcatalog.db",
        "/main//etc/passwd",
        "/main/noarch/a%00b",
        "/api/nothing-here",
    ],
)
def test_missing_and_hostile_paths_are_404_json(client, filled, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404, path
    body = response.json()
    assert body["error"] == "NotFound" and body["message"] and "hint" in body


def test_raw_traversal_never_escapes(app, settings, filled) -> None:
    """Paths with literal `..` segments (httpx would normalize them away) straight to ASGI."""
    import anyio

    secret = settings.data_path.resolve() / "catalog.db"
    assert secret.exists()

    async def call(raw_path: str) -> int:
        messages = []

        async def receive():  # type: ignore[no-untyped-def]
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):  # type: ignore[no-untyped-def]
            messages.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": raw_path,
            "raw_path": raw_path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 1234),
            "server": ("testserver", 80),
        }
        await app(scope, receive, send)
        return next(m["status"] for m in messages if m["type"] == "http.response.start")

    for raw in (
        "/main/../catalog.db",
        "/main/noarch/../../catalog.db",
        "/main/noarch/../../../../../etc/passwd",
        "/t/whatever/main/../catalog.db",
        f"/main/{secret}",
    ):
        assert anyio.run(call, raw) == 404, raw


def test_directory_urls(client, filled) -> None:
    root = client.get("/main/", headers=IDENTITY)
    assert root.status_code == 200 and root.headers["content-type"].startswith("text/html")
    redirect = client.get("/main", follow_redirects=False)
    assert redirect.status_code == 301 and redirect.headers["location"] == "/main/"
    subdir = client.get("/main/noarch", follow_redirects=False)
    assert subdir.status_code == 301 and subdir.headers["location"] == "/main/noarch/"
    assert client.get("/main/noarch/").status_code == 200


def test_root_redirects_to_ui(client) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code in {302, 307}
    assert response.headers["location"] == "/ui/"
    assert client.get("/ui/").status_code == 200


def test_file_replaced_between_requests_keeps_headers_consistent(client, settings) -> None:
    target = channel_dir(settings, "main") / "noarch" / "extra.json"
    target.write_bytes(b'{"a": 1}' + b" " * 2000)
    first = client.get("/main/noarch/extra.json", headers=IDENTITY)
    tmp = target.with_name(".extra.tmp")
    tmp.write_bytes(b'{"b": 2}')
    os.replace(tmp, target)
    second = client.get("/main/noarch/extra.json", headers=IDENTITY)
    assert second.content == b'{"b": 2}'
    assert second.headers["content-length"] == "8"
    assert second.headers["etag"] != first.headers["etag"]


def test_large_file_streams_in_chunks(client, settings) -> None:
    from stockyard.server.http_files import CHUNK_SIZE

    data = os.urandom(CHUNK_SIZE * 3 + 123)
    (channel_dir(settings, "main") / "noarch" / "big-1.0-0.conda").write_bytes(data)
    with client.stream("GET", "/main/noarch/big-1.0-0.conda") as response:
        chunks = list(response.iter_raw())
    assert b"".join(chunks) == data
    assert len(chunks) >= 3
    middle = client.get(
        "/main/noarch/big-1.0-0.conda",
        headers={"range": f"bytes={CHUNK_SIZE - 10}-{CHUNK_SIZE * 2 + 10}"},
    )
    assert middle.content == data[CHUNK_SIZE - 10 : CHUNK_SIZE * 2 + 11]


def test_public_links_mirror_visibility(client, settings, private_channel) -> None:
    public = settings.data_path.resolve() / "public"
    assert sorted(p.name for p in public.iterdir()) == ["main"]
    assert (public / "main" / "noarch" / "repodata.json").is_file()
    assert (public / "main").resolve() == channel_dir(settings, "main")


def test_accel_redirect_behind_nginx(settings, boot, private_channel, private_read_token) -> None:
    import msgspec

    from stockyard.server.app import create_app
    from tests.server.conftest import TestClient

    behind = msgspec.structs.replace(settings, accel_redirect="/_stockyard_files/")
    with TestClient(create_app(behind)) as client:
        response = client.get(f"/t/{private_read_token}/secret/noarch/repodata.json")
        assert response.status_code == 200
        assert response.content == b""
        assert (
            response.headers["x-accel-redirect"] == "/_stockyard_files/secret/noarch/repodata.json"
        )
        assert response.headers["cache-control"] == "private, max-age=30"
        # Authorization still happens first.
        assert client.get("/secret/noarch/repodata.json").status_code == 404
        assert "x-accel-redirect" not in client.get("/secret/noarch/nope.json").headers
