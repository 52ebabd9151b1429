"""`storage_url` parsing and `open_store`."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockyard.storage import InvalidStorageUrl, LocalStore, open_store, parse_storage_url


@pytest.mark.parametrize(
    ("url", "scheme", "path", "bucket", "prefix"),
    [
        ("file:///srv/stockyard", "file", Path("/srv/stockyard"), "", ""),
        ("file://localhost/srv/a%20b", "file", Path("/srv/a b"), "", ""),
        ("s3://my-bucket", "s3", None, "my-bucket", ""),
        ("s3://my-bucket/", "s3", None, "my-bucket", ""),
        ("s3://my.bucket/channels/main/", "s3", None, "my.bucket", "channels/main"),
    ],
)
def test_valid_urls(url: str, scheme: str, path: Path | None, bucket: str, prefix: str) -> None:
    location = parse_storage_url(url)
    assert (location.scheme, location.path, location.bucket, location.prefix) == (
        scheme,
        path,
        bucket,
        prefix,
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/srv/stockyard", "no scheme"),
        ("http://example.org/x", "scheme 'http'"),
        ("file://srv/stockyard", "three slashes"),
        ("file:///srv/../etc", "'..'"),
        ("s3:///prefix", "no bucket"),
        ("s3://Upper/x", "not a valid bucket"),
        ("s3://ab/x", "not a valid bucket"),
        ("s3://bucket/a/../b", "invalid prefix"),
        ("s3://bucket/a//b", "invalid prefix"),
        ("s3://bucket/x?region=eu", "query"),
    ],
)
def test_invalid_urls(url: str, message: str) -> None:
    with pytest.raises(InvalidStorageUrl, match=message) as caught:
        parse_storage_url(url)
    assert "s3://BUCKET/PREFIX" in caught.value.hint or "s3://BUCKET/PREFIX" in str(caught.value)


def test_open_local_store(tmp_path: Path) -> None:
    store = open_store((tmp_path / "channels").as_uri())
    assert isinstance(store, LocalStore)
    store.put("noarch/a.json", b"{}")
    assert (tmp_path / "channels" / "noarch" / "a.json").read_bytes() == b"{}"
