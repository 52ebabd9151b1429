"""What only the S3 backend has: multipart on the wire, prefixes, credentials from the
environment, presigned URLs. Against moto's S3 server (conftest.py), never a mocked client."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from stockyard.storage import open_store
from stockyard.storage.s3 import S3Store
from stockyard.storage.s3_reader import ObjectChanged
from stockyard.storage.s3_transfer import MAX_PARTS, MiB, multipart_upload, part_size_for

from ..s3server import ENVIRONMENT, S3Server
from .conftest import BUCKET


def _etag(store: S3Store, key: str) -> str:
    etag: str = store.client.head_object(Bucket=BUCKET, Key=store.prefix + key)["ETag"]
    return etag.strip('"')


def _raw_keys(store: S3Store) -> list[str]:
    response = store.client.list_objects_v2(Bucket=BUCKET, Prefix=store.prefix)
    return sorted(entry["Key"] for entry in response.get("Contents", ()))


def test_large_writes_and_copies_go_in_parts(s3_store: S3Store, tmp_path: Path) -> None:
    # A multipart object's ETag is "<md5 of the part md5s>-<number of parts>".
    source = tmp_path / "big"
    source.write_bytes(b"a" * (11 * MiB))
    s3_store.put_file("linux-64/big.conda", source)
    assert _etag(s3_store, "linux-64/big.conda").endswith("-3")
    s3_store.put("linux-64/big.json", b"b" * (7 * MiB))
    assert _etag(s3_store, "linux-64/big.json").endswith("-2")
    s3_store.put("linux-64/small.json", b"c" * (6 * MiB))  # at the threshold: one PUT
    assert "-" not in _etag(s3_store, "linux-64/small.json")
    s3_store.move("linux-64/big.conda", "noarch/big.conda")
    assert _etag(s3_store, "noarch/big.conda").endswith("-3")


def test_failed_multipart_upload_is_aborted(s3_store: S3Store) -> None:
    short = io.BytesIO(b"x" * (6 * MiB))  # claims 12 MiB, holds 6
    key = s3_store.prefix + "linux-64/broken.conda"
    with pytest.raises(OSError, match="ended after 1 parts"):
        multipart_upload(s3_store.client, BUCKET, key, short, 12 * MiB, 5 * MiB, {})
    uploads = s3_store.client.list_multipart_uploads(Bucket=BUCKET, Prefix=s3_store.prefix)
    assert uploads.get("Uploads", []) == []
    assert s3_store.stat("linux-64/broken.conda") is None


def test_no_temporary_objects_and_content_types(s3_store: S3Store) -> None:
    s3_store.put("noarch/repodata.json", b"{}")
    s3_store.put("noarch/a-1-0.conda", b"x")
    assert _raw_keys(s3_store) == [
        s3_store.prefix + "noarch/a-1-0.conda",
        s3_store.prefix + "noarch/repodata.json",
    ]
    head = s3_store.client.head_object(Bucket=BUCKET, Key=s3_store.prefix + "noarch/repodata.json")
    assert head["ContentType"] == "application/json"


def test_prefixes_isolate_stores(s3: S3Server) -> None:
    one = s3.store(BUCKET, "iso/one")
    two = s3.store(BUCKET, "/iso/two/")
    one.put("noarch/a.conda", b"1")
    two.put("noarch/a.conda", b"2")
    assert one.get("noarch/a.conda") == b"1"
    assert [i.key for i in two.list("noarch")] == ["noarch/a.conda"]
    parent = s3.store(BUCKET, "iso")
    assert parent.list_dirs() == ["one", "two"]
    assert list(parent.list()) == []
    assert repr(two) == f"S3Store(s3://{BUCKET}/iso/two/)"


def test_credentials_and_endpoint_from_the_environment(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**ENVIRONMENT, "AWS_ENDPOINT_URL": s3.url}.items():
        monkeypatch.setenv(name, value)
    store = open_store(f"s3://{BUCKET}/from-env")
    store.put("noarch/x.json", b"env")
    assert s3.store(BUCKET, "from-env").get("noarch/x.json") == b"env"
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    explicit = open_store(f"s3://{BUCKET}/from-env", s3_endpoint_url=s3.url)
    assert explicit.get("noarch/x.json") == b"env"


def test_presigned_url_downloads_with_headers(s3_store: S3Store) -> None:
    s3_store.put("linux-64/p-1-0.conda", b"artifact bytes")
    url = s3_store.presigned_url(
        "linux-64/p-1-0.conda", 60, cache_control="public, max-age=31536000, immutable"
    )
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"artifact bytes"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "X-Amz-Signature=" in url  # SigV4
    with pytest.raises(ValueError):
        s3_store.presigned_url("linux-64/p-1-0.conda", 8 * 24 * 3600)
    with pytest.raises(TypeError):
        s3_store.presigned_url("linux-64/p-1-0.conda", 60, etag="x")


def test_reader_fails_when_the_object_goes(s3_store: S3Store) -> None:
    s3_store.put("noarch/gone.conda", b"z" * (3 * MiB))
    with s3_store.open("noarch/gone.conda") as stream:
        assert stream.read(10) == b"z" * 10
        s3_store.delete("noarch/gone.conda")
        stream.seek(2 * MiB)
        with pytest.raises(ObjectChanged):
            stream.read(10)


def test_local_path_and_options(s3: S3Server, s3_store: S3Store) -> None:
    assert s3_store.local_path("noarch/x.conda") is None
    with pytest.raises(ValueError, match="part_size"):
        s3.store(BUCKET, "p", part_size=MiB)
    with pytest.raises(ValueError, match="copy_threshold"):
        s3.store(BUCKET, "p", copy_threshold=6 << 30)


@pytest.mark.parametrize(
    ("size", "expected"),
    [(10 * MiB, 64 * MiB), (640_000 * MiB, 64 * MiB), (700_000 * MiB, 70 * MiB)],
)
def test_parts_grow_to_stay_under_the_part_limit(size: int, expected: int) -> None:
    assert part_size_for(size, 64 * MiB) == expected
    assert -(-size // expected) <= MAX_PARTS


def test_client_is_shared_across_threads(s3_store: S3Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def roundtrip(i: int) -> Any:
        s3_store.put(f"noarch/{i}.json", str(i).encode())
        return s3_store.get(f"noarch/{i}.json")

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(roundtrip, range(64))) == [str(i).encode() for i in range(64)]
    assert len(s3_store.file_sizes("noarch")) == 64


def test_listings_span_pages(s3_store: S3Store) -> None:
    """ListObjectsV2 answers at most 1,000 keys and common prefixes per page (7 here)."""
    s3_store.page_size = 7
    keys = [f"linux-64/p{i:02d}.conda" for i in range(30)]
    keys += [f"linux-64/d{i:02d}/x.json" for i in range(10)]
    for key in keys:
        s3_store.put(key, b"x")
    assert len(list(s3_store.list("linux-64"))) == 30
    assert len(s3_store.file_sizes("linux-64")) == 30
    assert s3_store.list_dirs("linux-64") == [f"d{i:02d}" for i in range(10)]
