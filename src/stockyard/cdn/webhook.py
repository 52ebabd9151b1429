"""The purge webhook: after a publish, POST what it changed to `purge_webhook_url`.

Best effort and off the request path: `submit` only queues; one background thread sends, so a
slow or dead receiver never delays or fails a publish. Each purge is retried a bounded number of
times with exponential backoff (transport errors, 408, 425, 429 and 5xx; any other answer is
final), then logged and counted as failed. Purges of one channel that are due together are
merged into one request (the union of their URLs and keys, the newest revision), so a burst of
uploads costs a few requests. A purge is sent `delay` seconds after its publish: with bucket
storage every replica must have dropped its cached copy first, or the CDN would fetch the old
file again (replicas hear of a publish within milliseconds, or re-check after a second without
notifications; server/remote_files.py).

The receiver's URL is a secret (it may carry a token): it is never logged, and neither is any
channel token (URLs are the public, token-free ones; stockyard.cdn.urls).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import httpx
import msgspec
from prometheus_client import CollectorRegistry, Counter

from stockyard import __version__
from stockyard.cdn.ledger import LedgerEntry
from stockyard.cdn.urls import PurgeList, purge_list

log = logging.getLogger("stockyard.cdn")

#: Answers worth another try; anything else that is not 2xx is the receiver's final word.
RETRY_STATUSES: Final = frozenset({408, 425, 429})
#: Purges waiting to be sent; beyond it the oldest are dropped (and counted).
MAX_PENDING: Final = 1000
#: Purges due within this many seconds are sent with those due now (merged per channel), so a
#: burst of publishes costs one request; it is well below the delay bucket storage needs.
MERGE_WINDOW: Final = 0.2


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    first_backoff: float = 0.5
    max_backoff: float = 8.0
    #: Seconds for one request (connect, send, answer).
    timeout: float = 10.0

    def backoffs(self) -> Iterable[float]:
        """The waits between attempts (one fewer than `attempts`)."""
        wait = self.first_backoff
        for _ in range(self.attempts - 1):
            yield wait
            wait = min(wait * 2, self.max_backoff)


class PurgeWebhook:
    """Sends purge lists to one receiver from a background thread (started on first use)."""

    def __init__(
        self,
        url: str,
        base_url: str,
        *,
        delay: float = 0.0,
        retry: RetryPolicy | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._url = url
        self.base_url = base_url
        self.delay = delay
        self.retry = retry or RetryPolicy()
        self.counts = {"sent": 0, "retried": 0, "failed": 0, "dropped": 0}
        self._counts_guard = threading.Lock()
        self._metric = Counter(
            "stockyard_cdn_purges",
            "Purge webhook requests by outcome: sent (2xx), retried (an attempt that failed "
            "and is tried again), failed (given up), dropped (queue full or server stopping).",
            ("outcome",),
            registry=registry if registry is not None else CollectorRegistry(),
        )
        self._pending: list[tuple[float, PurgeList]] = []
        self._cond = threading.Condition()
        #: `stop` was called: send what is waiting now, take nothing new.
        self._closing = threading.Event()
        #: `stop` gave up waiting: abandon retries too.
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(
            timeout=self.retry.timeout,
            follow_redirects=False,
            headers={"user-agent": f"stockyard/{__version__}", "content-type": "application/json"},
        )

    # --- the publishing side ------------------------------------------------------------------

    def submit_entry(self, channel: str, entry: LedgerEntry) -> None:
        """Queue the purge of a publish recorded in the ledger (stockyard.cdn.hooks)."""
        self.submit(purge_list(self.base_url, channel, entry.keys, entry.revision))

    def submit(self, purge: PurgeList) -> None:
        """Queue `purge`, to be sent `delay` seconds from now; never blocks, never raises."""
        if self._closing.is_set():
            self._count("dropped")
            return
        with self._cond:
            if len(self._pending) >= MAX_PENDING:
                self._pending.pop(0)
                self._count("dropped")
            self._pending.append((time.monotonic() + self.delay, purge))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="stockyard-cdn-purge", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is waiting (without its delay) for up to `timeout` seconds, then stop:
        purges still unsent are dropped (and counted)."""
        self._closing.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(1.0)
        with self._cond:
            for _ in self._pending:
                self._count("dropped")
            if self._pending:
                log.warning("CDN purge webhook stopped with %d purges unsent", len(self._pending))
            self._pending.clear()
        if self._thread is None or not self._thread.is_alive():
            self._client.close()  # else the thread, stuck in a request, still uses it

    # --- the sending thread -------------------------------------------------------------------

    def _run(self) -> None:
        while (ready := self._next_ready()) is not None:
            for purge in merge(ready):
                if self._stopping.is_set():
                    self._count("dropped")
                    continue
                try:
                    self._deliver(purge)
                except Exception:  # the thread must outlive any one purge
                    log.exception("CDN purge webhook failed for channel %s", purge.channel)
                    self._count("failed")

    def _next_ready(self) -> list[PurgeList] | None:
        """Wait for purges that are due and take them; None when stopping."""
        with self._cond:
            while not self._stopping.is_set():
                if self._closing.is_set():  # stopping: everything now, then end
                    ready, self._pending = [p for _, p in self._pending], []
                    return ready or None
                now = time.monotonic()
                if any(due <= now for due, _ in self._pending):
                    horizon = now + MERGE_WINDOW
                    ready = [purge for due, purge in self._pending if due <= horizon]
                    self._pending = [(due, p) for due, p in self._pending if due > horizon]
                    return ready
                wait = min((due for due, _ in self._pending), default=now + 60) - now
                self._cond.wait(wait)
        return None

    def _deliver(self, purge: PurgeList) -> None:
        body = msgspec.json.encode(purge.payload())
        backoffs = iter(self.retry.backoffs())
        while True:
            error = self._post(body)
            if error is None:
                self._count("sent")
                return
            wait = next(backoffs, None) if error.retryable else None
            if wait is None or self._stopping.wait(wait):
                break
            self._count("retried")
        self._count("failed")
        log.warning(
            "CDN purge webhook failed for channel %s revision %d (%d URLs): %s",
            purge.channel,
            purge.revision,
            len(purge.urls),
            error.reason,
        )

    def _post(self, body: bytes) -> _Failure | None:
        """None when the receiver took it (2xx), else why not."""
        try:
            response = self._client.post(self._url, content=body)
        except httpx.HTTPError as exc:
            # The exception text may quote the receiver's URL (a secret): never logged.
            message = str(exc).replace(self._url, "<purge_webhook_url>")
            return _Failure(f"{type(exc).__name__}: {message}", retryable=True)
        status = response.status_code
        if 200 <= status < 300:
            return None
        retryable = status in RETRY_STATUSES or status >= 500
        return _Failure(f"the receiver answered HTTP {status}", retryable=retryable)

    def _count(self, outcome: str) -> None:
        with self._counts_guard:
            self.counts[outcome] += 1
        self._metric.labels(outcome).inc()


@dataclass(frozen=True, slots=True)
class _Failure:
    reason: str
    retryable: bool


def merge(purges: list[PurgeList]) -> list[PurgeList]:
    """One purge per channel: the union of URLs and keys, the newest revision."""
    by_channel: dict[str, PurgeList] = {}
    for purge in purges:
        known = by_channel.get(purge.channel)
        if known is None:
            by_channel[purge.channel] = purge
            continue
        by_channel[purge.channel] = PurgeList(
            channel=purge.channel,
            urls=sorted({*known.urls, *purge.urls}),
            surrogate_keys=sorted({*known.surrogate_keys, *purge.surrogate_keys}),
            revision=max(known.revision, purge.revision),
        )
    return list(by_channel.values())
