"""The channel-file fast path on a bucket channel (moto's S3 server): it answers from the copies
this replica trusts, exactly as the route does, and leaves everything else to the route."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockyard.config import load_settings
from stockyard.server import channel_files
from stockyard.server.app import create_app
from stockyard.server.channels import bootstrap
from tests.s3server import S3Server
from tests.server.artifacts import make_artifact
from tests.server.test_fast_files import _answer, _requests
from tests.server.uploading import quetz_upload

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

BUCKET = "stockyard-fast-files"


@pytest.fixture
def bucket_client(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, list[Path], str]]:
    for name, value in s3.environment().items():
        monkeypatch.setenv(name, value)
    settings = load_settings(
        env={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "storage_url": f"s3://{BUCKET}/{tmp_path.name}",
            "s3_endpoint_url": s3.url,
            "repodata_max_age": 30,
        },
    )
    boot = bootstrap(settings)
    assert boot.admin_token is not None
    app = create_app(settings)
    with TestClient(app) as client:
        paths = [make_artifact(tmp_path / "art", f"pkg{i}") for i in range(3)]
        paths.append(make_artifact(tmp_path / "art", "native", build="h0_0", subdir="linux-64"))
        for path in paths:
            assert quetz_upload(client, "main", path, boot.admin_token).status_code == 201
        state = app.state.stockyard
        state.channels.ttl = 600
        # As with PostgreSQL notifications: copies stay trusted until a publish.
        state.remote_files.listening = lambda: True
        yield client, paths, boot.admin_token


def test_fast_path_answers_as_the_route_does_on_a_bucket(bucket_client) -> None:
    client, paths, token = bucket_client
    requests = _requests(client, paths, token)
    for method, url, headers in requests:
        client.request(method, url, headers=headers)  # fetches the copy the fast path may use
        fast = _answer(client, method, url, headers, fast=True)
        routed = _answer(client, method, url, headers, fast=False)
        assert fast == routed, (method, url, headers)


def test_fast_path_serves_trusted_copies_without_the_route(bucket_client, monkeypatch) -> None:
    client, paths, _token = bucket_client
    url = f"/main/noarch/{paths[0].name}"
    first = client.get(url)  # the route fetches the copy
    assert first.status_code == 200

    async def broken(*_args, **_kwargs):
        raise AssertionError("the route was used")

    monkeypatch.setattr(channel_files, "serve_channel_file", broken)
    again = client.get(url)
    assert again.status_code == 200 and again.content == paths[0].read_bytes()
    assert client.get(url, headers={"if-none-match": first.headers["etag"]}).status_code == 304
    # A client that names another version than this replica's copy is the route's (it asks
    # the bucket); so is a file this replica holds no copy of.
    with pytest.raises(AssertionError, match="the route was used"):
        client.get(url, headers={"if-none-match": '"a-newer-one"'})
    with pytest.raises(AssertionError, match="the route was used"):
        client.get(f"/main/noarch/{paths[1].name}")
