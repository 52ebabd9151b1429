"""CDN-friendly serving: the published `.gz` as the gzip variant (with its own strong ETag),
Surrogate-Key on every channel file, and year-long artifacts when a CDN purge is wired."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockyard.config import Settings, load_settings
from stockyard.server.http_files import published_gz_etag
from tests.cdn.receiver import Receiver, purge_receiver
from tests.server.artifacts import make_artifact
from tests.server.conftest import UPLOAD_LIMIT, channel_dir
from tests.server.uploading import quetz_upload

GZIP = {"accept-encoding": "gzip"}
IDENTITY = {"accept-encoding": "identity"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with purge_receiver() as running:
        yield running


@pytest.fixture
def settings(tmp_path: Path, receiver: Receiver) -> Settings:
    """The server fixtures' settings, with a purge webhook wired to a real receiver."""
    return load_settings(
        env={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "max_upload_bytes": UPLOAD_LIMIT,
            "repodata_max_age": 30,
            "log_format": "json",
            "public_url": "https://conda.example.com",
            "purge_webhook_url": receiver.url,
        },
    )


@pytest.fixture
def filled(client, write_token, tmp_path: Path) -> list[Path]:
    paths = [make_artifact(tmp_path / "art", f"pkg{i}", depends=[f"dep{i} >=1"]) for i in range(6)]
    for path in paths:
        assert quetz_upload(client, "main", path, write_token).status_code == 201
    return paths


def _raw(client, url: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    with client.stream("GET", url, headers=headers) as response:
        return response, b"".join(response.iter_raw())


@pytest.mark.parametrize("key", ["noarch/repodata.json", "channeldata.json"])
def test_the_published_gz_is_the_gzip_variant(client, settings, filled, key: str) -> None:
    published = channel_dir(settings, "main") / f"{key}.gz"
    response, raw = _raw(client, f"/main/{key}", GZIP)
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert raw == published.read_bytes()  # sent as it is: nothing compressed per request
    stat = published.stat()
    etag = published_gz_etag(key, stat.st_size, stat.st_mtime_ns)
    assert response.headers["etag"] == etag and etag.endswith('-gzip"')
    again = client.get(f"/main/{key}", headers={**GZIP, "if-none-match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag
    # The identity representation has other validators, which the gzip ETag does not match.
    plain = client.get(f"/main/{key}", headers={**IDENTITY, "if-none-match": etag})
    assert plain.status_code == 200 and plain.headers["etag"] != etag
    assert "content-encoding" not in plain.headers
    head = client.head(f"/main/{key}", headers=GZIP)
    assert head.headers["content-length"] == str(len(raw)) and head.content == b""


def test_other_json_is_still_compressed_on_the_fly(client, settings, filled) -> None:
    key = "noarch/repodata_from_packages.json"
    assert not (channel_dir(settings, "main") / f"{key}.gz").exists()
    response, raw = _raw(client, f"/main/{key}", GZIP)
    assert response.headers["content-encoding"] == "gzip"
    plain = client.get(f"/main/{key}", headers=IDENTITY)
    assert gzip.decompress(raw) == plain.content
    assert response.headers["etag"] == plain.headers["etag"][:-1] + '-gzip"'


def test_a_new_publish_serves_the_new_gz(client, settings, filled, write_token, tmp_path) -> None:
    first = client.get("/main/noarch/repodata.json", headers=GZIP)
    late = make_artifact(tmp_path / "late", "late")
    assert quetz_upload(client, "main", late, write_token).status_code == 201
    second = client.get(
        "/main/noarch/repodata.json", headers={**GZIP, "if-none-match": first.headers["etag"]}
    )
    assert second.status_code == 200  # httpx decodes the gzip body
    assert late.name in json.loads(second.content)["packages.conda"]


def test_surrogate_keys_on_channel_files(client, filled) -> None:
    expected = {
        "/main/noarch/repodata.json": "main main/noarch",
        "/main/noarch/repodata.json.zst": "main main/noarch",
        "/main/channeldata.json": "main main/root",
        "/main/": "main main/root",
        f"/main/noarch/{filled[0].name}": "main/files",
    }
    for url, keys in expected.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["surrogate-key"] == keys, url
    revalidated = client.get(
        "/main/noarch/repodata.json",
        headers={"if-none-match": client.get("/main/noarch/repodata.json").headers["etag"]},
    )
    assert revalidated.status_code == 304
    assert revalidated.headers["surrogate-key"] == "main main/noarch"


def test_artifacts_live_a_year_when_a_purge_is_wired(
    client, filled, private_channel, admin_token, tmp_path
) -> None:
    public = client.get(f"/main/noarch/{filled[0].name}")
    assert public.headers["cache-control"] == "public, max-age=31536000"
    # Repodata keeps its short lifetime.
    assert client.get("/main/noarch/repodata.json").headers["cache-control"] == (
        "public, max-age=30"
    )
    # A private channel's artifacts are in no shared cache a purge could reach: unchanged.
    hidden = make_artifact(tmp_path / "hidden", "hidden")
    assert quetz_upload(client, "secret", hidden, admin_token).status_code == 201
    private = client.get(f"/t/{admin_token}/secret/noarch/{hidden.name}")
    assert private.headers["cache-control"] == "private, max-age=30, must-revalidate"


def test_uploads_are_purged_through_the_webhook(client, filled, receiver: Receiver) -> None:
    last = f"https://conda.example.com/main/noarch/{filled[-1].name}"
    payloads = receiver.wait_for(lambda got: any(last in p["urls"] for p in got))
    assert all(p["channel"] == "main" for p in payloads)
    urls = {url for p in payloads for url in p["urls"]}
    assert "https://conda.example.com/main/noarch/repodata.json" in urls
    assert "https://conda.example.com/main/noarch/repodata.json.gz" in urls
    assert not any("/t/" in url for url in urls)
