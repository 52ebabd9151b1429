"""Remove, yank, copy and move packages, and delete channels, through the JSON API."""

from __future__ import annotations

from tests.server.artifacts import make_artifact
from tests.server.conftest import channel_dir
from tests.server.uploading import quetz_upload


def _upload(client, token, tmp_path, name: str = "alpha"):  # type: ignore[no-untyped-def]
    artifact = make_artifact(tmp_path, name)
    assert quetz_upload(client, "main", artifact, token).status_code == 201
    return artifact


def _records(client, channel: str = "main") -> dict:  # type: ignore[type-arg]
    return client.get(f"/{channel}/noarch/repodata.json").json()["packages.conda"]


def test_remove_needs_write_and_lists_removed(client, write_token, tmp_path) -> None:  # type: ignore[no-untyped-def]
    artifact = _upload(client, write_token, tmp_path)
    url = f"/api/channels/main/packages/noarch/{artifact.name}"
    assert client.delete(url).status_code == 401
    response = client.delete(url, headers={"X-API-Key": write_token})
    assert response.status_code == 200, response.text
    assert response.json()["action"] == "removed"
    assert artifact.name not in _records(client)
    repodata = client.get("/main/noarch/repodata.json").json()
    assert repodata["removed"] == [artifact.name]
    assert client.get(f"/main/noarch/{artifact.name}").status_code == 404
    again = client.delete(url, headers={"X-API-Key": write_token})
    assert again.status_code == 404


def test_yank_and_restore(client, write_token, tmp_path) -> None:  # type: ignore[no-untyped-def]
    artifact = _upload(client, write_token, tmp_path)
    url = f"/api/channels/main/packages/noarch/{artifact.name}/yank"
    headers = {"X-API-Key": write_token}
    assert client.post(url, headers=headers).json()["action"] == "yanked"
    record = _records(client)[artifact.name]
    assert record["revoked"] is True and "package_has_been_revoked" in record["depends"]
    assert client.get(f"/main/noarch/{artifact.name}").status_code == 200  # the file stays
    assert client.delete(url, headers=headers).json()["action"] == "restored"
    assert "revoked" not in _records(client)[artifact.name]


def test_copy_and_move_between_channels(client, admin_token, tmp_path) -> None:  # type: ignore[no-untyped-def]
    headers = {"X-API-Key": admin_token}
    assert client.post("/api/channels", json={"name": "stable"}, headers=headers).status_code == 201
    first = _upload(client, admin_token, tmp_path, "alpha")
    second = _upload(client, admin_token, tmp_path, "beta")
    stamp = _records(client)[first.name]["indexed_timestamp"]
    base = "/api/channels/main/packages/noarch"
    copied = client.post(f"{base}/{first.name}/copy", json={"to": "stable"}, headers=headers)
    assert copied.status_code == 200 and copied.json()["action"] == "copied"
    assert _records(client, "stable")[first.name]["indexed_timestamp"] == stamp
    assert first.name in _records(client)
    moved = client.post(
        f"{base}/{second.name}/copy", json={"to": "stable", "move": True}, headers=headers
    )
    assert moved.json()["action"] == "moved"
    assert second.name not in _records(client) and second.name in _records(client, "stable")
    conflict = client.post(f"{base}/{first.name}/copy", json={"to": "stable"}, headers=headers)
    assert conflict.status_code == 409


def test_delete_channel_needs_admin_and_confirmation(
    client, settings, admin_token, write_token, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    headers = {"X-API-Key": admin_token}
    assert client.post("/api/channels", json={"name": "doomed"}, headers=headers).status_code == 201
    writer = {"X-API-Key": write_token}
    assert client.delete("/api/channels/doomed?confirm=doomed", headers=writer).status_code == 403
    assert client.delete("/api/channels/doomed", headers=headers).status_code == 422
    wrong = client.delete("/api/channels/doomed?confirm=other", headers=headers)
    assert wrong.status_code == 409
    response = client.delete("/api/channels/doomed?confirm=doomed", headers=headers)
    assert response.status_code == 204
    assert not channel_dir(settings, "doomed").exists()
    assert client.get("/doomed/noarch/repodata.json").status_code == 404
    assert client.get("/api/channels/doomed").status_code == 404
    # The name can be used again, and starts empty.
    assert client.post("/api/channels", json={"name": "doomed"}, headers=headers).status_code == 201
    assert client.get("/doomed/noarch/repodata.json").json()["packages.conda"] == {}
