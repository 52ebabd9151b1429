"""Operations: Prometheus metrics, one structured access-log line per request, logging setup.

Metrics live in a registry per app (no process-global state). With several uvicorn workers each
process counts its own requests; scrape each worker, or put the server behind a proxy that
sums them (see docs/serve.md).
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class Metrics:
    def __init__(self) -> None:
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
            "Uploads by protocol and outcome (ok, failed).",
            ("protocol", "outcome"),
            registry=self.registry,
        )
        self.publish_seconds = Histogram(
            "stockyard_upload_publish_seconds",
            "From a received upload to its subdir republished (validate, store, publish).",
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )

    def upload(self, protocol: str, *, ok: bool, seconds: float | None = None) -> None:
        self.uploads.labels(protocol, "ok" if ok else "failed").inc()
        if seconds is not None:
            self.publish_seconds.observe(seconds)

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class AccessLogMiddleware:
    """Counts and logs every HTTP request: method, redacted path, status, bytes, duration."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = logging.getLogger(ACCESS_LOGGER)

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
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.bytes_sent.labels(route).inc(sent)
            self.metrics.duration.labels(route).observe(elapsed)
            if self.log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                self.log.info(
                    "%s %s %s",
                    scope["method"],
                    redact_path(scope["path"]),
                    status,
                    extra={
                        "access": {
                            "method": scope["method"],
                            "path": redact_path(scope["path"]),
                            "status": status,
                            "bytes": sent,
                            "duration_ms": round(elapsed * 1000, 3),
                            "client": client[0] if client else None,
                            "route": route,
                            "http": scope.get("http_version"),
                        }
                    },
                )


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
    "AccessLogMiddleware",
    "JsonFormatter",
    "Metrics",
    "RedactingFilter",
    "health",
    "logging_config",
    "redact_path",
    "redact_text",
]
