"""Operations: Prometheus metrics, one structured access-log line per request, logging setup.

Metrics live in a registry per app (no process-global state) when the server is one process.
With `workers > 1`, every worker process of one `stockyard serve` answers `/metrics` for all of
them: prometheus_client's multiprocess mode, where each process writes its values to memory-mapped
files in `multiprocess_dir(settings)` (`<data_dir>/prometheus/<port>/`, emptied by `stockyard
serve` at start) and `/metrics` merges the files (counters and histograms summed; the queue-depth
gauge summed over live processes, `livesum`). Replicas are scraped one by one; Prometheus labels
each with its `instance` (docs/metrics.md).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stockyard.types.errors import StockyardError

if TYPE_CHECKING:
    from stockyard.config import Settings

ACCESS_LOGGER: Final = "stockyard.access"
REDACTED: Final = "<redacted>"
#: A `t` or `T` path segment (however many slashes around it) and the segment after it: conda's
#: `/t/<token>/` form, also as `//t/`, `/T/` or deeper in a path that routed nowhere.
_token_segment = re.compile(r"(?<![^/])([tT]/+)([^/]+)")
#: The same in free text, where the segment also ends at white space or a quote.
_token_segment_in_text = re.compile(r"(?<![^/])([tT]/+)([^/\s'\"]+)")
#: A Stockyard token anywhere (`sy-` and 40 letters or digits).
_token = re.compile(r"\bsy-[A-Za-z0-9]{40}\b")
#: Credential headers as they appear when headers are printed (dicts, lists of pairs, raw
#: lines): the header name, its separator, an optional scheme, then the secret.
_credential_header = re.compile(
    r"(?i)((?:authorization|x-api-key|proxy-authorization)['\"]?\s*[:=,]\s*(?:b?['\"])?\s*)"
    r"(?:(bearer|basic|token)\s+)?[^\s'\",)\]}]+"
)


def redact_path(path: str) -> str:
    """The request path with every segment after a `t`/`T` segment (conda's `/t/<token>/`,
    however many slashes) and anything shaped like a Stockyard token hidden."""
    if "t/" in path or "T/" in path:
        path = _token_segment.sub(rf"\1{REDACTED}", path)
    if "sy-" in path:
        path = _token.sub(REDACTED, path)
    return path


def redact_text(text: str) -> str:
    """A log message with tokens hidden: token paths, Stockyard tokens, and the values of
    `Authorization` / `X-API-Key` headers wherever they were printed."""
    if "t/" in text or "T/" in text:
        text = _token_segment_in_text.sub(rf"\1{REDACTED}", text)
    if "sy-" in text:
        text = _token.sub(REDACTED, text)
    lowered = text.lower()
    if "authorization" in lowered or "x-api-key" in lowered:
        text = _credential_header.sub(lambda m: m.group(1) + _scheme(m.group(2)) + REDACTED, text)
    return text


def _scheme(scheme: str | None) -> str:
    return f"{scheme} " if scheme else ""


class RedactingFilter(logging.Filter):
    """Hides tokens in every record a handler emits (messages, arguments, tracebacks), so no
    log line (ours, uvicorn's, a library's exception) can carry a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "access", None) is not None:
            return True  # access lines are built redacted
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


#: prometheus_client's multiprocess mode: where each process writes its metric files.
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
_SECONDS_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def multiprocess_dir(settings: Settings) -> Path | None:
    """Where the worker processes of one `stockyard serve` share their metrics (one directory
    per port, so two servers on one data directory never mix); None for a single process."""
    if settings.workers <= 1:
        return None
    return settings.data_path.resolve() / "prometheus" / str(settings.port)


def prepare_multiprocess_metrics(settings: Settings) -> Path | None:
    """Called by `stockyard serve` before its workers start: an empty directory (a previous
    run's counts must not be added to this one's) named in `PROMETHEUS_MULTIPROC_DIR`, which
    the workers inherit."""
    path = multiprocess_dir(settings)
    if path is None:
        return None
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return path


class _ChannelQueue:
    """What one channel's group-commit queue reports (`server/upload_batch.BatchObserver`)."""

    def __init__(self, metrics: Metrics, channel: str) -> None:
        self._depth = metrics.queue_depth.labels(channel)
        self._publish = metrics.publish_seconds.labels(channel)
        self._size = metrics.batch_size

    def waiting(self, count: int) -> None:
        self._depth.set(count)

    def committed(self, size: int, seconds: float) -> None:
        self._publish.observe(seconds)
        self._size.observe(size)


