"""As-of channels (time travel) against a live server with py-rattler as the client.

The issue's scenario: upload `a-1.0`, record T1, publish a patch set that changes `a-1.0`'s
depends, upload `a-2.0`, remove `x-1.0`; `/main/as-of/<T1>/` gives `a-1.0` with its old depends
and `x-1.0`, the live channel gives `a-2.0` and the patched `a-1.0`; py-rattler solves both.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.server.artifacts import make_artifact
from tests.server.live import admin_token, live_server, stockyard
from tests.server.rattler_client import solve_and_install
from tests.server.uploading import prefix_upload

pytestmark = pytest.mark.integration

PATCH_YAML = b'if:\n  name: a\n  version: "1.0"\nthen:\n  - add_depends: c\n'


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[misc]
    root = tmp_path_factory.mktemp("asof")
    pkgs = root / "pkgs"
    with live_server(root / "data") as live:
        token = admin_token(live.banner)
        paths = {
            "b": make_artifact(pkgs, "b", "1.0"),
            "c": make_artifact(pkgs, "c", "1.0"),
            "a1": make_artifact(pkgs, "a", "1.0", depends=["b"]),
            "a2": make_artifact(pkgs, "a", "2.0", depends=["b"]),
            "x": make_artifact(pkgs, "x", "1.0"),
        }
        with httpx.Client(base_url=live.url, timeout=60) as client:
            for key in ("b", "c", "a1", "x"):
                assert prefix_upload(client, "main", paths[key], token).status_code == 201
            time.sleep(0.01)
            t1 = _now_ms()
            time.sleep(0.01)
            put = client.put("/api/channels/main/patches", content=PATCH_YAML, headers=_auth(token))
            assert put.status_code == 201, put.text
            assert prefix_upload(client, "main", paths["a2"], token).status_code == 201
            gone = client.delete(
                f"/api/channels/main/packages/noarch/{paths['x'].name}", headers=_auth(token)
            )
            assert gone.status_code == 200, gone.text
        yield {"server": live, "t1": t1, "paths": paths, "token": token}


def test_as_of_gives_the_past_records_with_the_past_patches(world: dict, tmp_path: Path) -> None:
    server, t1, paths = world["server"], world["t1"], world["paths"]
    past = httpx.get(f"{server.url}/main/as-of/{t1}/noarch/repodata.json")
    assert past.status_code == 200, past.text
    document = past.json()
    records = document["packages.conda"]
    assert records[paths["a1"].name]["depends"] == ["b"]
    assert paths["a2"].name not in records
    assert paths["x"].name in records and paths["x"].name not in document["removed"]
    assert document["info"]["as_of"] == {"time_ms": t1, "patches": "none in force at that time"}
    live = httpx.get(f"{server.url}/main/noarch/repodata.json").json()
    assert live["packages.conda"][paths["a1"].name]["depends"] == ["b", "c"]
    assert paths["x"].name in live["removed"]
    now = httpx.get(f"{server.url}/main/as-of/{_now_ms()}/noarch/repodata.json").json()
    assert now["packages.conda"][paths["a1"].name]["depends"] == ["b", "c"]
    assert paths["x"].name in now["removed"]
    assert solve_and_install(f"{server.url}/main/as-of/{t1}", "a", tmp_path / "past") == {
        "a": "1.0",
        "b": "1.0",
    }
    assert solve_and_install(f"{server.url}/main", "a", tmp_path / "live") == {
        "a": "2.0",
        "b": "1.0",
    }


def test_rfc3339_times_zst_and_caching(world: dict) -> None:
    server, t1 = world["server"], world["t1"]
    text = datetime.fromtimestamp(t1 / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    by_text = httpx.get(f"{server.url}/main/as-of/{text}/noarch/repodata.json")
    by_ms = httpx.get(f"{server.url}/main/as-of/{t1}/noarch/repodata.json")
    assert by_text.status_code == 200
    assert by_text.json()["packages.conda"].keys() == by_ms.json()["packages.conda"].keys()
    zst = httpx.get(f"{server.url}/main/as-of/{t1}/noarch/repodata.json.zst")
    assert zst.status_code == 200
    again = httpx.get(
        f"{server.url}/main/as-of/{t1}/noarch/repodata.json",
        headers={"If-None-Match": by_ms.headers["etag"]},
    )
    assert again.status_code == 304
    assert (
        httpx.get(f"{server.url}/main/as-of/{t1}/noarch/repodata_shards.msgpack.zst").status_code
        == 404
    )


def test_removed_artifacts_answer_404_with_a_hint(world: dict) -> None:
    server, t1, paths = world["server"], world["t1"], world["paths"]
    kept = httpx.get(f"{server.url}/main/as-of/{t1}/noarch/{paths['a1'].name}")
    assert kept.status_code == 200 and kept.content == paths["a1"].read_bytes()
    gone = httpx.get(f"{server.url}/main/as-of/{t1}/noarch/{paths['x'].name}")
    assert gone.status_code == 404 and "snapshots" in gone.json()["hint"]


@pytest.mark.parametrize(
    ("stamp", "status", "words"),
    [
        ("tomorrow", 400, "not a time"),
        ("99999999999999", 400, "future"),
        ("1000", 404, "did not exist"),
        ("2026-13-01T00:00:00Z", 400, "not a time"),
    ],
)
def test_bad_times(world: dict, stamp: str, status: int, words: str) -> None:
    server = world["server"]
    response = httpx.get(f"{server.url}/main/as-of/{stamp}/noarch/repodata.json")
    assert response.status_code == status, response.text
    assert words in response.json()["message"]


def test_hostile_paths(world: dict) -> None:
    server, t1 = world["server"], world["t1"]
    for path in (
        f"as-of/{t1}/../../etc/passwd",
        f"as-of/{t1}/noarch",
        f"as-of/{t1}/NOARCH/repodata.json",
    ):
        response = httpx.get(f"{server.url}/main/{path}")
        assert response.status_code in (400, 404), (path, response.status_code)
    assert httpx.get(f"{server.url}/health/ready").status_code == 200


def test_private_channels_need_a_token(world: dict) -> None:
    server, token = world["server"], world["token"]
    created = stockyard("channel", "create", "hidden", "--private", "--data", str(server.data_dir))
    assert created.returncode == 0, created.stderr
    now = _now_ms()
    assert httpx.get(f"{server.url}/hidden/as-of/{now}/noarch/repodata.json").status_code == 404
    with_token = httpx.get(f"{server.url}/t/{token}/hidden/as-of/{now}/noarch/repodata.json")
    assert with_token.status_code == 200, with_token.text
