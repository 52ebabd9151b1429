"""Labels, as anaconda.org has them: `/<channel>/label/<label>/...` against a live server.

Uploads take a label (quetz `?label=`, the prefix form's `label` field, PUT to the label's URL);
py-rattler solves and installs from a label URL; the channel root (label `main`) does not list
what only a label carries; moving a package to `broken` removes it from the root (listed in
`removed`); private channels' labels stay private; hostile labels are refused; deleting the
channel deletes its labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import LiveServer, admin_token, live_server, stockyard
from tests.server.rattler_client import solve_and_install
from tests.server.uploading import prefix_upload, put_upload, quetz_upload

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:  # type: ignore[misc]
    root = tmp_path_factory.mktemp("labels")
    with live_server(root / "data") as live:
        live.extra["token"] = admin_token(live.banner)
        live.extra["pkgs"] = root / "pkgs"
        yield live


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _client(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=60)


def _filenames(server: LiveServer, channel_path: str, subdir: str = "noarch") -> dict:
    response = httpx.get(f"{server.url}/{channel_path}/{subdir}/repodata.json")
    assert response.status_code == 200, response.text
    return response.json()


def _solve(url: str, spec: str, tmp: Path) -> list[str]:
    return sorted(
        f"{name}={version}" for name, version in solve_and_install(url, spec, tmp).items()
    )


def test_uploads_with_a_label_install_from_the_label_url_only(
    server: LiveServer, tmp_path: Path
) -> None:
    token, pkgs = server.extra["token"], server.extra["pkgs"]
    base = make_artifact(pkgs, "labbase", "1.0")
    rc_dep = make_artifact(pkgs, "labdep", "2.0rc1")
    rc_top = make_artifact(pkgs, "labtop", "2.0rc1", depends=["labdep", "labbase"])
    with _client(server) as client:
        assert quetz_upload(client, "main", base, token).status_code == 201
        response = client.post(
            f"/api/channels/main/upload/{rc_dep.name}",
            params={"sha256": sha256_of(rc_dep), "label": "rc"},
            content=rc_dep.read_bytes(),
            headers={"X-API-Key": token},
        )
        assert response.status_code == 201, response.text
        assert response.json()["url"].endswith(f"/main/label/rc/noarch/{rc_dep.name}")
        response = client.put(
            f"/main/label/rc/noarch/{rc_top.name}",
            content=rc_top.read_bytes(),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text
        # labbase is in main only: copy it to rc as well, through the API
        response = client.post(
            f"/api/channels/main/packages/noarch/{base.name}/labels",
            json={"add": ["rc"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["labels"] == ["main", "rc"]
    root = _filenames(server, "main")["packages.conda"]
    assert base.name in root and rc_top.name not in root and rc_dep.name not in root
    channels = server.data_dir / "channels"
    in_main = (channels / "main" / "noarch" / base.name).stat()
    in_rc = (channels / "main" / "label" / "rc" / "noarch" / base.name).stat()
    assert in_main.st_ino == in_rc.st_ino  # a label costs no space: the same bytes, linked
    assert _solve(f"{server.url}/main/label/rc", "labtop", tmp_path) == [
        "labbase=1.0",
        "labdep=2.0rc1",
        "labtop=2.0rc1",
    ]
    labels = httpx.get(f"{server.url}/api/channels/main/labels").json()
    assert [(item["label"], item["artifact_count"]) for item in labels] == [
        ("main", 1),
        ("rc", 3),
    ]
    detail = httpx.get(f"{server.url}/api/channels/main").json()
    assert detail["labels"] == ["main", "rc"]
    assert "main/label/rc" not in [
        c["name"] for c in httpx.get(f"{server.url}/api/channels").json()
    ]


def test_moving_to_broken_removes_from_main(server: LiveServer, tmp_path: Path) -> None:
    token, pkgs = server.extra["token"], server.extra["pkgs"]
    good = make_artifact(pkgs, "mover", "1.0")
    bad = make_artifact(pkgs, "mover", "1.1")
    with _client(server) as client:
        for path in (good, bad):
            assert prefix_upload(client, "main", path, token).status_code == 201
        response = client.post(
            f"/api/channels/main/packages/noarch/{bad.name}/labels",
            json={"add": ["broken"], "remove": ["main"]},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "channel": "main",
        "subdir": "noarch",
        "filename": bad.name,
        "labels": ["broken"],
        "added": ["broken"],
        "removed": ["main"],
    }
    root = _filenames(server, "main")
    assert bad.name not in root["packages.conda"] and bad.name in root["removed"]
    assert bad.name in _filenames(server, "main/label/broken")["packages.conda"]
    assert _solve(f"{server.url}/main", "mover", tmp_path) == ["mover=1.0"]
    artifact = httpx.get(f"{server.url}/main/label/broken/noarch/{bad.name}")
    assert artifact.status_code == 200 and artifact.content == bad.read_bytes()
    # taking the last label away is refused: remove the package instead
    with _client(server) as client:
        response = client.post(
            f"/api/channels/main/packages/noarch/{bad.name}/labels",
            json={"remove": ["broken"]},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 409
    assert "without a label" in response.json()["message"]


def test_prefix_form_field_label(server: LiveServer) -> None:
    token, pkgs = server.extra["token"], server.extra["pkgs"]
    path = make_artifact(pkgs, "formlabel", "0.1")
    with _client(server) as client:
        response = client.post(
            "/api/v1/upload/main",
            files={
                "file": (
                    path.name,
                    path.read_bytes(),
                    "application/octet-stream",
                    {"X-File-Name": path.name, "X-File-SHA256": sha256_of(path)},
                )
            },
            data={"label": "dev"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 201, response.text
    assert path.name in _filenames(server, "main/label/dev")["packages.conda"]
    assert path.name not in _filenames(server, "main")["packages.conda"]


@pytest.mark.parametrize("label", ["../etc", "a/b", ".hidden", "1abc", "x" * 200])
def test_hostile_labels_are_refused_and_nothing_is_stored(server: LiveServer, label: str) -> None:
    token, pkgs = server.extra["token"], server.extra["pkgs"]
    path = make_artifact(pkgs, "hostilelabel", "0.1")
    with _client(server) as client:
        response = quetz_upload(client, "main", path, token, force=True)
        assert response.status_code == 201  # the package itself is fine
        response = client.post(
            f"/api/channels/main/upload/{path.name}",
            params={"sha256": sha256_of(path), "label": label, "force": "true"},
            content=path.read_bytes(),
            headers={"X-API-Key": token},
        )
        assert response.status_code == 400, response.text
        assert "label" in response.json()["message"]
        relabel = client.post(
            f"/api/channels/main/packages/noarch/{path.name}/labels",
            json={"add": [label]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert relabel.status_code in (400, 422), relabel.text
    labels = [item["label"] for item in httpx.get(f"{server.url}/api/channels/main/labels").json()]
    assert label not in labels
    assert httpx.get(f"{server.url}/health/ready").status_code == 200


def test_labels_of_a_private_channel_are_private(server: LiveServer) -> None:
    data, token, pkgs = server.data_dir, server.extra["token"], server.extra["pkgs"]
    created = stockyard("channel", "create", "secretlab", "--private", "--data", str(data))
    assert created.returncode == 0, created.stderr
    path = make_artifact(pkgs, "hidden", "1.0")
    with _client(server) as client:
        response = put_upload(client, "secretlab", "noarch", path, _bearer(token))
        assert response.status_code == 201, response.text
        moved = client.post(
            f"/api/channels/secretlab/packages/noarch/{path.name}/labels",
            json={"add": ["rc"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert moved.status_code == 200, moved.text
    anonymous = httpx.get(f"{server.url}/secretlab/label/rc/noarch/repodata.json")
    assert anonymous.status_code == 404
    with_token = httpx.get(f"{server.url}/t/{token}/secretlab/label/rc/noarch/repodata.json")
    assert with_token.status_code == 200 and path.name in with_token.json()["packages.conda"]
    listed = stockyard(
        "package", "label", "secretlab", f"noarch/{path.name}", "--data", str(data), "--json"
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["labels"] == ["main", "rc"]


def test_cli_moves_and_deleting_the_channel_deletes_its_labels(server: LiveServer) -> None:
    data, token, pkgs = server.data_dir, server.extra["token"], server.extra["pkgs"]
    assert stockyard("channel", "create", "doomed", "--data", str(data)).returncode == 0
    path = make_artifact(pkgs, "doomedpkg", "1.0")
    with _client(server) as client:
        assert put_upload(client, "doomed", "noarch", path, _bearer(token)).status_code == 201
    moved = stockyard(
        "package",
        "label",
        "doomed",
        f"noarch/{path.name}",
        "--add",
        "broken",
        "--remove",
        "main",
        "--data",
        str(data),
    )
    assert moved.returncode == 0, moved.stderr
    assert "broken" in moved.stdout
    listed = stockyard("channel", "labels", "doomed", "--data", str(data), "--json")
    assert [row["label"] for row in json.loads(listed.stdout)] == ["main", "broken"]
    deleted = stockyard("channel", "delete", "doomed", "--yes", "--data", str(data))
    assert deleted.returncode == 0, deleted.stderr
    names = [
        line.split()[0]
        for line in stockyard("channel", "list", "--data", str(data)).stdout.splitlines()[1:]
        if line.strip()
    ]
    assert not any(name.startswith("doomed") for name in names)
    assert not (data / "channels" / "doomed").exists()
