"""Tokens never reach a log: access-log paths and any other record a handler emits."""

from __future__ import annotations

import io
import json
import logging

import pytest

from stockyard.server.observability import (
    JsonFormatter,
    RedactingFilter,
    logging_config,
    redact_path,
    redact_text,
)

TOKEN = "sy-" + "Ab1" * 13 + "X"


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        (f"/t/{TOKEN}/main/noarch/repodata.json", "/t/<redacted>/main/noarch/repodata.json"),
        (f"//t/{TOKEN}/main/x", "//t/<redacted>/main/x"),
        (f"/T/{TOKEN}/main/x", "/T/<redacted>/main/x"),
        (f"/t//{TOKEN}//main", "/t//<redacted>//main"),
        ("///T///conda-token-123///main/", "///T///<redacted>///main/"),
        ("/t/abc-def", "/t/<redacted>"),
        (f"/main/{TOKEN}/x", "/main/<redacted>/x"),
        ("/main/noarch/repodata.json", "/main/noarch/repodata.json"),
        ("/at/x", "/at/x"),
        ("/ui/t", "/ui/t"),
    ],
)
def test_redact_path(path: str, shown: str) -> None:
    assert redact_path(path) == shown


@pytest.mark.parametrize(
    "text",
    [
        f"headers: {{'authorization': 'Bearer {TOKEN}', 'x-api-key': 'k-123'}}",
        '[(b"x-api-key", b"k-123"), (b"authorization", b"Basic dXNlcjprLTEyMw==")]',
        "Authorization: Bearer k-123",
        "X-API-Key=k-123",
        "GET /t/k-123/main/repodata.json failed",
    ],
)
def test_redact_text(text: str) -> None:
    redacted = redact_text(text)
    assert "k-123" not in redacted and TOKEN not in redacted and "dXNlcjprLTEyMw" not in redacted
    assert "<redacted>" in redacted


def test_every_log_record_is_redacted() -> None:
    """Messages, arguments and tracebacks of any logger (uvicorn's too) go through the filter
    that `logging_config` puts on the server's handler."""
    config = logging_config("json", "info")
    assert config["handlers"]["stderr"]["filters"] == ["redact"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("stockyard.tests.redaction")
    log.propagate = False
    log.addHandler(handler)
    try:
        log.warning("request %s with %s", f"//t/{TOKEN}/main", {"X-API-Key": TOKEN})
        try:
            raise ValueError(f"bad header Authorization: Bearer {TOKEN}")
        except ValueError:
            log.exception("failed at /T/%s/x", TOKEN)
    finally:
        log.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    assert TOKEN not in stream.getvalue()
    assert lines[0]["message"].startswith("request //t/<redacted>/main with")
    assert lines[1]["message"] == "failed at /T/<redacted>/x"
    assert "Bearer <redacted>" in lines[1]["exception"]
