"""Tokens and private channels: invisible without a read token, every token form, revocation."""

from __future__ import annotations

import base64
import hashlib

import pytest
from sqlalchemy import select

from stockyard.catalog.schema import tokens
from tests.server.artifacts import make_artifact
from tests.server.uploading import prefix_upload, quetz_upload


def _basic(token: str, user: str = "anyone") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


PRIVATE_PATHS = (
    "/secret/noarch/repodata.json",
    "/secret/noarch/repodata.json.zst",
    "/secret/channeldata.json",
    "/secret/",
    "/api/channels/secret",
    "/api/channels/secret/packages",
)


def test_private_channel_is_invisible_without_a_token(client, private_channel) -> None:
    for path in PRIVATE_PATHS:
        response = client.get(path)
        assert response.status_code == 404, path
    # Exactly the answer a channel that does not exist gets.
    hidden = client.get("/secret/noarch/repodata.json").json()
    absent = client.get("/nosuch/noarch/repodata.json").json()
    assert hidden["message"].replace("secret", "X") == absent["message"].replace("nosuch", "X")
    assert "secret" not in [c["name"] for c in client.get("/api/channels").json()]


@pytest.mark.parametrize("form", ["url", "x-api-key", "bearer", "basic", "basic-user"])
def test_read_token_in_every_form(client, private_channel, private_read_token, form) -> None:
    token = private_read_token
    path = "/secret/noarch/repodata.json"
    if form == "url":
        response = client.get(f"/t/{token}{path}")
    elif form == "x-api-key":
        response = client.get(path, headers={"X-API-Key": token})
    elif form == "bearer":
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    elif form == "basic":
        response = client.get(path, headers=_basic(token))
    else:  # https://TOKEN@host/ puts the token in the user name
        response = client.get(path, headers=_basic("", user=token))
    assert response.status_code == 200
    assert response.json()["info"]["subdir"] == "noarch"
    assert response.headers["cache-control"].startswith("private,")


def test_private_channel_listed_with_read_token(client, private_channel, private_read_token):
    names = [
        c["name"]
        for c in client.get("/api/channels", headers={"X-API-Key": private_read_token}).json()
    ]
    assert names == ["main", "secret"]
    detail = client.get("/api/channels/secret", headers={"X-API-Key": private_read_token})
    assert detail.status_code == 200 and detail.json()["private"] is True


def test_token_for_another_channel_does_not_open_a_private_one(
    client, catalog, private_channel, main_channel
) -> None:
    other = catalog.create_token(scope="admin", channel=main_channel).token
    assert client.get(f"/t/{other}/secret/noarch/repodata.json").status_code == 404


def test_server_wide_token_reads_every_private_channel(client, private_channel, admin_token):
    assert client.get(f"/t/{admin_token}/secret/noarch/repodata.json").status_code == 200


def test_invalid_token_on_public_channel_reads_anonymously(client) -> None:
    """conda sends a stale token with every request; a public channel still answers."""
    assert client.get("/t/sy-notavalidtoken123/main/noarch/repodata.json").status_code == 200
    assert (
        client.get(
            "/main/noarch/repodata.json", headers={"Authorization": "Bearer nonsense"}
        ).status_code
        == 200
    )


def test_revocation_is_immediate(client, catalog, private_channel) -> None:
    created = catalog.create_token(scope="read", channel=private_channel)
    url = f"/t/{created.token}/secret/noarch/repodata.json"
    assert client.get(url).status_code == 200
    catalog.revoke_token(created.info.prefix)
    assert client.get(url).status_code == 404
    assert (
        client.get("/secret/noarch/repodata.json", headers={"X-API-Key": created.token}).status_code
        == 404
    )


def test_expired_token_is_refused(client, catalog, private_channel, tmp_path) -> None:
    created = catalog.create_token(scope="write", channel=private_channel, expires_in=0.001)
    import time

    time.sleep(0.01)
    assert client.get(f"/t/{created.token}/secret/noarch/repodata.json").status_code == 404
    artifact = make_artifact(tmp_path, "late")
    response = quetz_upload(client, "secret", artifact, created.token)
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


