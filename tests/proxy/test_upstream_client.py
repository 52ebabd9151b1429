"""The upstream clients of a server process share one TLS context (building one per proxy
channel cost each channel's first request tens to hundreds of milliseconds)."""

from __future__ import annotations

import asyncio
import ssl

from stockyard.proxy.upstreams import Upstreams, tls_context


def _context_of(upstreams: Upstreams) -> object:
    # httpx keeps it on its connection pool (private, but what is under test).
    return upstreams.client()._transport._pool._ssl_context  # type: ignore[attr-defined]


def test_upstream_clients_share_one_tls_context() -> None:
    async def run() -> None:
        first = Upstreams(("https://conda.example.org/forge",), 5.0)
        second = Upstreams(("https://mirror.example.org/forge",), 5.0)
        try:
            shared = _context_of(first)
            assert isinstance(shared, ssl.SSLContext)
            assert shared is _context_of(second) is tls_context()
            assert shared.verify_mode == ssl.CERT_REQUIRED and shared.check_hostname
        finally:
            await first.close()
            await second.close()

    asyncio.run(run())
