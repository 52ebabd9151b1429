"""The channel-file fast path (server/fast_files.py) answers exactly as the route does."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stockyard.server import channel_files
from stockyard.server.fast_files import ROUTE
from stockyard.server.observability import ACCESS_LOGGER
from tests.server.artifacts import make_artifact
from tests.server.conftest import channel_dir
from tests.server.uploading import quetz_upload

#: Headers that differ between any two answers whatever the path.
_VOLATILE = {"date", "server"}


@pytest.fixture(autouse=True)
def long_channel_cache(client) -> None:
    """Every channel stays in the channel cache for the whole test."""
    client.app.state.stockyard.channels.ttl = 600


def _answer(client, method: str, url: str, headers: dict[str, str], fast: bool):
    client.app.state.stockyard.fast_files = fast
    try:
        response = client.request(method, url, headers=headers, follow_redirects=False)
    finally:
        client.app.state.stockyard.fast_files = True
    kept = {k: v for k, v in response.headers.items() if k not in _VOLATILE}
    return response.status_code, kept, response.content


def _requests(client, filled, write_token) -> list[tuple[str, str, dict[str, str]]]:
    identity = {"accept-encoding": "identity"}
    gzip = {"accept-encoding": "gzip"}
    repodata = "/main/noarch/repodata.json"
    plain = client.get(repodata, headers=identity).headers
    zipped = client.get(repodata, headers=gzip).headers
    artifact = f"/main/noarch/{filled[0].name}"
    art = client.get(artifact).headers
    urls = [
        repodata,
        repodata + ".zst",
        repodata + ".gz",
        "/main/noarch/repodata_shards.msgpack.zst",
        "/main/noarch/index.html",
        "/main/noarch/",
        "/main/noarch",
        "/main/channeldata.json",
        "/main/index.html",
        artifact,
        f"/main/linux-64/{filled[-1].name}",
        "/main/noarch/missing-1.0-0.conda",
        "/main/.stockyard/catalog.db",
        "/main/noarch/..%2f..%2fetc/passwd",
        "/main/as-of/2001-01-01T00:00:00Z/noarch/repodata.json",
        "/nochannel/noarch/repodata.json",
        "/api/channels",
        f"/t/{write_token}/main/noarch/repodata.json",
        # hostile shapes: the fast path must leave them to the route, which refuses them
        "/main/noarch/%00",
        "/main/noarch/repodata.json%00.html",
        "/%2e%2e/noarch/repodata.json",
        "/main/%2e%2e/%2e%2e/catalog.db",
        "/main//noarch/repodata.json",
        "/main/noarch/%ff%fe.conda",
        "/main/" + "a" * 5000,
        "/MAIN/noarch/repodata.json",
    ]
    header_sets = [
        {},
        identity,
        gzip,
        {**identity, "if-none-match": plain["etag"]},
        {**gzip, "if-none-match": zipped["etag"]},
        {**gzip, "if-none-match": plain["etag"]},
        {"if-none-match": art["etag"]},
        {"if-none-match": '"other", *'},
        {"if-none-match": '"other"'},
        {"if-modified-since": plain["last-modified"]},
        {"if-modified-since": "Mon, 01 Jan 2001 00:00:00 GMT"},
        {"if-modified-since": "not a date"},
        {**identity, "range": "bytes=0-9"},
        {"range": "bytes=0-9", "if-range": art["etag"]},
        {"range": "bytes=999999999-"},
    ]
    return [
        (method, url, headers)
        for url in urls
        for headers in header_sets
        for method in ("GET", "HEAD")
    ]


def test_fast_path_answers_as_the_route_does(client, filled, write_token) -> None:
    requests = _requests(client, filled, write_token)
    statuses = set()
    for method, url, headers in requests:
        fast = _answer(client, method, url, headers, fast=True)
        routed = _answer(client, method, url, headers, fast=False)
        assert fast == routed, (method, url, headers)
        statuses.add(fast[0])
    assert {200, 206, 301, 304, 404, 416} <= statuses
    assert not any(status >= 500 for status in statuses)


def test_fast_path_skips_the_framework(client, filled, monkeypatch) -> None:
    """With the route broken, what the fast path takes still works; the rest does not."""
    repodata = "/main/noarch/repodata.json"
    etag = client.get(repodata, headers={"accept-encoding": "identity"}).headers["etag"]

    async def broken(*_args, **_kwargs):
        raise AssertionError("the route was used")

    monkeypatch.setattr(channel_files, "serve_channel_file", broken)
    not_modified = client.get(
        repodata, headers={"accept-encoding": "identity", "if-none-match": etag}
    )
    assert not_modified.status_code == 304
    small = client.get(f"/main/noarch/{filled[0].name}")
    assert small.status_code == 200
    assert small.content == filled[0].read_bytes()
    with pytest.raises(AssertionError, match="the route was used"):
        client.get(f"/main/noarch/{filled[0].name}", headers={"range": "bytes=0-1"})


def test_fast_path_keeps_private_channels_private(
    client, settings, private_channel, private_write_token, tmp_path: Path
) -> None:
    path = make_artifact(tmp_path / "art", "hidden")
    assert quetz_upload(client, "secret", path, private_write_token).status_code == 201
    url = f"/secret/noarch/{path.name}"
    assert client.get(f"/t/{private_write_token}{url}").status_code == 200
    assert client.get(url).status_code == 404
    assert (channel_dir(settings, "secret") / "noarch" / path.name).exists()


def test_fast_path_is_logged_and_counted(client, filled, caplog) -> None:
    url = f"/main/noarch/{filled[0].name}"
    client.get(url)  # puts the channel in the cache
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        assert client.get(url).status_code == 200
    [record] = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    access = record.access  # type: ignore[attr-defined]
    assert access["route"] == ROUTE
    assert access["status"] == 200
    assert access["bytes"] == filled[0].stat().st_size
    metrics = client.get("/metrics").text
    assert f'route="{ROUTE}"' in metrics
