"""Uploads through the quetz, prefix and artifactory protocols, and everything that must fail."""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path

import pytest

from stockyard.server.spool import LOCK_PREFIX
from tests.server.artifacts import make_artifact, sha256_of
from tests.server.conftest import UPLOAD_LIMIT, channel_dir
from tests.server.uploading import prefix_upload, put_upload, quetz_upload


def stored_files(settings, channel: str = "main") -> set[str]:
    """Every artifact or attestation in the channel, plus anything left in the upload spool
    (but the server's own spool owner lock)."""
    root = channel_dir(settings, channel)
    out = set()
    for path in root.rglob("*"):
        if path.name.startswith(LOCK_PREFIX):
            continue
        if path.is_file() and (
            path.name.endswith((".conda", ".tar.bz2", ".v0.sigs", ".attestation.json", ".part"))
            or "uploads" in path.parts
        ):
            out.add(str(path.relative_to(root)))
    return out


def artifact_count(catalog, channel: str = "main") -> int:
    return catalog.count_artifacts(catalog.require_channel(channel).id)


def repodata(client, subdir: str = "noarch", channel: str = "main", **kw) -> dict:
    response = client.get(f"/{channel}/{subdir}/repodata.json", **kw)
    assert response.status_code == 200
    return response.json()


def test_quetz_upload(client, write_token, tmp_path) -> None:
    artifact = make_artifact(tmp_path, "alpha", depends=["beta"])
    response = quetz_upload(client, "main", artifact, write_token)
    assert response.status_code == 201
    body = response.json()
    assert body["filename"] == artifact.name and body["subdir"] == "noarch"
    assert body["sha256"] == sha256_of(artifact)
    assert body["url"].endswith(f"/main/noarch/{artifact.name}")
    # Installable at once: in repodata, the shard index and downloadable.
    record = repodata(client)["packages.conda"][artifact.name]
    assert record["sha256"] == sha256_of(artifact) and record["depends"] == ["beta"]
    assert client.get(f"/main/noarch/{artifact.name}").content == artifact.read_bytes()


def test_prefix_upload_multipart(client, write_token, tmp_path) -> None:
    artifact = make_artifact(tmp_path, "native", build="h1_0", subdir="linux-64")
    response = prefix_upload(client, "main", artifact, write_token)
    assert response.status_code == 201, response.text
    assert artifact.name in repodata(client, "linux-64")["packages.conda"]
    # The same file again: 409 unless forced.
    again = prefix_upload(client, "main", artifact, write_token)
    assert again.status_code == 409
    assert again.json()["error"] == "Conflict"
    forced = prefix_upload(client, "main", artifact, write_token, force=True)
    assert forced.status_code == 201 and forced.json()["replaced"] is True


def test_prefix_upload_refuses_an_attestation_that_does_not_verify(
    client, settings, write_token, tmp_path
) -> None:
    """An attestation is verified before anything is stored (tests/attest has the real ones)."""
    artifact = make_artifact(tmp_path, "signed")
    bundle = json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.3"})
    response = prefix_upload(client, "main", artifact, write_token, attestation=bundle)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "AttestationRefused"
    assert stored_files(settings) == set()


def test_prefix_upload_with_raw_body_and_headers(client, write_token, tmp_path) -> None:
    """Older rattler-build versions send the artifact as the body with X-File-* headers."""
    artifact = make_artifact(tmp_path, "rawbody")
    response = client.post(
        "/api/v1/upload/main",
        content=artifact.read_bytes(),
        headers={
            "Authorization": f"Bearer {write_token}",
            "X-File-Name": artifact.name,
            "X-File-Sha256": sha256_of(artifact),
            "Content-Type": "application/octet-stream",
        },
    )
    assert response.status_code == 201, response.text
    assert artifact.name in repodata(client)["packages.conda"]


@pytest.mark.parametrize("auth", ["bearer", "basic"])
def test_put_upload(client, write_token, tmp_path, auth) -> None:
    artifact = make_artifact(tmp_path, f"put{auth}", subdir="linux-64", fmt="tar.bz2")
    if auth == "bearer":
        headers = {"Authorization": f"Bearer {write_token}"}
    else:
        basic = base64.b64encode(f"user:{write_token}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}"}
    response = put_upload(client, "main", "linux-64", artifact, headers)
    assert response.status_code == 201, response.text
    assert artifact.name in repodata(client, "linux-64")["packages"]


