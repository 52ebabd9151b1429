"""A proxy channel's upstreams: tried in order of health, with failover.

An upstream that fails (cannot connect, a 5xx or 429, a timeout, a body that does not check
out) is moved behind the healthy ones for `COOLDOWN` seconds, so the requests that follow go
straight to a working one; it is still tried when nothing else works. A 404 is an answer, not a
failure (clients probe for variants and subdirs that do not exist).

Documents get `timeout` seconds in all (a server that drips bytes cannot hold a request);
artifacts must keep moving: less than `MIN_RATE` bytes per second over `timeout` seconds fails.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import BinaryIO, Final, Literal, TypeVar

import httpx

from stockyard.mirror.fetch import redact
from stockyard.proxy.errors import ProxyUnavailable
from stockyard.types.errors import StockyardError

COOLDOWN: Final = 30.0
MIN_RATE: Final = 1024
#: Largest document accepted from upstream (conda-forge's linux-64 repodata.json is ~300 MB).
MAX_DOCUMENT: Final = 1 << 30
_T = TypeVar("_T")


class UpstreamFailed(Exception):
    """This upstream cannot give it now; the next one is asked."""


@dataclass(frozen=True, slots=True)
class Fetched:
    upstream: str
    status: Literal["ok", "not_modified", "missing"]
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None


class Upstreams:
    def __init__(self, urls: tuple[str, ...], timeout: float) -> None:
        self.urls = urls
        self.timeout = timeout
        self._failed_at: dict[str, float] = {}
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> httpx.AsyncClient:
        """One pooled client per event loop (an httpx client cannot cross loops)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient(
                verify=tls_context(),
                follow_redirects=True,
                max_redirects=10,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                headers={"User-Agent": "stockyard-proxy"},
            )
            self._loop = loop
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def ordered(self) -> list[str]:
        """Healthy upstreams in the configured order, then the failed ones (oldest failure
        first: the likeliest to be back)."""
        now = time.monotonic()
        healthy = [u for u in self.urls if now - self._failed_at.get(u, -COOLDOWN) >= COOLDOWN]
        failed = sorted((u for u in self.urls if u not in healthy), key=self._failed_at.__getitem__)
        return healthy + failed

    def health(self) -> dict[str, bool]:
        now = time.monotonic()
        return {redact(u): now - self._failed_at.get(u, -COOLDOWN) >= COOLDOWN for u in self.urls}

    async def first_good(self, what: str, attempt: Callable[[str], Awaitable[_T]]) -> _T:
        """`attempt(upstream)` on each upstream in turn until one succeeds; ProxyUnavailable
        naming every failure when none does."""
        reasons = []
        for upstream in self.ordered():
            try:
                result = await attempt(upstream)
            except (UpstreamFailed, httpx.HTTPError, TimeoutError, StockyardError) as exc:
                self._failed_at[upstream] = time.monotonic()
                reasons.append(f"{redact(upstream)}: {describe(exc)}")
                continue
            self._failed_at.pop(upstream, None)
            return result
        raise ProxyUnavailable(f"no upstream could serve {what}: " + "; ".join(reasons))

    async def document(self, url: str, headers: dict[str, str], upstream: str) -> Fetched:
        """A whole document within `timeout` seconds; 304 and 404 are answers."""
        async with asyncio.timeout(self.timeout):
            async with self.client().stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status == 304:
                    return Fetched(upstream, "not_modified")
                if status in (404, 410):
                    return Fetched(upstream, "missing")
                check_status(response)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT:
                        raise UpstreamFailed(f"larger than {MAX_DOCUMENT} bytes")
                etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
                return Fetched(upstream, "ok", bytes(body), etag, modified)

    async def download(self, url: str, sink: BinaryIO, size: int) -> str:
        """Stream `url` into `sink` (at most `size` bytes); its sha256. A 404 fails too: the
        record says the artifact exists."""
        digest = hashlib.sha256()
        written = 0
        guard = _SpeedGuard(self.timeout)
        async with self.client().stream("GET", url) as response:
            check_status(response, missing_fails=True)
            async for chunk in response.aiter_bytes():
                written += len(chunk)
                if written > size:
                    raise UpstreamFailed(f"sent more than the record's {size} bytes")
                digest.update(chunk)
                sink.write(chunk)
                guard.feed(len(chunk))
        if written != size:
            raise UpstreamFailed(f"sent {written} bytes, the record says {size}")
        return digest.hexdigest()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every upstream client of the process, as httpx would build it
    (certifi's CA bundle, `SSL_CERT_FILE`/`SSL_CERT_DIR` honoured). Building one loads the CA
    bundle: tens of milliseconds, several times that on a busy machine, which the first request
    of every proxy channel paid (benchmarks/proxy.py, "first repodata")."""
    return httpx.create_ssl_context()


def check_status(response: httpx.Response, *, missing_fails: bool = False) -> None:
    status = response.status_code
    if status < 300:
        return
    if status in (401, 403):
        raise UpstreamFailed(f"HTTP {status}: the upstream refuses access (token?)")
    if status in (404, 410) and missing_fails:
        raise UpstreamFailed(f"HTTP {status}: listed in its repodata but not there")
    raise UpstreamFailed(f"HTTP {status}")


def describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    if isinstance(exc, httpx.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, StockyardError):
        return exc.message
    return str(exc) or type(exc).__name__


class _SpeedGuard:
    """Fails a transfer that averages under `MIN_RATE` bytes/s over a `window`."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.start = time.monotonic()
        self.count = 0

    def feed(self, count: int) -> None:
        self.count += count
        elapsed = time.monotonic() - self.start
        if elapsed < self.window:
            return
        if self.count / elapsed < MIN_RATE:
            raise UpstreamFailed(f"under {MIN_RATE} bytes/s for {self.window:g}s")
        self.start, self.count = time.monotonic(), 0
