"""HTTP semantics for serving a published file: validators, conditional requests, ranges,
gzip content-coding, caching headers and a streaming file response.

Nothing here knows about channels or tokens; `channel_files` decides *which* file to serve.

- ETag: strong, from the file's size and mtime (published files are replaced by atomic rename
  and never rewritten when their bytes are unchanged, so size+mtime identifies the bytes; a
  forced re-upload of an artifact is a rename of a newly written file, so it gets a new ETag);
  content-addressed shards use their sha256. The gzip variant of a file is a different
  representation, so it gets a different strong ETag (`"<etag>-gzip"`); If-None-Match is
  compared weakly (RFC 9110 13.1.2), against the variant this request would receive. When the
  publish wrote a `.gz` next to the file (`repodata.json.gz`...; stockyard.publish.gz), the gzip
  variant *is* that file: its ETag is the `.gz` file's own, marked the same way
  (`published_gz_etag`), and Last-Modified is its mtime.
- Cache-Control: `immutable` only for content-addressed names (shards, icons); artifacts can be
  replaced by a forced upload, so they are revalidated after the repodata max-age, unless the
  operator wired a CDN purge (`purge_webhook_url`: a forced replacement is then purged), when
  public artifacts live a year (`max-age=31536000`, not `immutable`).
- gzip: only for `.json`/`.html`, only when the client accepts it and sends no Range. The
  published `.gz` is sent when there is one; otherwise the compressed bytes are produced once
  per file version (deterministic: no mtime or name in the gzip header) and cached in the
  channel's state directory, so they can be sent with ranges and lengths like any file.
- Ranges: one range (`bytes=a-b`, `a-`, `-n`) gives 206; unsatisfiable gives 416 with
  `Content-Range: bytes */size`; several ranges, or an If-Range that does not match, give the
  full 200 (a server may always ignore Range).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from typing import Final

import anyio
from starlette.types import Receive, Scope, Send

#: Bytes per read; one read (one thread hop) serves most repodata-sized files.
CHUNK_SIZE: Final = 512 * 1024
#: Bodies up to this size are read on the event loop: a page-cache read of a few KiB costs less
#: than a hop to a worker thread.
INLINE_READ: Final = 64 * 1024
#: Smaller files are not worth compressing.
GZIP_MIN_SIZE: Final = 1024
GZIP_LEVEL: Final = 6
GZIP_SUFFIXES: Final = (".json", ".html")
IMMUTABLE: Final = "max-age=31536000, immutable"
#: Artifacts when a CDN purge is wired: long-lived, but not `immutable` (a forced upload can
#: replace their bytes under the same name; the purge webhook then names the URL).
PURGED_ARTIFACT: Final = "max-age=31536000"

_shard_re = re.compile(r"(?:^|/)shards/([0-9a-f]{64})\.msgpack\.zst$")
_range_re = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)

_MEDIA_TYPES: Final = {
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class OpenFile:
    """A file opened for serving; headers come from the open descriptor, so an atomic replace
    between lookup and sending cannot mix old headers with new bytes."""

    fd: int
    size: int
    mtime_ns: int
    path: str | Path

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def open_regular_file(path: str | Path) -> OpenFile | None:
    """Open `path` read-only if it is a regular file; None when missing or not a file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return OpenFile(fd, st.st_size, st.st_mtime_ns, path)


def media_type(key: str) -> str:
    for suffix, kind in _MEDIA_TYPES.items():
        if key.endswith(suffix):
            return kind
    # .conda, .tar.bz2, .zst, .msgpack.zst and the rest: bytes, never a content-coding.
    return "application/octet-stream"


def is_immutable(key: str) -> bool:
    """Content-addressed files: shards (`shards/<sha256>.msgpack.zst`) and icons
    (`icons/<sha256>.png`). Their bytes can never change under the same name."""
    return bool(_shard_re.search(key) or (key.startswith("icons/") and key.endswith(".png")))