def test_write_scope_is_needed_to_upload(client, catalog, main_channel, tmp_path) -> None:
    read_only = catalog.create_token(scope="read", channel=main_channel).token
    artifact = make_artifact(tmp_path, "alpha")
    response = quetz_upload(client, "main", artifact, read_only)
    assert response.status_code == 403
    assert response.json()["error"] == "Forbidden"
    missing = quetz_upload(client, "main", artifact, None)
    assert missing.status_code == 401
    assert missing.json()["error"] == "Unauthorized"
    assert "www-authenticate" in missing.headers


def test_upload_to_private_channel_with_foreign_token_is_404(
    client, catalog, main_channel, private_channel, tmp_path
) -> None:
    foreign = catalog.create_token(scope="write", channel=main_channel).token
    artifact = make_artifact(tmp_path, "alpha")
    assert prefix_upload(client, "secret", artifact, foreign).status_code == 404


def test_tokens_are_stored_hashed(client, catalog, private_channel) -> None:
    created = catalog.create_token(scope="read", channel=private_channel, description="ci")
    with catalog.engine.connect() as conn:
        rows = conn.execute(select(tokens)).mappings().all()
    assert rows
    stored = " ".join(str(v) for row in rows for v in row.values())
    assert created.token not in stored
    assert hashlib.sha256(created.token.encode()).hexdigest() in stored
    # The database file holds no token either (not in a page, not in the WAL).
    for row in rows:
        assert len(row["prefix"]) < len(created.token)


def test_token_character_set(catalog) -> None:
    import re

    for _ in range(50):
        token = catalog.create_token(scope="read").token
        assert re.fullmatch(r"sy-[A-Za-z0-9]{40}", token)


def test_admin_api_needs_server_admin(client, catalog, main_channel, admin_token) -> None:
    body = {"name": "newchan"}
    assert client.post("/api/channels", json=body).status_code == 401
    channel_admin = catalog.create_token(scope="admin", channel=main_channel).token
    assert (
        client.post("/api/channels", json=body, headers={"X-API-Key": channel_admin}).status_code
        == 403
    )
    created = client.post("/api/channels", json=body, headers={"X-API-Key": admin_token})
    assert created.status_code == 201
    assert created.json()["url"].endswith("/newchan")
    assert client.get("/newchan/noarch/repodata.json").status_code == 200


@pytest.mark.parametrize("name", ["api", "ui", "t", "health", "metrics", "static", "docs"])
def test_reserved_channel_names_are_refused(client, admin_token, name) -> None:
    response = client.post("/api/channels", json={"name": name}, headers={"X-API-Key": admin_token})
    assert response.status_code == 409
    assert "reserved" in response.json()["message"]


def test_token_api_lifecycle(client, admin_token, main_channel) -> None:
    headers = {"X-API-Key": admin_token}
    made = client.post("/api/tokens", json={"scope": "write", "channel": "main"}, headers=headers)
    assert made.status_code == 201
    token = made.json()["token"]
    listed = client.get("/api/tokens", headers=headers).json()
    assert all("token" not in item for item in listed)
    assert made.json()["prefix"] in [item["prefix"] for item in listed]
    revoked = client.delete(f"/api/tokens/{made.json()['id']}", headers=headers)
    assert revoked.status_code == 204
    statuses = {t["id"]: t["status"] for t in client.get("/api/tokens", headers=headers).json()}
    assert statuses[made.json()["id"]] == "revoked"
    assert client.get("/api/tokens", headers={"X-API-Key": token}).status_code == 401


def test_making_a_channel_private_hides_it(client, app, settings, catalog) -> None:
    from stockyard.server.channels import set_channel_visibility

    assert client.get("/main/noarch/repodata.json").status_code == 200  # now cached as public
    set_channel_visibility(settings, catalog, "main", private=True)
    app.state.stockyard.channels.forget("main")  # what the cache time does by itself
    assert client.get("/main/noarch/repodata.json").status_code == 404
    assert client.get("/api/channels/main").status_code == 404
