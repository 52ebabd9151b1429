"""The HTTP servers `stockyard serve` runs the app on.

- **uvicorn** (default): HTTP/1.1, with or without TLS; request heads bounded by our own
  httptools protocol (see `http_limits`).
- **Granian** (`http2 = true`, the optional `stockyard[http2]` extra): HTTP/2 and HTTP/1.1 on
  one port. CEP 16 asks for HTTP/2 because a sharded solve makes hundreds of small requests; one
  multiplexed connection replaces a pool of HTTP/1.1 connections. With TLS, clients choose h2
  through ALPN (py-rattler and conda's HTTP stack do); without TLS, h2c with prior knowledge.
  Heads are bounded by Granian itself (`max_buffer_size` for HTTP/1.1, `max_headers_size` for
  HTTP/2, both set to `MAX_HEAD_BYTES`).

Both run the same app built by `app_from_environment` in each worker, from the settings passed in
`SETTINGS_ENV`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stockyard.config import Settings
from stockyard.server.http_limits import MAX_HEAD_BYTES, uvicorn_options
from stockyard.types.errors import ConfigError

#: Seconds in-flight requests get to finish on SIGTERM.
GRACEFUL_SHUTDOWN_SECONDS = 10
APP_FACTORY = "stockyard.server.app:app_from_environment"


def run_server(settings: Settings, log_config: dict[str, Any]) -> None:
    """Serve until stopped, on the engine the settings ask for."""
    from stockyard.server.app import SETTINGS_ENV

    os.environ[SETTINGS_ENV] = settings.to_json().decode()
    if settings.http2:
        _run_granian(settings, log_config)
    else:
        _run_uvicorn(settings, log_config)


def _run_uvicorn(settings: Settings, log_config: dict[str, Any]) -> None:
    import uvicorn

    from stockyard.server.app import create_app

    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": log_config,
        "access_log": False,  # our access log redacts /t/<token>/; uvicorn's would not
        "server_header": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "ssl_certfile": settings.tls_cert,
        "ssl_keyfile": settings.tls_key,
        **uvicorn_options(),  # bounded request heads: 431 past 64 KiB or 100 header lines
    }
    if settings.workers > 1:
        uvicorn.run(APP_FACTORY, factory=True, workers=settings.workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)


def _run_granian(settings: Settings, log_config: dict[str, Any]) -> None:
    granian = _import_granian()
    from granian.constants import HTTPModes, Interfaces, SSLProtocols
    from granian.http import HTTP1Settings, HTTP2Settings

    tls = settings.tls_cert is not None and settings.tls_key is not None
    granian.Granian(
        APP_FACTORY,
        factory=True,
        interface=Interfaces.ASGI,
        address=settings.host,
        port=settings.port,
        workers=settings.workers,
        http=HTTPModes.auto,
        http1_settings=HTTP1Settings(max_buffer_size=MAX_HEAD_BYTES),
        http2_settings=HTTP2Settings(max_headers_size=MAX_HEAD_BYTES),
        ssl_cert=Path(settings.tls_cert) if tls and settings.tls_cert else None,
        ssl_key=Path(settings.tls_key) if tls and settings.tls_key else None,
        # TLS 1.2 as well: older conda clients (OpenSSL through requests) still negotiate it.
        ssl_protocol_min=SSLProtocols.tls12,
        log_dictconfig=log_config,
        log_access=False,  # ours redacts tokens
        workers_kill_timeout=GRACEFUL_SHUTDOWN_SECONDS,
    ).serve()


def _import_granian() -> Any:
    try:
        import granian
    except ImportError:
        raise ConfigError(
            "http2 = true needs Granian, which is not installed",
            hint="Install it with: pip install 'stockyard[http2]' (or turn http2 off).",
        ) from None
    return granian