def is_artifact(key: str) -> bool:
    return key.endswith((".conda", ".tar.bz2"))


def cache_control(key: str, *, max_age: int, private: bool, purged: bool = False) -> str:
    """Long-lived and `immutable` only for content-addressed files (shards, icons).

    Everything else, artifacts included, lives `max_age` (the repodata max-age): an artifact's
    name is not content-addressed, an upload with `force=true` replaces its bytes, and a cache
    must not keep the old bytes longer than it keeps the repodata that lists the new sha256.
    Artifacts are `must-revalidate` (a stale copy is never served without asking; the ETag makes
    that a 304 when nothing changed). `purged`: the operator wired a CDN purge
    (`purge_webhook_url`), which names a replaced artifact's URL: public artifacts then live a
    year (private ones are in no shared cache the purge could reach, so they keep the rule).
    Files of a private channel are `private`: a shared cache must not hand them to others.
    """
    visibility = "private" if private else "public"
    if is_immutable(key):
        return f"{visibility}, {IMMUTABLE}"
    if is_artifact(key):
        if purged and not private:
            return f"public, {PURGED_ARTIFACT}"
        return f"{visibility}, max-age={max_age}, must-revalidate"
    return f"{visibility}, max-age={max_age}"


def etag_for(key: str, size: int, mtime_ns: int) -> str:
    shard = _shard_re.search(key)
    if shard:
        return f'"{shard.group(1)}"'
    return f'"{mtime_ns:x}-{size:x}"'


def gzip_etag(etag: str) -> str:
    return etag[:-1] + '-gzip"'


def published_gz_etag(key: str, gz_size: int, gz_mtime_ns: int) -> str:
    """The ETag of `key`'s gzip variant when it is the published `key.gz` (size and mtime of
    that file)."""
    return gzip_etag(etag_for(key + ".gz", gz_size, gz_mtime_ns))


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def if_none_match_hits(header: str, etag: str) -> bool:
    """Weak comparison of `etag` with an If-None-Match list (or `*`)."""
    header = header.strip()
    if header == "*":
        return True
    wanted = _opaque(etag)
    return any(_opaque(tag) == wanted for tag in header.split(","))


@lru_cache(maxsize=4096)  # every file response carries it; files change rarely
def http_date(mtime_ns: int) -> str:
    return formatdate(mtime_ns / 1e9, usegmt=True)


def not_modified_since(header: str, mtime_ns: int) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    if since is None or since.tzinfo is None:
        return False
    return mtime_ns // 1_000_000_000 <= int(since.timestamp())


def if_range_matches(header: str, etag: str, last_modified: str) -> bool:
    """If-Range: a strong ETag must match exactly, or the date equal Last-Modified."""
    header = header.strip()
    if header.startswith("W/"):
        return False
    if header.startswith('"'):
        return header == etag
    return header == last_modified


def parse_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """`(start, end_exclusive)` for one satisfiable range; None to ignore the header (invalid
    or several ranges); False when unsatisfiable (416)."""
    match = _range_re.fullmatch(header)
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last n bytes
        length = int(last)
        if length == 0 or size == 0:
            return False
        return max(0, size - length), size
    start = int(first)
    end = int(last) + 1 if last else size
    if last and end <= start:
        return None  # "5-3" is invalid syntax, ignored
    if start >= size:
        return False
    return start, min(end, size)


def accepts_gzip(header: str | None) -> bool:
    """Whether Accept-Encoding allows gzip (q=0 forbids it)."""
    if not header:
        return False
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() not in {"gzip", "x-gzip", "*"}:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            return True
    return False


def wants_gzip(key: str, size: int, headers: Mapping[str, str]) -> bool:
    return (
        key.endswith(GZIP_SUFFIXES)
        and size >= GZIP_MIN_SIZE
        and headers.get("range") is None
        and accepts_gzip(headers.get("accept-encoding"))
    )


