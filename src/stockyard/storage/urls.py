"""`storage_url` to a `Store`: `file:///absolute/path` or `s3://BUCKET/PREFIX`.

The S3 backend is imported only when an `s3://` URL is opened, so the embedded default never
needs boto3 (`pip install 'stockyard[s3]'`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from stockyard.storage.base import InvalidKey, Store, check_key
from stockyard.storage.local import LocalStore
from stockyard.types.errors import StockyardError

# S3's rules for new buckets: 3 to 63 lower-case letters, digits, '.' and '-', starting and
# ending with a letter or digit.
_bucket_re = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


class InvalidStorageUrl(StockyardError):
    default_hint = (
        "Use file:///absolute/path for a local directory or s3://BUCKET/PREFIX for a bucket "
        "(the endpoint of an S3-compatible service goes in s3_endpoint_url or AWS_ENDPOINT_URL)."
    )


@dataclass(frozen=True, slots=True)
class StorageLocation:
    """A parsed storage URL: `path` for file URLs; `bucket` and `prefix` for s3 URLs."""

    scheme: str
    path: Path | None = None
    bucket: str = ""
    prefix: str = ""


def parse_storage_url(url: str) -> StorageLocation:
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise InvalidStorageUrl(f"storage URL {url!r} must not have a query or fragment")
    if parts.scheme == "file":
        return _file_location(url, parts.netloc, parts.path)
    if parts.scheme == "s3":
        return _s3_location(url, parts.netloc, parts.path)
    shown = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
    raise InvalidStorageUrl(f"storage URL {url!r} has {shown}; expected file:// or s3://")


def _file_location(url: str, host: str, path: str) -> StorageLocation:
    if host not in {"", "localhost"}:
        raise InvalidStorageUrl(
            f"storage URL {url!r} names host {host!r}; a file URL needs three slashes "
            "(file:///srv/stockyard) and an absolute path"
        )
    decoded = unquote(path)
    if not decoded.startswith("/") or "\0" in decoded:
        raise InvalidStorageUrl(f"storage URL {url!r} needs an absolute path")
    if ".." in Path(decoded).parts:
        raise InvalidStorageUrl(f"storage URL {url!r} must not contain '..'")
    return StorageLocation("file", path=Path(decoded))


def _s3_location(url: str, bucket: str, path: str) -> StorageLocation:
    if not bucket:
        raise InvalidStorageUrl(f"storage URL {url!r} names no bucket (s3://BUCKET/PREFIX)")
    if not _bucket_re.fullmatch(bucket) or ".." in bucket:
        raise InvalidStorageUrl(f"storage URL {url!r}: {bucket!r} is not a valid bucket name")
    prefix = unquote(path).strip("/")
    if prefix:
        try:
            check_key(prefix)
        except InvalidKey as error:
            raise InvalidStorageUrl(f"storage URL {url!r} has an invalid prefix: {error}") from None
    return StorageLocation("s3", bucket=bucket, prefix=prefix)


def open_store(
    storage_url: str, *, s3_endpoint_url: str | None = None, fsync: bool = True, **s3_options: Any
) -> Store:
    """The store a storage URL names. `s3_endpoint_url` (else `AWS_ENDPOINT_URL`, else AWS)
    and `s3_options` (credentials, thresholds: see `S3Store`) apply to s3 URLs only."""
    location = parse_storage_url(storage_url)
    if location.path is not None:
        return LocalStore(location.path, fsync=fsync)
    try:
        from stockyard.storage.s3 import S3Store
    except ModuleNotFoundError as error:
        if error.name not in {"boto3", "botocore"}:
            raise
        raise InvalidStorageUrl(
            f"storage URL {storage_url!r} needs boto3, which is not installed",
            hint="pip install 'stockyard[s3]'",
        ) from None
    return S3Store(location.bucket, location.prefix, endpoint_url=s3_endpoint_url, **s3_options)
