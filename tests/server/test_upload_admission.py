"""Uploads through the server: admission's warnings are in the response, hostile metadata (deeply
nested JSON, values clients cannot parse) is a 400 with a clear message and stores nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.index.test_admission import artifact, index_json
from tests.server.conftest import channel_dir
from tests.server.uploading import quetz_upload


def _artifacts(settings) -> list[str]:  # type: ignore[no-untyped-def]
    root = channel_dir(settings, "main")
    return sorted(p.name for p in root.rglob("*") if p.name.endswith((".conda", ".tar.bz2")))


def test_upload_response_lists_warnings(client, settings, write_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    legacy = artifact(
        tmp_path, index_json("oldnoarch", noarch=True, subdir="noarch"), subdir="noarch"
    )
    response = quetz_upload(client, "main", legacy, write_token)
    assert response.status_code == 201, response.text
    warnings = response.json()["warnings"]
    assert [w["pointer"] for w in warnings] == ["/noarch"]
    assert "boolean true" in warnings[0]["message"]
    plain = artifact(tmp_path, index_json("plain"))
    response = quetz_upload(client, "main", plain, write_token)
    assert (response.status_code, response.json()["warnings"]) == (201, [])


def test_deeply_nested_index_json_is_a_400(client, settings, write_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    nested = b"[" * 1000 + b"]" * 1000
    raw = json.dumps(index_json("deep", extra="X")).encode().replace(b'"X"', nested)
    path = artifact(tmp_path, raw, stem="deep-1.0-0")
    response = quetz_upload(client, "main", path, write_token)
    assert response.status_code == 400, response.text
    assert "nested more than 32 levels deep" in response.json()["message"]
    assert _artifacts(settings) == []


def test_deeply_nested_about_json_is_a_400(client, settings, write_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    about = b'{"extra": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    path = artifact(tmp_path, index_json("deep"), about=about)
    response = quetz_upload(client, "main", path, write_token)
    assert response.status_code == 400, response.text
    assert "info/about.json is nested" in response.json()["message"]


def test_unpublishable_metadata_is_a_400(client, settings, write_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = artifact(tmp_path, index_json("bad", legacy_bz2_md5="not-hex"))
    response = quetz_upload(client, "main", path, write_token)
    assert response.status_code == 400, response.text
    assert "/legacy_bz2_md5: expected 32 hexadecimal digits" in response.json()["message"]
    assert _artifacts(settings) == []
    good = artifact(tmp_path, index_json("good"))
    assert quetz_upload(client, "main", good, write_token).status_code == 201
    repodata = client.get("/main/linux-64/repodata.json").json()
    assert set(repodata["packages.conda"]) == {"good-1.0-0.conda"}