def gzip_cache_path(cache_dir: Path, key: str, size: int, mtime_ns: int) -> Path:
    folder = hashlib.sha256(key.encode()).hexdigest()[:24]
    return cache_dir / folder / f"{mtime_ns:x}-{size:x}.gz"


def gzip_variant(source: OpenFile, target: Path) -> OpenFile:
    """The gzip-compressed bytes of `source`, compressed once and kept at `target` (blocking).

    Older versions of the same key in the folder are removed.
    """
    cached = open_regular_file(target)
    if cached is not None:
        return cached
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".gz.", suffix=".tmp", dir=target.parent)
    result: OpenFile | None = None
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0
            ) as out,
        ):
            offset = 0
            while offset < source.size:
                chunk = os.pread(source.fd, min(CHUNK_SIZE * 2, source.size - offset), offset)
                if not chunk:
                    break
                out.write(chunk)
                offset += len(chunk)
        # Opened before the rename: this descriptor stays valid even when a concurrent request
        # removes the file right after (the soak test hit that as a 500 when the cleanup below
        # ran for another version of the same key between the rename and a reopen).
        result = open_regular_file(Path(tmp))
        if result is None:
            raise FileNotFoundError(tmp)
        os.replace(tmp, target)
    except BaseException:
        if result is not None:
            result.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # Remove only *older* versions: a request still serving an older repodata must not delete
    # the cache of the newer one (they would delete each other's and recompress every time).
    newest = _cache_version(target.name)
    for stale in target.parent.iterdir():
        if stale.name.startswith(".gz.") or stale.name == target.name:
            continue
        version = _cache_version(stale.name)
        if newest is None or version is None or version < newest:
            with contextlib.suppress(OSError):
                stale.unlink()
    return result


def _cache_version(name: str) -> int | None:
    """The source mtime (ns) in a cache file name `<mtime_ns:x>-<size:x>.gz`."""
    try:
        return int(name.split("-", 1)[0], 16)
    except ValueError:
        return None


def remove_gzip_cache(cache_dir: Path) -> None:
    shutil.rmtree(cache_dir, ignore_errors=True)


class FileBody:
    """An ASGI response that sends `length` bytes of an open file from `start`.

    Reads happen in worker threads, `CHUNK_SIZE` at a time; a client that disconnects stops the
    transfer. The file descriptor is closed when the response is done.
    """

    def __init__(
        self,
        file: OpenFile,
        *,
        status: int,
        headers: Iterable[tuple[str, str]],
        start: int = 0,
        length: int | None = None,
    ) -> None:
        self.file = file
        self.status_code = status
        self.start = start
        self.length = file.size - start if length is None else length
        self.raw_headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
        ]
        self.raw_headers.append((b"content-length", str(self.length).encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if scope.get("method") == "HEAD" or self.length == 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            if self.length <= INLINE_READ:
                chunk = os.pread(self.file.fd, self.length, self.start)
                await send({"type": "http.response.body", "body": chunk, "more_body": False})
                return
            if self.length <= CHUNK_SIZE:
                chunk = await anyio.to_thread.run_sync(
                    os.pread, self.file.fd, self.length, self.start
                )
                await send({"type": "http.response.body", "body": chunk, "more_body": False})
                return
            async with anyio.create_task_group() as group:

                async def watch_disconnect() -> None:
                    while True:
                        message = await receive()
                        if message["type"] == "http.disconnect":
                            group.cancel_scope.cancel()
                            return

                group.start_soon(watch_disconnect)
                await self._stream(send)
                group.cancel_scope.cancel()
        finally:
            self.file.close()

    async def _stream(self, send: Send) -> None:
        offset = self.start
        remaining = self.length
        while remaining > 0:
            chunk = await anyio.to_thread.run_sync(
                os.pread, self.file.fd, min(CHUNK_SIZE, remaining), offset
            )
            if not chunk:  # the file shrank under us (it should not: files are replaced, not cut)
                break
            offset += len(chunk)
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
        if remaining > 0:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