class Metrics:
    """The server's metrics. `multiprocess_dir`: the worker processes of one server share their
    values through files there (see the module's docstring)."""

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        if multiprocess_dir is not None:
            _use_multiprocess_files(multiprocess_dir)
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "stockyard_http_requests",
            "HTTP requests by route template, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.bytes_sent = Counter(
            "stockyard_http_response_bytes",
            "Response body bytes sent, by route template.",
            ("route",),
            registry=self.registry,
        )
        self.duration = Histogram(
            "stockyard_http_request_duration_seconds",
            "Time to answer a request, by route template.",
            ("route",),
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.uploads = Counter(
            "stockyard_uploads",
            "Uploads by protocol and outcome (accepted, conflict, too-large, rejected-invalid, "
            "rejected, denied, timeout, busy, publish-pending, disconnected, failed, error).",
            ("protocol", "outcome"),
            registry=self.registry,
        )
        self.upload_seconds = Histogram(
            "stockyard_upload_publish_seconds",
            "From a received upload to its subdir republished (validate, store, publish).",
            registry=self.registry,
            buckets=_SECONDS_BUCKETS,
        )
        self.publish_seconds = Histogram(
            "stockyard_publish_seconds",
            "Committing and publishing one batch of uploads, by channel: waiting for the "
            "channel's lock, staging, the catalog transaction, publishing.",
            ("channel",),
            registry=self.registry,
            buckets=_SECONDS_BUCKETS,
        )
        self.batch_size = Histogram(
            "stockyard_upload_batch_size",
            "Uploads committed together by one publish (group commit).",
            registry=self.registry,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
        )
        self.queue_depth = Gauge(
            "stockyard_upload_queue_depth",
            "Validated uploads waiting for their channel's next batch commit (summed over the "
            "server's worker processes).",
            ("channel",),
            registry=self.registry,
            multiprocess_mode="livesum",
        )

    @classmethod
    def for_server(cls, settings: Settings) -> Metrics:
        """Per-process metrics, or, in a worker of a `stockyard serve --workers N` (which set
        `PROMETHEUS_MULTIPROC_DIR` to its directory), metrics shared by all its workers."""
        path = multiprocess_dir(settings)
        if path is not None and os.environ.get(MULTIPROC_ENV) == str(path):
            return cls(path)
        return cls()

    def upload(
        self, protocol: str, *, error: BaseException | None = None, seconds: float | None = None
    ) -> None:
        """Count one upload's outcome (`error` None: accepted, published in `seconds`)."""
        self.uploads.labels(protocol, upload_outcome(error)).inc()
        if error is None and seconds is not None:
            self.upload_seconds.observe(seconds)

    def batch_observer(self, channel: str) -> _ChannelQueue:
        return _ChannelQueue(self, channel)

    def render(self, job_counts: Callable[[], Mapping[str, int]] | None = None) -> Response:
        """The exposition text (blocking: run it in a thread). `job_counts`: jobs by state,
        from the catalog every replica shares, added as the `stockyard_jobs` gauge."""
        registry = self.registry
        if self.multiprocess_dir is not None:
            _forget_dead_processes(self.multiprocess_dir)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=str(self.multiprocess_dir))
        body = generate_latest(registry)
        if job_counts is not None:
            jobs = CollectorRegistry()
            jobs.register(_JobsCollector(job_counts))
            body += generate_latest(jobs)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


class _JobsCollector(Collector):
    """Background jobs by state, read from the catalog at each scrape. The catalog is shared,
    so every replica reports the same numbers: aggregate them with max, not sum."""

    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            counts = self._counts()
        except Exception as exc:  # the catalog is down: the other metrics still answer
            logging.getLogger("stockyard.server").warning("jobs metrics unavailable: %s", exc)
            return
        family = GaugeMetricFamily(
            "stockyard_jobs",
            "Background jobs by state (queued: the jobs queue depth), from the shared catalog.",
            labels=("state",),
        )
        for state, count in sorted(counts.items()):
            family.add_metric((state,), count)
        yield family


def _use_multiprocess_files(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)  # where prometheus_client's file values write
    # prometheus_client picks its value class when first imported. A worker forked from a
    # parent that had imported it before the variable was set (Granian forks) would keep
    # in-memory values that /metrics never sees.
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()


