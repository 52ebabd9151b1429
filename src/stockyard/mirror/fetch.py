"""Reading an upstream channel: over HTTP(S) with httpx, or from a local directory.

Every request is retried with exponential backoff (and jitter) on what may pass: connection
errors, timeouts, 5xx, 429. What will not pass is raised at once: 4xx, a redirect loop, a body
larger than allowed. A server that drips bytes slowly enough to dodge the read timeout is cut
off by a low-speed limit, as curl's `--speed-limit/--speed-time` do. Documents are fetched
conditionally (`If-None-Match`, `If-Modified-Since`) when the last run kept their validators.

URLs in messages have their `/t/<token>/` segment and user info masked.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, TypeVar
from urllib.parse import unquote, urlsplit

import httpx

from stockyard.mirror.errors import UpstreamError
from stockyard.types.errors import ConfigError

#: Status codes worth asking again for.
_TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})
_TOKEN = re.compile(r"/t/[^/]+/")
_CHUNK = 1 << 16
_T = TypeVar("_T")


def redact(url: str) -> str:
    """`url` without secrets: the `/t/<token>/` segment and user:password are masked."""
    masked = _TOKEN.sub("/t/***/", url)
    return re.sub(r"//[^/@]+@", "//***@", masked)


@dataclass(frozen=True, slots=True)
class FetchSettings:
    retries: int = 4
    #: Seconds before the first retry; doubled for each next one.
    backoff: float = 0.5
    connect_timeout: float = 15.0
    #: Seconds without a byte before a read fails.
    read_timeout: float = 60.0
    #: Bytes per second a transfer must average over `low_speed_time` seconds.
    low_speed_limit: int = 1024
    low_speed_time: float = 60.0
    max_redirects: int = 10
    #: Largest document (repodata, shard) accepted, compressed or not.
    max_document: int = 1 << 31


@dataclass(frozen=True, slots=True)
class Validators:
    """What the last response said about a document, for a conditional request."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True, slots=True)
class Document:
    status: Literal["ok", "not_modified", "missing"]
    body: bytes = b""
    validators: Validators = Validators()


class _Transient(Exception):
    """A failure worth retrying."""


class _SpeedGuard:
    """Fails a transfer whose rate stays under the low-speed limit for the whole window."""

    def __init__(self, settings: FetchSettings) -> None:
        self.settings = settings
        self.window_start = time.monotonic()
        self.window_bytes = 0

    def feed(self, count: int, url: str) -> None:
        self.window_bytes += count
        elapsed = time.monotonic() - self.window_start
        if elapsed < self.settings.low_speed_time:
            return
        if self.window_bytes / elapsed < self.settings.low_speed_limit:
            raise _Transient(
                f"{redact(url)}: under {self.settings.low_speed_limit} bytes/s for "
                f"{self.settings.low_speed_time:g}s"
            )
        self.window_start, self.window_bytes = time.monotonic(), 0


def is_local(url: str) -> bool:
    return urlsplit(url).scheme == "file"


def local_path(url: str) -> Path:
    return Path(unquote(urlsplit(url).path))


def upstream_url(upstream: str) -> str:
    """An http(s) or file URL for UPSTREAM (a local path becomes a file:// URL)."""
    scheme = urlsplit(upstream).scheme
    if scheme in ("http", "https", "file"):
        return upstream.rstrip("/")
    if scheme and len(scheme) > 1:
        raise ConfigError(
            f"upstream {redact(upstream)!r} is neither an http(s) URL nor a local path",
            hint="Pass https://host/channel (or /t/<token>/channel) or a channel directory.",
        )
    path = Path(upstream).resolve()
    if not path.is_dir():
        raise UpstreamError(f"upstream directory {path} does not exist")
    return path.as_uri()


