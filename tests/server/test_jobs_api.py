"""Jobs in the JSON API and the web UI: admin only, queue and follow a job, validation, filters
and pages, retry, a broker that does not answer, and the pages' escaping."""

from __future__ import annotations

import time
import warnings

import pytest

from stockyard.catalog import Catalog, NewJob
from stockyard.config import Settings
from stockyard.server.app import create_app
from stockyard.server.channels import layout_for
from tests.server.live import free_port
from tests.server.test_ui import _Page

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _admin(token: str) -> dict[str, str]:
    return {"X-API-Key": token}


def _finished(client, token: str, job_id: int) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while True:
        job = client.get(f"/api/jobs/{job_id}", headers=_admin(token)).json()
        if job["state"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_jobs_need_a_server_wide_admin_token(client, admin_token, write_token) -> None:  # type: ignore[no-untyped-def]
    for method, path in (("GET", "/api/jobs"), ("GET", "/api/jobs/1"), ("POST", "/api/jobs")):
        body = {"kind": "gc"} if method == "POST" else None
        assert client.request(method, path, json=body).status_code == 401
        response = client.request(method, path, json=body, headers=_admin(write_token))
        assert response.status_code == 403
        assert response.json()["error"] == "Forbidden"
    listed = client.get("/api/jobs", headers=_admin(admin_token))
    assert listed.status_code == 200
    assert listed.json() == {"total": 0, "limit": 50, "offset": 0, "jobs": []}


def test_queue_a_reindex_and_follow_it(client, admin_token) -> None:  # type: ignore[no-untyped-def]
    body = {"kind": "reindex", "arguments": {"channel": "main"}}
    response = client.post("/api/jobs", json=body, headers=_admin(admin_token))
    assert response.status_code == 202, response.text
    queued = response.json()
    assert response.headers["location"] == f"/api/jobs/{queued['id']}"
    assert queued["kind"] == "reindex" and queued["arguments"] == {"channel": "main"}
    assert queued["runner"] == "inprocess" and queued["joined"] is False
    done = _finished(client, admin_token, queued["id"])
    assert done["state"] == "succeeded" and done["attempts"] == 1
    assert done["result"]["channel"] == "main" and done["finished_at"] >= done["created_at"]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"kind": "reindex", "arguments": {"channel": "nope"}}, 404, "NotFound"),
        ({"kind": "reindex", "arguments": {}}, 422, "InvalidRequest"),
        ({"kind": "reindex", "arguments": {"channel": "main", "x": 1}}, 422, "InvalidRequest"),
        ({"kind": "gc", "arguments": {"keep_jobs_days": "a week"}}, 422, "InvalidRequest"),
        ({"kind": "gc", "arguments": {"keep_jobs_days": 0}}, 422, "InvalidRequest"),
        ({"kind": "mirror_sync", "arguments": {"channel": "main"}}, 404, "NotFound"),
        ({"kind": "reindex"}, 422, "InvalidRequest"),  # schemathesis found it taken as valid
        ({"kind": "snapshots", "arguments": {"channel": "main"}}, 422, "InvalidRequest"),
        ({"kind": "explode"}, 422, "InvalidRequest"),
        ({"kind": "gc", "max_attempts": 0}, 422, "InvalidRequest"),
        ({"kind": "gc", "colour": "red"}, 422, "InvalidRequest"),
    ],
)
def test_bad_jobs_are_refused(client, admin_token, body, status, error) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/jobs", json=body, headers=_admin(admin_token))
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert client.get("/api/jobs", headers=_admin(admin_token)).json()["total"] == 0