def _forget_dead_processes(path: Path) -> None:
    """Drop the live-gauge files of worker processes that died (uvicorn restarts a worker that
    crashed): a dead process's queue is empty. Counters and histograms keep its counts."""
    for file in path.glob("gauge_live*_*.db"):
        pid = file.stem.rpartition("_")[2]
        if pid.isdigit() and not _alive(int(pid)):
            mark_process_dead(int(pid), str(path))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def upload_outcome(error: BaseException | None) -> str:
    """The `outcome` label of an upload that ended with `error` (None: accepted)."""
    if error is None:
        return "accepted"
    for kind, outcome in _outcome_kinds():
        if isinstance(error, kind):
            return outcome
    if isinstance(error, StockyardError):
        # Other refusals: the channel's license, scan or attestation rules, labels.
        return "rejected" if error.http_status < 500 else "failed"
    return "error"


@functools.cache
def _outcome_kinds() -> tuple[tuple[type[BaseException], str], ...]:
    # Imported on first use: these modules load the upload path, which a process that only
    # sets up logging (the CLI) does not need.
    from stockyard.index.commit import PublishPending
    from stockyard.server.uploads import InvalidUpload, UploadTimeout
    from stockyard.types import errors

    return (
        (errors.SizeLimitExceeded, "too-large"),  # before InvalidArtifact, its base
        (errors.Conflict, "conflict"),
        (PublishPending, "publish-pending"),
        (errors.LockTimeout, "busy"),
        (UploadTimeout, "timeout"),
        (errors.InvalidArtifact, "rejected-invalid"),
        (errors.InvalidMetadata, "rejected-invalid"),
        (errors.InvalidIdentifier, "rejected-invalid"),
        (errors.HashMismatch, "rejected-invalid"),
        (InvalidUpload, "rejected-invalid"),
        (errors.Unauthorized, "denied"),
        (errors.Forbidden, "denied"),
        (errors.NotFound, "denied"),
        (ClientDisconnect, "disconnected"),
    )


class AccessRecorder:
    """Counts and logs one answered HTTP request: method, redacted path, status, bytes,
    duration, route template. Shared by `AccessLogMiddleware` and the channel-file fast path
    (`server/fast_files.py`), which answers outside the middleware."""

    #: Label sets whose metric children are kept at hand (routes x methods x statuses are few;
    #: the bound only guards against surprises).
    MAX_CACHED_LABELS: Final = 1024

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.log = logging.getLogger(ACCESS_LOGGER)
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def _metrics_of(self, route: str, method: str, status: int) -> tuple[Any, Any, Any]:
        # `labels()` takes a lock and builds a key on every call: once per label set is enough.
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            metrics = self.metrics
            children = (
                metrics.requests.labels(route, method, str(status)),
                metrics.bytes_sent.labels(route),
                metrics.duration.labels(route),
            )
            if len(self._children) < self.MAX_CACHED_LABELS:
                self._children[key] = children
        return children

    def record(self, scope: Scope, route: str, status: int, sent: int, elapsed: float) -> None:
        requests, bytes_sent, duration = self._metrics_of(route, scope["method"], status)
        requests.inc()
        bytes_sent.inc(sent)
        duration.observe(elapsed)
        if self.log.isEnabledFor(logging.INFO):
            client = scope.get("client")
            path = redact_path(scope["path"])
            self.log.info(
                "%s %s %s",
                scope["method"],
                path,
                status,
                extra={
                    "access": {
                        "method": scope["method"],
                        "path": path,
                        "status": status,
                        "bytes": sent,
                        "duration_ms": round(elapsed * 1000, 3),
                        "client": client[0] if client else None,
                        "route": route,
                        "http": scope.get("http_version"),
                    }
                },
            )


class AccessLogMiddleware:
    """Counts and logs every HTTP request (`AccessRecorder`)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.recorder = AccessRecorder(metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        sent = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.recorder.record(scope, route, status, sent, time.perf_counter() - started)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; access lines carry their fields at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            data.update(access)
        else:
            data["message"] = record.getMessage()
        if record.exc_text:
            data["exception"] = record.exc_text
        elif record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, separators=(",", ":"))


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the server (also handed to uvicorn)."""
    formatter = (
        {"()": f"{__name__}.JsonFormatter"}
        if log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "filters": {"redact": {"()": f"{__name__}.RedactingFilter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "stockyard": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            # Our middleware logs requests (with tokens redacted); uvicorn's would leak them.
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }


async def health(_request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


__all__ = [
    "ACCESS_LOGGER",
    "MULTIPROC_ENV",
    "AccessLogMiddleware",
    "JsonFormatter",
    "Metrics",
    "RedactingFilter",
    "health",
    "logging_config",
    "multiprocess_dir",
    "prepare_multiprocess_metrics",
    "redact_path",
    "redact_text",
    "upload_outcome",
]
