"""The JSON API: channels, package search and detail, the OpenAPI schema."""

from __future__ import annotations

import pytest

from tests.server.artifacts import make_artifact, sha256_of
from tests.server.uploading import quetz_upload


@pytest.fixture
def packages(client, write_token, tmp_path) -> dict[str, object]:
    made = {
        "old": make_artifact(tmp_path, "numpyish", "1.9.0", "0", depends=["libfoo >=2"]),
        "new": make_artifact(tmp_path, "numpyish", "1.10.0", "0", depends=["libfoo >=3"]),
        "native": make_artifact(
            tmp_path, "numpyish", "1.10.0", "h1_1", subdir="linux-64", license="BSD-3-Clause"
        ),
        "other": make_artifact(tmp_path, "libfoo", "3.0", "0", summary="The foo library"),
    }
    for path in made.values():
        assert quetz_upload(client, "main", path, write_token).status_code == 201
    return made


def test_channels(client, packages) -> None:
    (main,) = client.get("/api/channels").json()
    assert main["name"] == "main" and main["private"] is False
    assert main["url"] == "http://127.0.0.1:8000/main"
    detail = client.get("/api/channels/main").json()
    assert detail["subdirs"] == ["linux-64", "noarch"]
    assert detail["package_count"] == 2
    assert detail["artifact_count"] == 4
    assert detail["last_upload"] > 0


def test_package_search(client, packages) -> None:
    everything = client.get("/api/channels/main/packages").json()
    assert everything["total"] == 2
    assert [p["name"] for p in everything["packages"]] == ["libfoo", "numpyish"]
    numpyish = everything["packages"][1]
    assert numpyish["version"] == "1.10.0"  # conda version order, not string order
    assert numpyish["subdirs"] == ["linux-64", "noarch"]
    found = client.get("/api/channels/main/packages", params={"q": "FOO"}).json()
    assert [p["name"] for p in found["packages"]] == ["libfoo"]
    assert found["packages"][0]["summary"] == "The foo library"
    page = client.get("/api/channels/main/packages", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and [p["name"] for p in page["packages"]] == ["numpyish"]
    wildcard = client.get("/api/channels/main/packages", params={"q": "%"}).json()
    assert wildcard["total"] == 0  # LIKE wildcards are escaped
    bad = client.get("/api/channels/main/packages", params={"limit": 0})
    assert bad.status_code == 422


def test_package_detail(client, packages) -> None:
    detail = client.get("/api/channels/main/packages/numpyish").json()
    assert detail["latest_version"] == "1.10.0"
    assert [v["version"] for v in detail["versions"]] == ["1.10.0", "1.9.0"]
    newest = detail["versions"][0]["builds"]
    assert [(b["subdir"], b["build"]) for b in newest] == [("linux-64", "h1_1"), ("noarch", "0")]
    native = newest[0]
    assert native["license"] == "BSD-3-Clause"
    assert native["sha256"] == sha256_of(packages["native"])
    assert native["size"] == packages["native"].stat().st_size
    assert native["uploaded_at"] > 0
    assert native["url"] == f"http://127.0.0.1:8000/main/linux-64/{packages['native'].name}"
    assert detail["versions"][1]["builds"][0]["depends"] == ["libfoo >=2"]
    assert detail["install"]["conda"] == "conda install -c http://127.0.0.1:8000/main numpyish"
    assert detail["install"]["pixi"] == (
        "pixi workspace channel add http://127.0.0.1:8000/main\npixi add numpyish"
    )
    # The download URL works.
    path = native["url"].removeprefix("http://127.0.0.1:8000")
    assert client.get(path).content == packages["native"].read_bytes()


def test_missing_things_are_404(client, packages) -> None:
    for path in (
        "/api/channels/nope",
        "/api/channels/nope/packages",
        "/api/channels/main/packages/nope",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "NotFound"


def test_private_package_detail_needs_token(
    client, private_channel, private_write_token, tmp_path
) -> None:
    path = make_artifact(tmp_path, "hidden")
    assert quetz_upload(client, "secret", path, private_write_token).status_code == 201
    assert client.get("/api/channels/secret/packages/hidden").status_code == 404
    ok = client.get(
        "/api/channels/secret/packages/hidden", headers={"X-API-Key": private_write_token}
    )
    assert ok.status_code == 200
    assert "<TOKEN>" in ok.json()["install"]["conda"]


def test_openapi_schema(client) -> None:
    schema = client.get("/api/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/channels",
        "/api/channels/{channel}",
        "/api/channels/{channel}/packages",
        "/api/channels/{channel}/packages/{name}",
        "/api/tokens",
    ):
        assert path in paths, path
    detail = paths["/api/channels/{channel}/packages/{name}"]["get"]["responses"]
    assert detail["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "PackageDetailOut"
    )
    assert "404" in detail
    # The conda protocol and the upload protocols are not part of the JSON API schema.
    assert not any(p.startswith("/{channel}") for p in paths)
    assert client.get("/api/docs").status_code == 200


def test_delete_token_purges_with_a_flag(client, admin_token, catalog) -> None:  # type: ignore[no-untyped-def]
    created = catalog.create_token(scope="read")
    headers = {"X-API-Key": admin_token}
    assert client.delete(f"/api/tokens/{created.info.id}", headers=headers).status_code == 204
    assert catalog.resolve_token(str(created.info.id)).revoked_at is not None  # kept, revoked
    url = f"/api/tokens/{created.info.id}?purge=true"
    assert client.delete(url, headers=headers).status_code == 204
    assert all(t.id != created.info.id for t in catalog.list_tokens())
