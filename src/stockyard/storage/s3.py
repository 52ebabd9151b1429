"""A store in an S3 bucket (AWS or any S3-compatible service), under an optional key prefix.

Semantics match `LocalStore` (the contract tests in tests/storage run against both):

- writes are whole objects: one PUT, or a multipart upload that S3 makes visible only when it
  completes, so readers never see a partial object (S3 has strong read-after-write consistency
  for PUTs, overwrites, deletes and listings since December 2020);
- `list`, `list_dirs` and `file_sizes` look one level down (`Delimiter='/'`) and, like a
  directory listing, leave out names starting with '.';
- `mtime_ns` is S3's `LastModified`, truncated to whole seconds (what HEAD reports), so `stat`
  and listings agree;
- `copy` is a server-side copy (CopyObject, or UploadPartCopy above 5 GiB): no bytes pass
  through this process;
- `move` is a server-side copy then a delete of the source. Unlike a rename it is not atomic
  across the two keys: between the two steps both exist, and a crash there leaves both. The
  target itself is still replaced atomically. `ChannelCommit` tolerates this by design: the
  moves it makes are recorded as pending in the same transaction as the rows, and
  `finish_moves` redoes every pending move whose source still exists (copying the same bytes
  again is harmless) before forgetting it.

Credentials, region and endpoint come from boto3's usual chain (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`, profiles, instance roles)
unless given explicitly.
"""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from botocore.config import Config

from stockyard.storage.base import ObjectInfo, check_key
from stockyard.storage.s3_reader import S3RangeReader, error_code
from stockyard.storage.s3_transfer import (
    MAX_SINGLE_REQUEST,
    MIN_PART_SIZE,
    MiB,
    multipart_copy,
    multipart_upload,
)

DEFAULT_PART_SIZE = 64 * MiB
#: Objects up to this size go in one PUT, streamed from their file. Parts are sent one after
#: another (one part in memory), so below S3's 5 GiB limit a multipart upload buys only
#: per-part retries, at the cost of three more requests and a completion that some
#: S3-compatible servers pay for by re-reading every part (moto: a 176 MB repodata.json took
#: 2.7-3.2 s in parts against 0.9-1.2 s in one PUT, BENCHMARKS.md). Large artifacts still go in
#: parts.
DEFAULT_MULTIPART_THRESHOLD = 512 * MiB
#: SigV4 presigned URLs are valid for at most seven days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
_MISSING = {"NoSuchKey", "404", "NotFound"}
#: What S3 answers a CopyObject whose source is above its 5 GiB limit.
_TOO_LARGE_TO_COPY = {"InvalidRequest", "EntityTooLarge"}
#: Content types that matter when a client downloads straight from the bucket (presigned
#: redirects); everything else (artifacts, .zst, .msgpack) is a byte stream.
_CONTENT_TYPES = {".json": "application/json", ".html": "text/html; charset=utf-8"}
#: Headers a presigned URL may make S3 answer with, by `presigned_url` keyword.
_RESPONSE_HEADERS = {
    "cache_control": "ResponseCacheControl",
    "content_disposition": "ResponseContentDisposition",
    "content_type": "ResponseContentType",
}


def _content_type(key: str) -> str:
    return _CONTENT_TYPES.get(os.path.splitext(key)[1], "application/octet-stream")


def _mtime_ns(value: datetime) -> int:
    return int(value.timestamp()) * 1_000_000_000


def make_client(
    endpoint_url: str | None = None,
    *,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    region_name: str | None = None,
    addressing_style: str = "auto",
    max_pool_connections: int = 32,
) -> Any:
    """An S3 client; `None` arguments fall back to boto3's usual configuration chain."""
    session = boto3.session.Session(
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        region_name=region_name,
    )
    config = Config(
        signature_version="s3v4",  # presigned URLs too (SigV2 is refused by newer regions)
        s3={"addressing_style": addressing_style},
        retries={"mode": "standard"},
        max_pool_connections=max_pool_connections,  # one client serves many server threads
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)