def test_filters_pages_and_unknown_jobs(client, admin_token, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    # Rows made here as a broker's (an in-process row with no live owner would be run).
    for index in range(3):
        catalog.add_job(NewJob("scan", f'{{"channel":"c{index}"}}', 3, "celery"))
    failed, _ = catalog.add_job(NewJob("gc", "{}", 3, "celery"))
    catalog.finish_attempt(failed.id, "failed", error="boom")
    headers = _admin(admin_token)
    page = client.get("/api/jobs", params={"limit": 2, "offset": 1}, headers=headers).json()
    assert page["total"] == 4 and [job["kind"] for job in page["jobs"]] == ["scan", "scan"]
    only = client.get("/api/jobs", params={"state": "failed"}, headers=headers).json()
    assert [job["id"] for job in only["jobs"]] == [failed.id] and only["jobs"][0]["error"] == "boom"
    assert client.get("/api/jobs", params={"kind": "scan"}, headers=headers).json()["total"] == 3
    assert client.get("/api/jobs", params={"state": "odd"}, headers=headers).status_code == 422
    missing = client.get("/api/jobs/999999", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"] == "NotFound"


def test_a_failed_job_is_retried_on_request(settings: Settings, boot, admin_token) -> None:  # type: ignore[no-untyped-def]
    import msgspec

    quick = msgspec.structs.replace(settings, lock_timeout=0.2)
    headers = _admin(admin_token)
    body = {"kind": "reindex", "arguments": {"channel": "main"}, "max_attempts": 1}
    with TestClient(create_app(quick)) as client:
        with layout_for(settings).workspace("main").lock(30):  # the job cannot get the lock
            queued = client.post("/api/jobs", json=body, headers=headers).json()
            failed = _finished(client, admin_token, queued["id"])
        assert failed["state"] == "failed" and failed["error"].startswith("LockTimeout")
        again = client.post(f"/api/jobs/{queued['id']}/retry", headers=headers)
        assert again.status_code == 202 and again.json()["attempts"] == 0
        assert _finished(client, admin_token, queued["id"])["state"] == "succeeded"


def test_openapi_documents_the_jobs_routes(client) -> None:  # type: ignore[no-untyped-def]
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/jobs"])
    assert "get" in paths["/api/jobs/{job_id}"] and "post" in paths["/api/jobs/{job_id}/retry"]
    post = paths["/api/jobs"]["post"]["responses"]
    assert {"202", "401", "403", "404", "409", "422", "503"} <= set(post)
    body = paths["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    kinds = body["discriminator"]["mapping"]  # each kind with the arguments it takes
    assert set(kinds) == {"reindex", "mirror_sync", "snapshots", "scan", "gc"}


def test_a_broker_that_does_not_answer_is_a_clear_503(settings: Settings, admin_token) -> None:  # type: ignore[no-untyped-def]
    import msgspec

    offline = msgspec.structs.replace(
        settings, broker_url=f"redis://127.0.0.1:{free_port()}/0", lock_timeout=1.0
    )
    with TestClient(create_app(offline)) as client:
        response = client.post("/api/jobs", json={"kind": "gc"}, headers=_admin(admin_token))
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["error"] == "BrokerUnavailable" and "does not answer" in body["message"]
        assert "Redis" in body["hint"]
        (job,) = client.get("/api/jobs", headers=_admin(admin_token)).json()["jobs"]
    # Never left queued with no message to deliver it.
    assert job["state"] == "failed" and job["error"].startswith("BrokerUnavailable")


# --- the web UI ---------------------------------------------------------------------------------


def test_jobs_pages_are_for_admins(client, admin_token, write_token) -> None:  # type: ignore[no-untyped-def]
    anonymous = client.get("/ui/-/jobs")
    assert anonymous.status_code == 403 and "server-wide admins" in anonymous.text
    assert client.get(f"/t/{write_token}/ui/-/jobs").status_code == 403
    assert client.get("/ui/-/jobs/1").status_code == 403
    assert f"/t/{admin_token}/ui/-/jobs" in _Page(client.get(f"/t/{admin_token}/ui/").text).hrefs
    assert "/ui/-/jobs" not in " ".join(_Page(client.get("/ui/").text).hrefs)


def test_jobs_list_and_detail(client, admin_token, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    ok, _ = catalog.add_job(NewJob("reindex", '{"channel":"main"}', 3, "celery"))
    catalog.start_job(ok.id, "host:1")
    catalog.finish_attempt(ok.id, "succeeded", result='{"artifacts":7,"channel":"main"}')
    bad, _ = catalog.add_job(NewJob("gc", "{}", 3, "celery"))
    catalog.finish_attempt(bad.id, "failed", error="Boom: <script>alert(1)</script>")
    base = f"/t/{admin_token}/ui/-/jobs"

    listing = client.get(base)
    assert listing.status_code == 200
    page = _Page(listing.text)
    assert f"{base}/{ok.id}" in page.hrefs and f"{base}/{bad.id}" in page.hrefs
    assert "channel=main" in page.visible and "2 jobs" in page.visible
    assert "<script>alert" not in listing.text and "&lt;script&gt;" in listing.text
    failed_only = _Page(client.get(base, params={"state": "failed"}).text)
    assert f"{base}/{bad.id}" in failed_only.hrefs and f"{base}/{ok.id}" not in failed_only.hrefs
    by_kind = _Page(client.get(base, params={"kind": "reindex", "state": "odd"}).text)
    assert f"{base}/{ok.id}" in by_kind.hrefs and f"{base}/{bad.id}" not in by_kind.hrefs

    detail = _Page(client.get(f"{base}/{ok.id}").text)
    assert "succeeded" in detail.visible and '"artifacts": 7' in detail.visible
    assert "host:1" in detail.visible
    error_page = client.get(f"{base}/{bad.id}")
    assert "Boom:" in error_page.text and "<script>alert" not in error_page.text
    assert client.get(f"{base}/999999").status_code == 404
    assert client.get(f"{base}/abc").status_code == 404
