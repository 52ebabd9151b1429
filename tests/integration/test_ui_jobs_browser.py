"""The jobs pages in a real browser (Debian's Chromium, headless, Playwright) against a real
`stockyard serve` running jobs in-process: a job queued through the API is listed, filtered by
state and opened; no console errors (the CSP holds)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.browser import ARTIFACTS_DIR, CHROMIUM, admin_token, browser_page
from tests.server.live import live_server

pytestmark = pytest.mark.integration


def test_jobs_pages_in_a_browser(tmp_path) -> None:  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    from playwright.sync_api import expect

    with live_server(tmp_path / "data") as live:
        token = admin_token(live.banner)
        headers = {"X-API-Key": token}
        queued = httpx.post(
            f"{live.url}/api/jobs",
            json={"kind": "reindex", "arguments": {"channel": "main"}},
            headers=headers,
        ).json()
        deadline = time.monotonic() + 60
        while (
            httpx.get(f"{live.url}/api/jobs/{queued['id']}", headers=headers).json()["state"]
            != "succeeded"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        with browser_page() as (page, problems):
            page.goto(f"{live.url}/t/{token}/ui/")
            page.get_by_role("link", name="Jobs", exact=True).click()
            assert page.url == f"{live.url}/t/{token}/ui/-/jobs"
            expect(page.get_by_role("heading", level=1)).to_have_text("Jobs")
            rows = page.locator("table.jobs tbody tr")
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("reindex")
            expect(rows.first).to_contain_text("succeeded")
            page.get_by_role("link", name="failed").click()
            expect(page.locator(".result-count")).to_have_text("0 jobs failed")
            page.get_by_role("link", name="all").click()
            page.get_by_role("link", name=f"#{queued['id']}").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("reindex")
            expect(page.locator(".job-result")).to_contain_text('"channel": "main"')
            page.screenshot(path=str(ARTIFACTS_DIR / "ui-job-page.png"), full_page=True)

            assert problems == []
            page.goto(f"{live.url}/ui/-/jobs")  # without the token: a 403 page
            expect(page.locator("main")).to_contain_text("server-wide admins")