class S3Store:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        part_size: int = DEFAULT_PART_SIZE,
        copy_threshold: int = MAX_SINGLE_REQUEST,
        **client_options: Any,
    ) -> None:
        """`client_options` go to `make_client` (endpoint_url, credentials, region...)."""
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        if not 0 < copy_threshold <= MAX_SINGLE_REQUEST:
            raise ValueError(f"copy_threshold must be in 1..{MAX_SINGLE_REQUEST}")
        self.bucket = bucket
        self.prefix = f"{check_key(prefix.strip('/'))}/" if prefix.strip("/") else ""
        self.client = client if client is not None else make_client(**client_options)
        self.multipart_threshold = min(multipart_threshold, MAX_SINGLE_REQUEST)
        self.part_size = part_size
        self.copy_threshold = copy_threshold

    def child(self, prefix: str) -> S3Store:
        """The store of the keys under `prefix` in this one (the same client and settings)."""
        return S3Store(
            self.bucket,
            self.prefix + check_key(prefix.strip("/")),
            client=self.client,
            multipart_threshold=self.multipart_threshold,
            part_size=self.part_size,
            copy_threshold=self.copy_threshold,
        )

    #: Keys per ListObjectsV2 page (S3's maximum; tests lower it to exercise paging).
    page_size = 1000

    def __repr__(self) -> str:
        return f"S3Store(s3://{self.bucket}/{self.prefix})"

    @property
    def location(self) -> str:
        return f"{self.client.meta.endpoint_url}/{self.bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _directory(self, prefix: str) -> str:
        """The listing prefix of a directory key ('' is the store's root)."""
        return f"{self._key(prefix)}/" if prefix else self.prefix

    def _head(self, full_key: str) -> dict[str, Any] | None:
        try:
            response: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=full_key)
        except Exception as error:
            if error_code(error) in _MISSING:
                return None
            raise
        return response

    def _extra(self, key: str) -> dict[str, Any]:
        return {"ContentType": _content_type(key)}

    def put(self, key: str, data: bytes) -> None:
        full = self._key(key)
        if len(data) > self.multipart_threshold:
            # BytesIO shares the bytes until written to: no copy of a large payload.
            stream = io.BytesIO(data)
            multipart_upload(
                self.client, self.bucket, full, stream, len(data), self.part_size, self._extra(key)
            )
            return
        self.client.put_object(Bucket=self.bucket, Key=full, Body=data, **self._extra(key))

    def put_deferred(self, key: str, data: bytes) -> None:
        self.put(key, data)  # a PUT is durable when it returns

    def sync(self) -> None:
        pass

    def put_file(self, key: str, source: Path) -> None:
        """Upload a finished local file, then remove it (it was handed over, as a rename
        would; callers treat `source` as consumed)."""
        full = self._key(key)
        size = os.path.getsize(source)
        with open(source, "rb") as stream:
            if size > self.multipart_threshold:
                multipart_upload(
                    self.client, self.bucket, full, stream, size, self.part_size, self._extra(key)
                )
            else:  # streamed from the file: memory stays small up to the threshold
                self.client.put_object(
                    Bucket=self.bucket, Key=full, Body=stream, **self._extra(key)
                )
        os.unlink(source)

    def _get_object(self, key: str) -> dict[str, Any]:
        """The GET answer of `key` (body still to read); FileNotFoundError when missing."""
        try:
            response: dict[str, Any] = self.client.get_object(
                Bucket=self.bucket, Key=self._key(key)
            )
        except Exception as error:
            if error_code(error) in _MISSING:
                raise FileNotFoundError(key) from error
            raise
        return response

    def get(self, key: str) -> bytes:
        data: bytes = self._get_object(key)["Body"].read()
        return data

    def download(self, key: str, out: BinaryIO) -> ObjectInfo:
        # One GET: the body and the size and date in its answer are one version's.
        response = self._get_object(key)
        body = response["Body"]
        try:
            for chunk in body.iter_chunks(1 << 20):
                out.write(chunk)
        finally:
            body.close()
        return ObjectInfo(key, response["ContentLength"], _mtime_ns(response["LastModified"]))

    def open(self, key: str) -> BinaryIO:
        full = self._key(key)
        head = self._head(full)
        if head is None:
            raise FileNotFoundError(key)
        raw = S3RangeReader(self.client, self.bucket, full, head["ContentLength"], head["ETag"])
        # Buffered: zip and tar readers make many small reads; each raw read is a request.
        return io.BufferedReader(raw, buffer_size=1 * MiB)

    def stat(self, key: str) -> ObjectInfo | None:
        head = self._head(self._key(key))
        if head is None:
            return None
        return ObjectInfo(key, head["ContentLength"], _mtime_ns(head["LastModified"]))

    def _pages(self, prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        yield from paginator.paginate(
            Bucket=self.bucket,
            Prefix=self._directory(prefix),
            Delimiter="/",
            PaginationConfig={"PageSize": self.page_size},
        )

    def _entries(self, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(name, listing entry) of the visible objects directly under `prefix`."""
        cut = len(self._directory(prefix))
        for page in self._pages(prefix):
            for entry in page.get("Contents", ()):
                name = entry["Key"][cut:]
                # '' is a "folder" marker some tools create; '.' names are hidden, as on disk.
                if name and not name.startswith("."):
                    yield name, entry

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for name, entry in self._entries(prefix):
            key = f"{prefix}/{name}" if prefix else name
            yield ObjectInfo(key, entry["Size"], _mtime_ns(entry["LastModified"]))

    def file_sizes(self, prefix: str) -> dict[str, tuple[int, int]]:
        return {
            name: (entry["Size"], _mtime_ns(entry["LastModified"]))
            for name, entry in self._entries(prefix)
        }

    def delete_tree(self) -> None:
        """Delete every object under this store's prefix, hidden ones included (1,000 keys a
        request). Refused on a store without a prefix: that would empty the whole bucket."""
        if not self.prefix:
            raise ValueError("refusing to delete every object of a bucket")
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            keys = [{"Key": entry["Key"]} for entry in page.get("Contents", ())]
            if keys:
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                )

    def list_dirs(self, prefix: str = "") -> builtins.list[str]:  # `list` is a method here
        cut = len(self._directory(prefix))
        names = {
            common["Prefix"][cut:].rstrip("/")
            for page in self._pages(prefix)
            for common in page.get("CommonPrefixes", ())
        }
        return sorted(name for name in names if name and not name.startswith("."))

    def move(self, source: str, target: str) -> int | None:
        """Server-side copy, then delete the source: see the module docstring for why a crash
        between the two is harmless to the commit protocol. Returns the new object's mtime
        from CopyObject's answer (S3 gives a copy a LastModified of its own: the staged
        object's is not the one a listing will show); None after a multipart copy."""
        copied, mtime_ns = self._copy(source, target)
        if copied:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(source))
        return mtime_ns

    def copy(self, source: str, target: str) -> None:
        """Server-side: one CopyObject (the object's metadata comes along), or a multipart
        copy above `copy_threshold` (CopyObject stops at 5 GiB). The target appears whole."""
        self._copy(source, target)

    def _copy(self, source: str, target: str) -> tuple[bool, int | None]:
        """Copy `source` over `target` server-side: (False when they are the same object, the
        copy's mtime_ns when CopyObject told it).

        With the default `copy_threshold` (S3's 5 GiB limit of CopyObject) the CopyObject is
        sent straight away (a commit moves small uploads: one request, no HEAD first); S3 refuses
        a source above 5 GiB with `InvalidRequest`, and only then is the size looked up for a
        multipart copy. A lower threshold needs the size first."""
        src, dst = self._key(source), self._key(target)
        if src == dst:  # S3 refuses to copy an object onto itself unchanged
            head = self._head(src)
            if head is None:
                raise FileNotFoundError(source)
            return False, _mtime_ns(head["LastModified"])
        if self.copy_threshold >= MAX_SINGLE_REQUEST:
            try:
                return True, self._copy_object(src, dst)
            except Exception as error:
                if error_code(error) in _MISSING:
                    raise FileNotFoundError(source) from error
                if error_code(error) not in _TOO_LARGE_TO_COPY:
                    raise
        head = self._head(src)
        if head is None:
            raise FileNotFoundError(source)
        size: int = head["ContentLength"]
        if size > self.copy_threshold:
            extra = self._extra(target)
            multipart_copy(self.client, self.bucket, src, dst, size, self.part_size, extra)
            return True, None
        return True, self._copy_object(src, dst)

    def _copy_object(self, src: str, dst: str) -> int | None:
        """One CopyObject; the copy's mtime_ns when the answer carries it."""
        response = self.client.copy_object(
            Bucket=self.bucket, Key=dst, CopySource={"Bucket": self.bucket, "Key": src}
        )
        modified = response.get("CopyObjectResult", {}).get("LastModified")
        return _mtime_ns(modified) if isinstance(modified, datetime) else None

    def delete(self, key: str) -> None:
        # S3 answers 204 for a key that does not exist: deleting is idempotent, as locally.
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def local_path(self, key: str) -> Path | None:
        check_key(key)
        return None

    def presigned_url(self, key: str, expires: int = 3600, **response_headers: str) -> str:
        """A URL that lets anyone GET `key` for `expires` seconds (redirect-mode downloads).

        `cache_control`, `content_disposition` and `content_type` make S3 answer with those
        headers, so a redirected download carries the caching headers the app would send.
        """
        if not 0 < expires <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"expires must be in 1..{MAX_PRESIGN_SECONDS} seconds")
        params: dict[str, str] = {"Bucket": self.bucket, "Key": self._key(key)}
        for name, value in response_headers.items():
            if name not in _RESPONSE_HEADERS:
                raise TypeError(f"presigned_url() got an unexpected header {name!r}")
            params[_RESPONSE_HEADERS[name]] = value
        url: str = self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires
        )
        return url
