"""Health, readiness, Prometheus metrics and the structured access log."""

from __future__ import annotations

import json
import logging

from sqlalchemy import create_engine

from stockyard.server.observability import ACCESS_LOGGER, JsonFormatter, logging_config, redact_path


def test_health(client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.head("/health").status_code == 200
    ready = client.get("/health/ready").json()
    assert ready == {"status": "ok", "catalog": "ok", "channels_owing_publish": []}


def test_ready_fails_when_the_catalog_is_unreachable(client, app, tmp_path) -> None:
    state = app.state.stockyard
    real = state.catalog.engine, state.catalog.reader
    broken = create_engine(f"sqlite:///{tmp_path}/missing/dir/catalog.db")
    state.catalog.engine = state.catalog.reader = broken
    try:
        response = client.get("/health/ready")
    finally:
        state.catalog.engine, state.catalog.reader = real
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert client.get("/health").status_code == 200  # liveness does not depend on the catalog


def test_metrics_count_requests_by_route_template(client) -> None:
    client.get("/main/noarch/repodata.json")
    client.get("/main/noarch/repodata.json")
    client.get("/main/noarch/nothing.json")
    text = client.get("/metrics").text
    files = 'route="/{channel}/{path:path}"'
    assert f'stockyard_http_requests_total{{method="GET",{files},status="200"}} 2.0' in text
    assert 'route="/{channel}/{path:path}",status="404"} 1.0' in text
    assert 'stockyard_http_response_bytes_total{route="/{channel}/{path:path}"}' in text
    assert "stockyard_http_request_duration_seconds_bucket" in text


def test_access_log_redacts_tokens(client, caplog, private_channel, private_read_token) -> None:
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        client.get(f"/t/{private_read_token}/secret/noarch/repodata.json")
    (record,) = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    fields = record.access  # type: ignore[attr-defined]
    assert fields["path"] == "/t/<redacted>/secret/noarch/repodata.json"
    assert fields["status"] == 200 and fields["method"] == "GET"
    assert fields["bytes"] > 0 and fields["duration_ms"] >= 0
    line = JsonFormatter().format(record)
    assert private_read_token not in line
    assert json.loads(line)["path"] == fields["path"]


def test_redact_path() -> None:
    assert redact_path("/t/sy-abc/main/x") == "/t/<redacted>/main/x"
    # Wherever a `t` segment appears (a proxy prefix, doubled slashes), what follows is hidden.
    assert redact_path("/main/t/x") == "/main/t/<redacted>"
    assert redact_path("/main/noarch/repodata.json") == "/main/noarch/repodata.json"


def test_logging_config_silences_uvicorn_access_log() -> None:
    config = logging_config("json", "info")
    assert config["loggers"]["uvicorn.access"]["handlers"] == []
    assert config["formatters"]["default"]["()"].endswith("JsonFormatter")
    assert "format" in logging_config("text", "debug")["formatters"]["default"]