def test_put_upload_under_token_prefix(client, write_token, tmp_path) -> None:
    artifact = make_artifact(tmp_path, "tokenput")
    response = client.put(
        f"/t/{write_token}/main/noarch/{artifact.name}", content=artifact.read_bytes()
    )
    assert response.status_code == 201


def test_private_channel_upload_and_read(client, private_channel, private_write_token, tmp_path):
    artifact = make_artifact(tmp_path, "hidden")
    assert quetz_upload(client, "secret", artifact, private_write_token).status_code == 201
    assert client.get(f"/secret/noarch/{artifact.name}").status_code == 404
    ok = client.get(f"/t/{private_write_token}/secret/noarch/{artifact.name}")
    assert ok.status_code == 200 and ok.content == artifact.read_bytes()


# --- what must fail, and leave nothing behind -------------------------------------------------


def _garbage(tmp_path: Path, name: str = "garbage-1.0-0.conda") -> Path:
    path = tmp_path / name
    path.write_bytes(b"this is not a zip file at all" * 10)
    return path


def _renamed(tmp_path: Path, source: Path, name: str) -> Path:
    target = tmp_path / "renamed" / name
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(source.read_bytes())
    return target


def _truncated(tmp_path: Path) -> Path:
    good = make_artifact(tmp_path / "src", "cut")
    target = tmp_path / "cut" / good.name
    target.parent.mkdir()
    target.write_bytes(good.read_bytes()[:-200])
    return target


def _not_a_conda_zip(tmp_path: Path) -> Path:
    target = tmp_path / "zip" / "fakezip-1.0-0.conda"
    target.parent.mkdir()
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("metadata.json", '{"conda_pkg_format_version": 2}')
    return target


BAD_CASES = {
    "wrong sha256": lambda tmp: (make_artifact(tmp, "alpha"), {"sha256": "0" * 64}, 400),
    "malformed sha256": lambda tmp: (make_artifact(tmp, "alpha"), {"sha256": "xyz"}, 400),
    "garbage body": lambda tmp: (_garbage(tmp), {}, 400),
    "truncated artifact": lambda tmp: (_truncated(tmp), {}, 400),
    "zip without info": lambda tmp: (_not_a_conda_zip(tmp), {}, 400),
    "filename disagrees with index.json": lambda tmp: (
        _renamed(tmp, make_artifact(tmp, "alpha"), "beta-1.0-0.conda"),
        {},
        400,
    ),
    "not an artifact name": lambda tmp: (
        _renamed(tmp, make_artifact(tmp, "alpha"), "alpha.zip"),
        {},
        400,
    ),
}


@pytest.mark.parametrize(
    ("protocol", "case"),
    [
        (protocol, case)
        for case in sorted(BAD_CASES)
        for protocol in ("quetz", "prefix", "put")
        # The artifactory protocol sends no sha256.
        if not (protocol == "put" and "sha256" in case)
    ],
)
def test_bad_uploads_store_nothing(
    client, settings, catalog, write_token, tmp_path, protocol, case
) -> None:
    path, opts, status = BAD_CASES[case](tmp_path)
    sha = opts.get("sha256")
    if protocol == "quetz":
        response = quetz_upload(client, "main", path, write_token, sha256=sha)
    elif protocol == "prefix":
        response = prefix_upload(client, "main", path, write_token, sha256=sha)
    else:
        response = put_upload(
            client, "main", "noarch", path, {"Authorization": f"Bearer {write_token}"}
        )
    assert status <= response.status_code < 500, response.text
    body = response.json()
    assert set(body) >= {"error", "message", "hint"} and body["message"]
    assert stored_files(settings) == set()
    assert artifact_count(catalog) == 0


def test_subdir_mismatch_on_put(client, settings, catalog, write_token, tmp_path) -> None:
    artifact = make_artifact(tmp_path, "native", subdir="linux-64")
    response = put_upload(
        client, "main", "osx-arm64", artifact, {"Authorization": f"Bearer {write_token}"}
    )
    assert response.status_code == 400
    assert "subdir" in response.json()["message"]
    assert stored_files(settings) == set()


