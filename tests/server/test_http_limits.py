"""What `stockyard serve` passes to uvicorn to bound request heads (the live test is in
tests/integration/test_serve_hostile.py)."""

from __future__ import annotations

import importlib.util

import pytest
from uvicorn.config import Config

from stockyard.server import http_limits
from stockyard.server.http_limits import MAX_HEAD_BYTES, RESPONSE_431, uvicorn_options


def test_bounded_httptools_protocol_when_httptools_is_installed() -> None:
    options = uvicorn_options()
    assert options == {"http": "stockyard.server.bounded_httptools:BoundedHttpToolsProtocol"}
    config = Config(app=lambda scope, receive, send: None, **options)  # type: ignore[arg-type]
    config.load()
    from stockyard.server.bounded_httptools import BoundedHttpToolsProtocol

    assert config.http_protocol_class is BoundedHttpToolsProtocol


def test_h11_with_the_same_bound_without_httptools(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        http_limits.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "httptools" else real(name, *a),
    )
    assert uvicorn_options() == {"http": "h11", "h11_max_incomplete_event_size": MAX_HEAD_BYTES}


def test_431_response_is_complete_http() -> None:
    head, _, body = RESPONSE_431.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 ")
    assert f"content-length: {len(body)}".encode() in head
    assert b"connection: close" in head