class Fetcher:
    """One HTTP client (connection pooling, thread-safe) for every request of a run."""

    def __init__(self, settings: FetchSettings | None = None) -> None:
        self.settings = settings or FetchSettings()
        timeout = httpx.Timeout(self.settings.read_timeout, connect=self.settings.connect_timeout)
        self.client = httpx.Client(
            follow_redirects=True,
            max_redirects=self.settings.max_redirects,
            timeout=timeout,
            headers={"User-Agent": "stockyard-mirror"},
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def document(self, url: str, validators: Validators | None = None) -> Document:
        """A whole document, `not_modified` when the validators still hold, `missing` on 404."""
        if is_local(url):
            return _local_document(url, self.settings.max_document)
        return self.retrying(lambda: self._get_document(url, validators), url)

    def _get_document(self, url: str, validators: Validators | None) -> Document:
        headers = validators.headers() if validators else {}
        with self._stream(url, headers) as response:
            if response.status_code == 304:
                return Document("not_modified", validators=validators or Validators())
            if response.status_code in (404, 410):
                return Document("missing")
            _raise_for_status(response, url)
            body = bytearray()
            for chunk in self._chunks(response, url):
                body += chunk
                if len(body) > self.settings.max_document:
                    raise UpstreamError(
                        f"{redact(url)} is larger than {self.settings.max_document} bytes",
                        hint="This is not a conda repodata document; check the upstream URL.",
                    )
            found = Validators(response.headers.get("etag"), response.headers.get("last-modified"))
            return Document("ok", bytes(body), found)

    def download(
        self, url: str, sink: BinaryIO, offset: int, on_bytes: Callable[[int], None]
    ) -> bool:
        """Write the body of `url` from byte `offset` to `sink`; False when the server sent the
        whole file instead (the caller then starts over from byte 0)."""
        if is_local(url):
            return _local_copy(url, sink, offset, on_bytes)
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with self._stream(url, headers) as response:
            if response.status_code == 416:
                return False  # the partial file is no prefix of this one: start over
            _raise_for_status(response, url)
            resumed = response.status_code == 206
            if offset and not resumed:
                return False
            for chunk in self._chunks(response, url):
                sink.write(chunk)
                on_bytes(len(chunk))
            return True

    def _stream(self, url: str, headers: dict[str, str]) -> AbstractContextManager[httpx.Response]:
        return self.client.stream("GET", url, headers=headers)

    def _chunks(self, response: httpx.Response, url: str) -> Iterator[bytes]:
        guard = _SpeedGuard(self.settings)
        for chunk in response.iter_bytes():  # as received: the speed guard sees every byte
            guard.feed(len(chunk), url)
            yield chunk

    def retrying(self, attempt: Callable[[], _T], url: str) -> _T:
        """`attempt()`, retried with backoff on transient failures."""
        delay = self.settings.backoff
        for remaining in range(self.settings.retries, -1, -1):
            try:
                return attempt()
            except httpx.TooManyRedirects:
                raise UpstreamError(
                    f"{redact(url)}: too many redirects (a redirect loop?)",
                    hint="Check the upstream URL in a browser or with curl -L.",
                ) from None
            except (httpx.TransportError, _Transient) as exc:
                if remaining == 0:
                    raise UpstreamError(
                        f"{redact(url)}: {_describe(exc)} (after {self.settings.retries} retries)"
                    ) from None
            time.sleep(delay * (1 + random.random() / 2))
            delay *= 2
        raise AssertionError("unreachable")


def _raise_for_status(response: httpx.Response, url: str) -> None:
    status = response.status_code
    if status < 300:
        return
    if status in _TRANSIENT:
        raise _Transient(f"HTTP {status}")
    if status in (401, 403):
        raise UpstreamError(
            f"{redact(url)}: HTTP {status}, the upstream refuses access",
            hint="Put a read token in the URL (https://host/t/<token>/channel) if the channel "
            "is private, and check that it has not expired.",
        )
    raise UpstreamError(f"{redact(url)}: HTTP {status}")


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {exc}"
    return str(exc) or type(exc).__name__


def _local_document(url: str, limit: int) -> Document:
    path = local_path(url)
    try:
        size = path.stat().st_size
        if size > limit:
            raise UpstreamError(f"{path} is larger than {limit} bytes")
        return Document("ok", path.read_bytes())
    except (FileNotFoundError, NotADirectoryError):
        return Document("missing")
    except OSError as exc:
        raise UpstreamError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _local_copy(url: str, sink: BinaryIO, offset: int, on_bytes: Callable[[int], None]) -> bool:
    path = local_path(url)
    try:
        with open(path, "rb") as source:
            source.seek(offset)
            while chunk := source.read(_CHUNK):
                sink.write(chunk)
                on_bytes(len(chunk))
    except FileNotFoundError:
        raise UpstreamError(
            f"{path} is listed in the upstream repodata but does not exist",
            hint="The upstream channel is inconsistent: re-index it, or exclude the package.",
        ) from None
    except OSError as exc:
        raise UpstreamError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return True