@pytest.mark.parametrize(
    "filename",
    [
        "../evil-1.0-0.conda",
        "..%2Fevil-1.0-0.conda",
        "%2Fetc%2Fevil-1.0-0.conda",
        "..",
        "a b.conda",
    ],
)
def test_hostile_filenames(client, settings, catalog, write_token, tmp_path, filename) -> None:
    artifact = make_artifact(tmp_path, "evil")
    response = client.post(
        f"/api/channels/main/upload/{filename}",
        content=artifact.read_bytes(),
        headers={"X-API-Key": write_token},
    )
    assert 400 <= response.status_code < 500
    assert response.json()["error"]
    prefix = prefix_upload(
        client, "main", artifact, write_token, filename=filename.replace("%2F", "/")
    )
    assert 400 <= prefix.status_code < 500
    assert stored_files(settings) == set()
    assert artifact_count(catalog) == 0
    assert not (settings.data_path / "channels" / "evil-1.0-0.conda").exists()


def test_oversized_body_is_413(client, settings, catalog, write_token, tmp_path) -> None:
    big = tmp_path / "big-1.0-0.conda"
    big.write_bytes(b"\0" * (UPLOAD_LIMIT + 1))
    declared = quetz_upload(client, "main", big, write_token)
    assert declared.status_code == 413
    assert declared.json()["error"] == "SizeLimitExceeded"

    def chunks():  # no Content-Length: the cap must hold while streaming
        data = big.read_bytes()
        for start in range(0, len(data), 65536):
            yield data[start : start + 65536]

    streamed = client.post(
        f"/api/channels/main/upload/{big.name}",
        content=chunks(),
        headers={"X-API-Key": write_token},
    )
    assert streamed.status_code == 413
    multipart = prefix_upload(client, "main", big, write_token)
    assert multipart.status_code == 413
    assert stored_files(settings) == set()
    assert artifact_count(catalog) == 0


def test_unknown_channel_is_404(client, admin_token, tmp_path) -> None:
    artifact = make_artifact(tmp_path, "alpha")
    for response in (
        quetz_upload(client, "nowhere", artifact, admin_token),
        prefix_upload(client, "nowhere", artifact, admin_token),
        put_upload(
            client, "nowhere", "noarch", artifact, {"Authorization": f"Bearer {admin_token}"}
        ),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == "NotFound"


def test_missing_or_wrong_auth(client, settings, tmp_path) -> None:
    artifact = make_artifact(tmp_path, "alpha")
    for token in (None, "sy-wrongwrongwrong", "not a token at all!"):
        for response in (
            quetz_upload(client, "main", artifact, token),
            prefix_upload(client, "main", artifact, token),
            put_upload(
                client,
                "main",
                "noarch",
                artifact,
                {"Authorization": f"Bearer {token}"} if token else {},
            ),
        ):
            assert response.status_code == 401, token
            assert response.json()["error"] == "Unauthorized"
    assert stored_files(settings) == set()


def test_multipart_without_file_part(client, write_token) -> None:
    response = client.post(
        "/api/v1/upload/main",
        files={"other": ("x", b"data")},
        headers={"Authorization": f"Bearer {write_token}"},
    )
    assert response.status_code == 400
    assert "file" in response.json()["message"]


def test_empty_body(client, write_token) -> None:
    response = client.post(
        "/api/channels/main/upload/alpha-1.0-0.conda", headers={"X-API-Key": write_token}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "InvalidUpload"


def test_attestation_must_be_json(client, settings, write_token, tmp_path) -> None:
    artifact = make_artifact(tmp_path, "signed")
    response = prefix_upload(client, "main", artifact, write_token, attestation="not json")
    assert response.status_code == 400
    assert stored_files(settings) == set()


def test_upload_metrics(client, write_token, tmp_path) -> None:
    good = make_artifact(tmp_path, "alpha")
    assert quetz_upload(client, "main", good, write_token).status_code == 201
    assert quetz_upload(client, "main", _garbage(tmp_path), write_token).status_code == 400
    text = client.get("/metrics").text
    assert 'stockyard_uploads_total{outcome="accepted",protocol="quetz"} 1.0' in text
    assert 'stockyard_uploads_total{outcome="rejected-invalid",protocol="quetz"} 1.0' in text
    assert "stockyard_upload_publish_seconds_count 1.0" in text
