"""Upload helpers speaking each protocol exactly as rattler-build does."""

from __future__ import annotations

from pathlib import Path

from tests.server.artifacts import sha256_of


def quetz_upload(
    client,
    channel: str,
    path: Path,
    token: str | None,
    *,
    force: bool = False,
    sha256: str | None = None,
):  # type: ignore[no-untyped-def]
    headers = {"X-API-Key": token} if token else {}
    params = {"force": "true" if force else "false", "sha256": sha256 or sha256_of(path)}
    return client.post(
        f"/api/channels/{channel}/upload/{path.name}",
        params=params,
        content=Path(path).read_bytes(),
        headers=headers,
    )


def prefix_upload(  # type: ignore[no-untyped-def]
    client,
    channel: str,
    path: Path,
    token: str | None,
    *,
    force: bool = False,
    sha256: str | None = None,
    filename: str | None = None,
    attestation: str | None = None,
):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    name = filename or path.name
    files = {
        "file": (
            name,
            Path(path).read_bytes(),
            "application/octet-stream",
            {"X-File-Name": name, "X-File-SHA256": sha256 or sha256_of(path)},
        )
    }
    data = {"attestation": attestation} if attestation is not None else None
    return client.post(
        f"/api/v1/upload/{channel}",
        params={"force": "true"} if force else None,
        files=files,
        data=data,
        headers=headers,
    )


def put_upload(
    client,
    channel: str,
    subdir: str,
    path: Path,
    headers: dict[str, str],
    *,
    filename: str | None = None,
):  # type: ignore[no-untyped-def]
    return client.put(
        f"/{channel}/{subdir}/{filename or path.name}",
        content=Path(path).read_bytes(),
        headers=headers,
    )
