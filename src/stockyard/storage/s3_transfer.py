"""Multipart uploads and copies for `S3Store`: an object appears whole or not at all.

S3 makes a multipart object visible only when `CompleteMultipartUpload` succeeds, so a reader
never sees a prefix of it. On any failure the upload is aborted so its parts stop costing
storage; a process killed mid-upload leaves an incomplete upload that only a bucket lifecycle
rule (`AbortIncompleteMultipartUpload`) removes (docs/storage.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, BinaryIO

MiB = 1 << 20
#: S3's limits: every part but the last at least 5 MiB, at most 10,000 parts, 5 GiB per part
#: and per single PUT or single CopyObject.
MIN_PART_SIZE = 5 * MiB
MAX_PARTS = 10_000
MAX_SINGLE_REQUEST = 5 << 30

#: One part's upload: (part number, its `Parts` entry for CompleteMultipartUpload).
PartSender = Callable[[str, int], dict[str, Any]]


def part_size_for(size: int, preferred: int) -> int:
    """The preferred part size, grown (in whole MiB) when the object needs more than 10,000."""
    needed = -(-size // MAX_PARTS)
    if needed <= preferred:
        return preferred
    return -(-needed // MiB) * MiB


def _completed(response: dict[str, Any], number: int, etag: str) -> dict[str, Any]:
    part: dict[str, Any] = {"PartNumber": number, "ETag": etag}
    # With the default integrity checksums botocore sends, S3 wants them repeated at completion.
    for field in ("ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME", "ChecksumSHA1"):
        if response.get(field):
            part[field] = response[field]
    return part


def _multipart(
    client: Any, bucket: str, key: str, count: int, send: PartSender, extra: dict[str, Any]
) -> None:
    """Create an upload, send parts 1..count, complete it; abort on any failure."""
    upload_id: str = client.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]
    try:
        parts = [send(upload_id, number) for number in range(1, count + 1)]
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        with contextlib.suppress(Exception):
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise


def multipart_upload(
    client: Any,
    bucket: str,
    key: str,
    stream: BinaryIO,
    size: int,
    part_size: int,
    extra: dict[str, Any],
) -> None:
    """Upload `size` bytes of `stream` under `key` in parts (sequentially: memory stays at one
    part, and a server replica's bandwidth, not its threads, is the limit)."""
    part_size = part_size_for(size, part_size)
    count = max(1, -(-size // part_size))

    def send(upload_id: str, number: int) -> dict[str, Any]:
        body = stream.read(part_size)
        if number < count and len(body) != part_size:
            raise OSError(f"{key}: the source ended after {number - 1} parts, before {size} bytes")
        response = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return _completed(response, number, response["ETag"])

    _multipart(client, bucket, key, count, send, extra)


def multipart_copy(
    client: Any,
    bucket: str,
    source: str,
    key: str,
    size: int,
    part_size: int,
    extra: dict[str, Any],
) -> None:
    """Copy `source` to `key` server-side in parts (CopyObject stops at 5 GiB)."""
    part_size = part_size_for(size, part_size)
    count = max(1, -(-size // part_size))

    def send(upload_id: str, number: int) -> dict[str, Any]:
        start = (number - 1) * part_size
        end = min(size, start + part_size) - 1
        response = client.upload_part_copy(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            CopySource={"Bucket": bucket, "Key": source},
            CopySourceRange=f"bytes={start}-{end}",
        )
        result: dict[str, Any] = response["CopyPartResult"]
        return _completed(result, number, result["ETag"])

    _multipart(client, bucket, key, count, send, extra)
