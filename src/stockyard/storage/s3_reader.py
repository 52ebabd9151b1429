"""A seekable, read-only stream over ranged GETs of one S3 object version.

`open` HEADs the object (size, ETag); reads stream from the current position with one GET that
stays open while reading sequentially, so a whole download is one request. A seek drops that
stream; the next read asks again from the new position. Every GET carries `If-Match: <ETag>`,
so if the object is replaced while a reader is open, the reader fails with `ObjectChanged`
instead of splicing two versions together (a local file keeps its old inode instead; S3 has no
such handle without bucket versioning).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

from stockyard.types.errors import StockyardError

#: After a seek, a read of at most this many bytes asks for just that range rather than the
#: rest of the object (zip directories, headers: small reads at arbitrary offsets).
SMALL_READ = 1 << 20


class ObjectChanged(StockyardError):
    """The object was replaced or deleted while a reader had it open."""

    default_hint = "Open it again to read the new version."
    http_status = 409


def error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    code: str = response.get("Error", {}).get("Code", "")
    return code


class S3RangeReader(io.RawIOBase):
    def __init__(self, client: Any, bucket: str, key: str, size: int, etag: str) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._key = key
        self._size = size
        self._etag = etag
        self._position = 0
        self._body: Any = None
        self._after_seek = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        position = base + offset
        if position < 0:
            raise OSError(f"{self._key}: negative seek position {position}")
        if position != self._position:
            self._drop_body()
            self._position = position
            self._after_seek = True
        return position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._size - self._position)
        if wanted <= 0:
            return 0
        if self._body is None:
            # A small read right after a seek gets exactly its range; anything else streams on.
            bounded = self._after_seek and wanted <= SMALL_READ
            self._body = self._get(self._position, wanted if bounded else None)
            self._after_seek = False
        data = self._body.read(wanted)
        if not data:
            raise ObjectChanged(f"{self._key}: the object ended early (replaced while reading?)")
        buffer[: len(data)] = data
        self._position += len(data)
        if self._position >= self._size or self._body.exhausted:
            self._drop_body()
        return len(data)

    def readall(self) -> bytes:
        # One streamed read of the rest, not RawIOBase's loop of 8 KiB `readinto` calls.
        wanted = self._size - self._position
        if wanted <= 0:
            return b""
        if self._body is None:
            self._body = self._get(self._position, None)
        data: bytes = self._body.read(wanted)
        if len(data) != wanted:
            raise ObjectChanged(f"{self._key}: the object ended early (replaced while reading?)")
        self._position += wanted
        self._drop_body()
        return data

    def _get(self, start: int, length: int | None) -> Any:
        end = "" if length is None else str(start + length - 1)
        try:
            response = self._client.get_object(
                Bucket=self._bucket, Key=self._key, Range=f"bytes={start}-{end}", IfMatch=self._etag
            )
        except Exception as error:
            if error_code(error) in {"PreconditionFailed", "NoSuchKey", "404", "InvalidRange"}:
                raise ObjectChanged(f"{self._key} changed while it was open") from error
            raise
        return _BoundedBody(response["Body"], length)

    def _drop_body(self) -> None:
        if self._body is not None:
            with contextlib.suppress(Exception):
                self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop_body()
        super().close()


class _BoundedBody:
    """A bounded range's body: once it is used up, the next read opens a new stream."""

    def __init__(self, body: Any, length: int | None) -> None:
        self._body = body
        self._left = length

    def read(self, size: int) -> bytes:
        if self._left is not None:
            size = min(size, self._left)
            if size == 0:
                return b""
        data: bytes = self._body.read(size)
        if self._left is not None:
            self._left -= len(data)
        return data

    @property
    def exhausted(self) -> bool:
        return self._left == 0

    def close(self) -> None:
        self._body.close()
